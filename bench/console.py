"""Console page render times on a 100,000-lead store, over a real socket.

Builds a SQLite store in a temporary directory with the example campaign: 100,000 leads and 300,000 events
(bench/_data.py's skewed mix, through the real ingest path), then the outbox and enrolments of a welcome
journey for 20,000 of them (sent, opened, some queued, deferred, retrying and failed), written in bulk. Starts
`nurture serve` on it in a process of its own, signs in, and times each console page (after one warm-up
request) against a same-run baseline: the console's stylesheet, a static file served by the same app.
Prints p50 and p95 per page and the ratio of each p50 to the baseline's; records the server's peak RSS
(which stays far below what holding every lead would take). Writes bench/results/console.json.

    python bench/console.py [--leads 100000] [--events 300000] [--journeys 20000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _data import START, email, write_events, write_leads  # noqa: E402
from _memory import peak_rss_mb  # noqa: E402

from engine.config import Config  # noqa: E402
from engine.console.passwords import hash_password  # noqa: E402
from engine.core.clock import VirtualClock  # noqa: E402
from engine.ingest.rows import open_input, read_rows  # noqa: E402
from engine.service import Nurture  # noqa: E402
from engine.store.bulk import insert_many  # noqa: E402
from engine.store.tables import ENROLLMENTS, LEADS, OUTBOX  # noqa: E402

END = START + dt.timedelta(days=91)
ADMIN, PASSWORD = "bench@console.example", "bench console password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(work: Path, url: str, leads: int, events: int, journeys: int) -> None:
    nurture = Nurture(Config(database_url=url, campaign_dir=work / "journeys", template_dir=work / "templates"),
                      VirtualClock(END))
    nurture.apply()
    leads_csv, events_jsonl = work / "leads.csv", work / "events.jsonl"
    write_leads(leads_csv, leads)
    write_events(events_jsonl, leads, events)
    processor = nurture.processor()
    for path in (leads_csv, events_jsonl):
        stream, kind = open_input(str(path))
        started = time.perf_counter()
        with stream:
            rows = read_rows(stream, kind)
            report = (processor.import_leads(rows, str(path), from_text=True) if path == leads_csv
                      else processor.ingest_events(rows, str(path)))
        print(f"  {path.name}: {report.accepted:,} in {time.perf_counter() - started:.0f} s", flush=True)
    version_id, _ = nurture.rules()
    with nurture.store.transaction() as tx:
        tx.users.save(ADMIN, "admin", hash_password(PASSWORD), END)
        ids = dict(tx.conn.execute(LEADS.select().with_only_columns(LEADS.c.email, LEADS.c.id)
                                   .where(LEADS.c.email.in_([email(i) for i in range(journeys)]))).all())
        enrollments, messages = [], []
        for i in range(journeys):
            lead_id = ids[email(i)]
            entered = START + dt.timedelta(minutes=i)
            enrollments.append({"lead_id": lead_id, "journey": "welcome", "entry": 1, "version_id": version_id,
                                "step": "proof" if i % 4 else None, "status": "waiting" if i % 4 else "done",
                                "due_at": END + dt.timedelta(days=1) if i % 4 else None, "waiting_for": None,
                                "marks": {"intro": entered.timestamp()}, "entered_at": entered,
                                "ended_at": None if i % 4 else entered + dt.timedelta(days=9), "end_reason": None,
                                "goal_at": None, "leased_by": None, "leased_until": None})
            status, attempts, deferrals, error = "sent", 1, 0, None
            if i % 50 == 1:
                status, attempts, error = "failed", 1, "550 5.1.1 mailbox unavailable"
            elif i % 50 == 2:
                status, attempts, error = "queued", 2, "451 4.3.0 try again later"
            elif i % 50 == 3:
                status, attempts, deferrals = "queued", 0, 1
            messages.append({"key": f"bench:{i}", "lead_id": lead_id, "enrollment_id": None, "kind": "marketing",
                             "journey": "welcome", "step": "intro", "template": "welcome", "to_address": email(i),
                             "message_id": f"<bench.{i}@console>", "status": status, "due_at": entered,
                             "created_at": entered, "sent_at": entered if status == "sent" else None,
                             "attempts": attempts, "deferrals": deferrals, "last_error": error, "data": None,
                             "leased_by": None, "leased_until": None})
        insert_many(tx.conn, ENROLLMENTS, enrollments)
        insert_many(tx.conn, OUTBOX, messages)
    nurture.store.dispose()


def _serve(work: Path, url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(work / "journeys"),
           "NURTURE_TEMPLATE_DIR": str(work / "templates")}
    log = open(work / "serve.log", "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port), "--no-access-log"],
                               cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"nurture serve did not start:\n{(work / 'serve.log').read_text()}")


def _time(client: httpx.Client, path: str, rounds: int) -> dict:
    answer = client.get(path)  # warm-up: templates compiled, rules read
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:500]}")
    latencies = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path)
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    ordered = sorted(latencies)
    return {"requests": rounds, "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(round(len(ordered) * 0.95)) - 1)] * 1000, 1),
            "bytes": len(answer.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--journeys", type=int, default=20_000, help="leads with a welcome email and enrolment")
    parser.add_argument("--rounds", type=int, default=15, help="timed requests per page")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nurture-console-bench-"))
    server = None
    try:
        shutil.copytree(ROOT / "journeys", work / "journeys")
        shutil.copytree(ROOT / "templates", work / "templates")
        url = f"sqlite:///{work / 'bench.db'}"
        print(f"building a store of {args.leads:,} leads, {args.events:,} events, {args.journeys:,} journeys",
              flush=True)
        started = time.perf_counter()
        _build(work, url, args.leads, args.events, args.journeys)
        build_seconds = time.perf_counter() - started
        port = _free_port()
        server = _serve(work, url, port)
        rss_idle = peak_rss_mb(server.pid)
        lead = email(7)
        pages = ["/", "/funnel", "/funnel?by=lead_source", "/funnel?by=industry&cohort=week", "/leads",
                 "/leads?stage=mql", "/leads?score=engagement&min=60", f"/leads/{lead}", "/journeys",
                 "/journeys/welcome", "/outbox", "/outbox?state=retrying", f"/preview?template=welcome&lead={lead}",
                 "/campaign", "/health"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token
            signed = client.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf": token.group(1)})
            assert signed.status_code == 303, signed.text
            baseline = _time(client, "/static/console.css", args.rounds * 2)
            print(f"baseline /static/console.css: p50 {baseline['p50_ms']} ms, p95 {baseline['p95_ms']} ms")
            figures = {}
            for path in pages:
                figures[path] = _time(client, path, args.rounds)
                figures[path]["ratio_p50"] = round(figures[path]["p50_ms"] / baseline["p50_ms"], 1)
                print(f"{path:45} p50 {figures[path]['p50_ms']:8.1f} ms  p95 {figures[path]['p95_ms']:8.1f} ms  "
                      f"x{figures[path]['ratio_p50']:,} the baseline", flush=True)
        rss_peak = peak_rss_mb(server.pid)
        print(f"server peak RSS: {rss_idle} MB after start, {rss_peak} MB after every page")
        results = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "store": "SQLite (WAL) in a temp dir, the example campaign",
            "server": "nurture serve in its own process; one keep-alive client in the benchmark process",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
            "leads": args.leads, "events": args.events, "journeys": args.journeys,
            "build_seconds": round(build_seconds, 1), "rounds": args.rounds,
            "baseline_static_file": baseline, "pages": figures,
            "server_peak_rss_mb": {"after_start": rss_idle, "after_pages": rss_peak},
        }
        out = ROOT / "bench" / "results" / "console.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
