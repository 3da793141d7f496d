"""Ingest benchmark: events through validation, scoring, stages and the store, next to a same-run baseline.

The baseline stores the same events with `executemany` into an indexed table of the same database
kind (read and parsed from the same file, committed in batches of the same size): what the machine
does when nothing is scored. Both are measured in CPU seconds of the process doing the work (a fresh
one per measurement, so peak RSS is its own), because the machine is shared and wall time says more
about the neighbours than about Nurture. On PostgreSQL the server's CPU is in neither figure.

Each size runs twice on SQLite: events in time order, and the same events with 5 % of them arriving
late (moved later in the file) and 5 % sent twice, so replays of leads' histories are measured.
PostgreSQL runs when it is reachable. Also measured: rescoring after a rule change, and compiled
rules against plain lambdas. Prints every figure with its baseline and the ratio, and writes
bench/results/ingest.json with the core count and load average.

    python bench/ingest.py [--sizes 10000,100000] [--full] [--pg-sizes 10000,100000] [--batch N]

``--full`` adds 1,000,000 events on SQLite (about ten minutes on a busy two-core machine, so
`make bench` leaves it out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _data import write_events, write_leads  # noqa: E402
from _memory import peak_rss_mb  # noqa: E402

from engine.config import Config  # noqa: E402
from engine.core.clock import VirtualClock  # noqa: E402
from engine.ingest.processor import Processor  # noqa: E402
from engine.ingest.rows import open_input, read_rows  # noqa: E402
from engine.service import Nurture  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
END = dt.datetime(2026, 4, 6, tzinfo=dt.UTC)  # just after the generated history
#: events per lead in the generated input (100,000 leads for 1,000,000 events)
EVENTS_PER_LEAD = 10
LATE = DUPLICATED = 0.05


# ----- one measurement, in its own process ---------------------------------------------------------

def _nurture(url: str, campaign: Path) -> Nurture:
    return Nurture(Config(database_url=url, campaign_dir=campaign / "journeys", template_dir=campaign / "templates"),
                   VirtualClock(END))


def _measure_nurture(job: dict[str, Any]) -> dict[str, Any]:
    nurture = _nurture(job["url"], Path(job["campaign"]))
    base = nurture.processor()
    processor = Processor(base.store, base.rules, base.version_id, base.clock, job["batch"])
    stream, kind = open_input(job["leads"])
    with stream:
        processor.import_leads(read_rows(stream, kind), job["leads"], from_text=True)
    stream, kind = open_input(job["events"])
    cpu, wall = time.process_time(), time.perf_counter()
    with stream:
        report = processor.ingest_events(read_rows(stream, kind), job["events"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {"rows": report.rows, "accepted": report.accepted, "duplicates": report.duplicates,
              "quarantined": len(report.rejected), "stage_changes": report.stage_changes,
              "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
              "per_cpu_second": round(report.rows / cpu), "us_per_event": round(cpu / report.rows * 1e6, 1),
              "cache": {"hits": processor.cache.hits, "misses": processor.cache.misses},
              "peak_rss_mb": _peak_rss_mb()}
    if job.get("rescore"):
        result["rescore"] = _rescore(nurture, Path(job["campaign"]))
    nurture.store.dispose()
    return result


def _rescore(nurture: Nurture, campaign: Path) -> dict[str, Any]:
    scoring = campaign / "journeys" / "scoring.nurture"
    text = scoring.read_text()
    changed = text.replace("+15 per page.viewed", "+12 per page.viewed", 1)  # the pricing-page rule
    if changed == text:
        raise SystemExit("bench: the pricing-page rule in journeys/scoring.nurture changed; update _rescore")
    scoring.write_text(changed)
    with nurture.store.engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    cpu = time.process_time()
    applied = nurture.apply()
    cpu = time.process_time() - cpu
    leads = applied.rescored.leads_updated if applied.rescored else 0
    return {"leads": leads, "events": events, "cpu_seconds": round(cpu, 2),
            "events_per_cpu_second": round(events / cpu)}


def _peak_rss_mb() -> int:
    """This process's own peak RSS (`ru_maxrss` only where /proc does not say: it carries a parent's peak)."""
    own = peak_rss_mb()
    return round(own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _measure_baseline(job: dict[str, Any]) -> dict[str, Any]:
    """The same events stored with executemany into an indexed table, read from the same file."""
    engine = sa.create_engine(job["url"])
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    received = END.isoformat(" ")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE bench_events (id INTEGER PRIMARY KEY, key VARCHAR(200) NOT NULL UNIQUE, "
                             "lead VARCHAR(320) NOT NULL, type VARCHAR(200) NOT NULL, at VARCHAR(40) NOT NULL, "
                             "props TEXT NOT NULL, received_at VARCHAR(40) NOT NULL)" if sqlite else
                             "CREATE TABLE bench_events (id SERIAL PRIMARY KEY, key VARCHAR(200) NOT NULL UNIQUE, "
                             "lead VARCHAR(320) NOT NULL, type VARCHAR(200) NOT NULL, at TIMESTAMP NOT NULL, "
                             "props JSON NOT NULL, received_at TIMESTAMP NOT NULL)")
        conn.exec_driver_sql("CREATE INDEX ix_bench_events_lead_at ON bench_events (lead, at)")
    insert = (f"INSERT INTO bench_events (key, lead, type, at, props, received_at) VALUES "
              f"({', '.join([mark] * 6)}) ON CONFLICT (key) DO NOTHING")
    rows = 0
    cpu, wall = time.process_time(), time.perf_counter()
    with engine.connect() as conn, open(job["events"], "rb") as f:
        batch: list[tuple] = []
        for line in f:
            event = orjson.loads(line)
            batch.append((event["id"], event["lead"], event["type"], event["at"].replace("T", " ").rstrip("Z"),
                          orjson.dumps(event.get("props", {})).decode(), received))
            if len(batch) == job["batch"]:
                rows += _store(conn, insert, batch)
        rows += _store(conn, insert, batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    engine.dispose()
    return {"rows": rows, "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
            "per_cpu_second": round(rows / cpu), "us_per_event": round(cpu / rows * 1e6, 1),
            "peak_rss_mb": _peak_rss_mb()}


def _store(conn: sa.Connection, insert: str, batch: list[tuple]) -> int:
    if not batch:
        return 0
    with conn.begin():
        conn.exec_driver_sql(insert, batch)
    count = len(batch)
    batch.clear()
    return count


def _child(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter: its CPU time and peak RSS are its own."""
    done = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(job)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: the {kind} measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# ----- input ---------------------------------------------------------------------------------------

def _replayed(source: Path, target: Path, seed: int = 5) -> None:
    """The same events with 5 % of them arriving late and 5 % sent twice (the copy later)."""
    rnd = random.Random(seed)
    lines = source.read_bytes().splitlines(keepends=True)
    out: list[list[bytes]] = [[line] for line in lines]
    n = len(lines)
    for i in rnd.sample(range(n), int(n * LATE)):  # moved later in the file: out of order
        line = out[i].pop(0) if out[i] else None
        if line is not None:
            out[min(n - 1, i + rnd.randint(1, max(1, n // 10)))].append(line)
    for i in rnd.sample(range(n), int(n * DUPLICATED)):
        out[min(n - 1, i + rnd.randint(1, max(1, n // 10)))].append(lines[i])
    target.write_bytes(b"".join(line for slot in out for line in slot))


class Inputs:
    """Generated leads and events for each size, written once."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.campaign = work / "campaign"
        shutil.copytree(ROOT / "journeys", self.campaign / "journeys")
        shutil.copytree(ROOT / "templates", self.campaign / "templates")

    def files(self, events: int, replayed: bool = False) -> tuple[Path, Path]:
        leads_path, events_path = self.work / f"leads-{events}.csv", self.work / f"events-{events}.jsonl"
        if not events_path.exists():
            write_leads(leads_path, max(1, events // EVENTS_PER_LEAD))
            write_events(events_path, max(1, events // EVENTS_PER_LEAD), events)
        if not replayed:
            return leads_path, events_path
        late = self.work / f"events-{events}-late.jsonl"
        if not late.exists():
            _replayed(events_path, late)
        return leads_path, late

    def campaign_copy(self, name: str) -> Path:
        """A campaign directory of its own (the rescore edits its rules)."""
        target = self.work / f"campaign-{name}-{uuid.uuid4().hex[:6]}"
        shutil.copytree(self.campaign, target)
        return target


# ----- the runs ------------------------------------------------------------------------------------

def _pair(inputs: Inputs, url_for: Any, events: int, batch: int, replayed: bool = False,
          rescore: bool = False) -> dict[str, Any]:
    leads_path, events_path = inputs.files(events, replayed)
    name = f"{events}{'-late' if replayed else ''}"
    job = {"leads": str(leads_path), "events": str(events_path), "batch": batch}
    with url_for(f"n{name}") as url:
        nurture = _child("nurture", {**job, "url": url, "campaign": str(inputs.campaign_copy(name)),
                                     "rescore": rescore})
    with url_for(f"b{name}") as url:
        baseline = _child("baseline", {**job, "url": url})
    return {"events": events, "input": "5 % late, 5 % twice" if replayed else "in time order", "nurture": nurture,
            "baseline": baseline, "ratio": round(nurture["per_cpu_second"] / baseline["per_cpu_second"], 3)}


def _sqlite_urls(work: Path) -> Any:
    import contextlib

    @contextlib.contextmanager
    def url_for(name: str) -> Any:
        path = work / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return url_for


def _postgres_urls() -> Any:
    import contextlib

    admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    with admin.connect():
        pass

    @contextlib.contextmanager
    def url_for(name: str) -> Any:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return url_for


def _show(kind: str, run: dict[str, Any]) -> None:
    n, b = run["nurture"], run["baseline"]
    print(f"{kind} {run['events']:>9,} events, {run['input']}: {n['per_cpu_second']:>6,} events per CPU-second "
          f"({n['us_per_event']} µs each, {n['accepted']:,} accepted, {n['duplicates']:,} duplicates, "
          f"peak RSS {n['peak_rss_mb']} MB); baseline executemany {b['per_cpu_second']:,}/CPU-s; "
          f"ratio {run['ratio']}", flush=True)


def _rules_per_second(leads_csv: Path) -> dict[str, Any]:
    """Compiled rule evaluations per second against a plain lambda per rule (the floor)."""
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Path(tmp)
        shutil.copytree(ROOT / "journeys", campaign / "journeys")
        shutil.copytree(ROOT / "templates", campaign / "templates")
        nurture = _nurture(f"sqlite:///{campaign / 'rules.db'}", campaign)
        _, rules = nurture.rules()
        nurture.store.dispose()
    attrs = []
    with leads_csv.open() as f:
        header = f.readline().strip().split(",")
        for line in f:
            row: dict[str, Any] = dict(zip(header, line.strip().split(","), strict=True))
            row["company_size"] = int(row["company_size"])
            attrs.append(row)
    tests = [r.test for model in rules.scores.values() for r in model.attribute_rules]
    cpu = time.process_time()
    for a in attrs:
        for test in tests:
            test(a)
    seconds = time.process_time() - cpu
    cpu = time.process_time()
    for a in attrs:
        for _ in tests:
            (lambda x: x.get("company_size", 0) >= 200)(a)
    floor = time.process_time() - cpu
    evaluated = len(attrs) * len(tests)
    return {"rules": len(tests), "evaluated": evaluated, "per_cpu_second": round(evaluated / seconds),
            "plain_lambda_per_cpu_second": round(evaluated / floor), "ratio": round(floor / seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="event counts on SQLite, comma-separated")
    parser.add_argument("--full", action="store_true", help="add 1,000,000 events on SQLite")
    parser.add_argument("--pg-sizes", default="10000,100000", help="event counts on PostgreSQL ('' for none)")
    parser.add_argument("--batch", type=int, default=Config().batch_size, help="events per batch (as configured)")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/ingest.json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, job = args.child[0], json.loads(args.child[1])
        print(json.dumps(_measure_nurture(job) if kind == "nurture" else _measure_baseline(job)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.full else [])
    pg_sizes = [int(s) for s in args.pg_sizes.split(",") if s]
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": os.getloadavg()[0],
                    "note": "shared cores: figures are CPU seconds of the measuring process, and ratios to a "
                            "baseline measured in the same run"},
        "batch_size": args.batch, "events_per_lead": EVENTS_PER_LEAD, "sqlite": [], "postgres": []}
    work = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    try:
        inputs = Inputs(work)
        sqlite = _sqlite_urls(work)
        for events in sizes:
            run = _pair(inputs, sqlite, events, args.batch, rescore=events == sizes[-1])
            _show("SQLite    ", run)
            results["sqlite"].append(run)
            if "rescore" in run["nurture"]:
                r = run["nurture"]["rescore"]
                ratio = round(r["events_per_cpu_second"] / run["baseline"]["per_cpu_second"], 3)
                r["ratio_to_baseline"] = ratio
                print(f"rescore after a rule change: {r['events_per_cpu_second']:,} events per CPU-second "
                      f"({r['leads']:,} leads); ratio to the executemany baseline {ratio}")
            run = _pair(inputs, sqlite, events, args.batch, replayed=True)
            _show("SQLite    ", run)
            results["sqlite"].append(run)
        try:
            postgres = _postgres_urls() if pg_sizes else None
        except sa.exc.OperationalError as err:
            print(f"PostgreSQL not reachable ({err.orig}); skipped", file=sys.stderr)
            postgres = None
        for events in pg_sizes if postgres else []:
            run = _pair(inputs, postgres, events, args.batch)
            _show("PostgreSQL", run)
            results["postgres"].append(run)
        results["rules"] = _rules_per_second(inputs.files(sizes[-1])[0])
        print(f"compiled rules: {results['rules']['per_cpu_second']:,} evaluations per CPU-second; a plain lambda: "
              f"{results['rules']['plain_lambda_per_cpu_second']:,}; ratio {results['rules']['ratio']}")
        results["machine"]["load_average_after"] = os.getloadavg()[0]
        if not args.no_write:
            out = ROOT / "bench" / "results" / "ingest.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2) + "\n")
            print(f"written to {out.relative_to(ROOT)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
