"""Ingest benchmark: leads and events through validation, scoring, stages and the store.

Generates 100,000 leads and 1,000,000 events (a realistic, skewed mix over 90 days), then measures
end-to-end events/s on SQLite and on PostgreSQL, rescoring throughput after a rule change, compiled
rule evaluations per second, and peak RSS. Prints the figures and writes bench/results/ingest.json.

    python bench/ingest.py [--leads N] [--events N] [--pg-events N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _data import write_events, write_leads  # noqa: E402

from engine.config import Config  # noqa: E402
from engine.core.clock import VirtualClock  # noqa: E402
from engine.ingest.rows import open_input, read_rows  # noqa: E402
from engine.service import Nurture  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
END = dt.datetime(2026, 4, 6, tzinfo=dt.UTC)  # just after the generated history


def _nurture(url: str, campaign: Path) -> Nurture:
    return Nurture(Config(database_url=url, campaign_dir=campaign / "journeys", template_dir=campaign / "templates"),
                   VirtualClock(END))  # the default batch size, as `nurture events ingest` runs


def _load(nurture: Nurture, leads: Path, events: Path, limit: int | None = None) -> dict:
    processor = nurture.processor()
    stream, kind = open_input(str(leads))
    started = time.perf_counter()
    with stream:
        lead_report = processor.import_leads(read_rows(stream, kind), str(leads), from_text=True)
    lead_seconds = time.perf_counter() - started
    stream, kind = open_input(str(events))
    rows = read_rows(stream, kind)
    if limit is not None:
        rows = (row for row, _ in zip(rows, range(limit), strict=False))
    started = time.perf_counter()
    with stream:
        report = processor.ingest_events(rows, str(events))
    seconds = time.perf_counter() - started
    return {"leads": lead_report.accepted, "lead_seconds": round(lead_seconds, 2), "events": report.accepted,
            "quarantined": len(report.rejected), "stage_changes": report.stage_changes,
            "seconds": round(seconds, 2), "events_per_second": round(report.accepted / seconds)}


def _rescore(nurture: Nurture, campaign: Path) -> dict:
    scoring = campaign / "journeys" / "scoring.nurture"
    text = scoring.read_text()
    changed = text.replace("+15 per page.viewed", "+12 per page.viewed", 1)  # the pricing-page rule
    if changed == text:
        raise SystemExit("bench: the pricing-page rule in journeys/scoring.nurture changed; update _rescore")
    scoring.write_text(changed)
    with nurture.store.engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    started = time.perf_counter()
    applied = nurture.apply()
    seconds = time.perf_counter() - started
    leads = applied.rescored.leads_updated if applied.rescored else 0
    return {"leads": leads, "events": events, "seconds": round(seconds, 2),
            "leads_per_second": round(leads / seconds), "events_per_second": round(events / seconds)}


def _rules_per_second(nurture: Nurture, leads_csv: Path) -> dict:
    _, rules = nurture.rules()
    attrs = []
    with leads_csv.open() as f:
        header = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(header, line.strip().split(","), strict=True))
            row["company_size"] = int(row["company_size"])
            attrs.append(row)
    tests = [r.test for model in rules.scores.values() for r in model.attribute_rules]
    filters = [r.filter for model in rules.scores.values() for r in model.event_rules if r.filter is not None]
    props = [{"url": "/pricing"}, {"url": "/blog/roi"}, {"asset": "roi-guide"}, {"form": "contact-sales"}]
    started = time.perf_counter()
    evaluated = 0
    for a in attrs:
        for test in tests:
            test(a)
        evaluated += len(tests)
    for _ in range(len(attrs) // 4):
        for p in props:
            for flt in filters:
                flt(p)
        evaluated += len(props) * len(filters)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for a in attrs:  # the floor: a plain lambda per rule, for comparison
        for _ in tests:
            (lambda x: x.get("company_size", 0) >= 200)(a)
    lambda_seconds = time.perf_counter() - started
    return {"rules": len(tests) + len(filters), "evaluated": evaluated,
            "per_second": round(evaluated / seconds),
            "plain_lambda_per_second": round(len(attrs) * len(tests) / lambda_seconds)}


def _postgres(campaign: Path, leads: Path, events: Path, limit: int) -> dict | None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as err:
        print(f"PostgreSQL not reachable ({err.orig}); skipped", file=sys.stderr)
        return None
    try:
        return _load(_nurture(f"{PG_URL}?options=-csearch_path%3D{schema}", campaign), leads, events, limit)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--pg-events", type=int, default=200_000, help="events ingested on PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    try:
        campaign = work / "campaign"
        shutil.copytree(ROOT / "journeys", campaign / "journeys")
        shutil.copytree(ROOT / "templates", campaign / "templates")
        leads, events = work / "leads.csv", work / "events.jsonl"
        started = time.perf_counter()
        write_leads(leads, args.leads)
        write_events(events, args.leads, args.events)
        print(f"generated {args.leads:,} leads and {args.events:,} events in {time.perf_counter() - started:.1f} s")
        sqlite = _nurture(f"sqlite:///{work / 'bench.db'}", campaign)
        results = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "leads": args.leads,
                   "events": args.events}
        results["sqlite"] = _load(sqlite, leads, events)
        results["sqlite"]["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f"SQLite: {results['sqlite']['events_per_second']:,} events/s end to end "
              f"({results['sqlite']['events']:,} events in {results['sqlite']['seconds']} s), "
              f"peak RSS {results['sqlite']['peak_rss_mb']} MB")
        results["rules"] = _rules_per_second(sqlite, leads)
        print(f"compiled rules: {results['rules']['per_second']:,} evaluations/s "
              f"(a plain lambda: {results['rules']['plain_lambda_per_second']:,}/s)")
        results["rescore"] = _rescore(sqlite, campaign)
        print(f"rescore after a rule change: {results['rescore']['leads_per_second']:,} leads/s, "
              f"{results['rescore']['events_per_second']:,} events/s")
        pg = _postgres(campaign, leads, events, args.pg_events)
        if pg is not None:
            results["postgres"] = pg
            print(f"PostgreSQL: {pg['events_per_second']:,} events/s end to end ({pg['events']:,} events)")
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f"peak RSS of the whole run (the rule test holds 100,000 leads' attributes): "
              f"{results['peak_rss_mb']} MB")
        out = ROOT / "bench" / "results" / "ingest.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
