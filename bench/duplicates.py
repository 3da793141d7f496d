"""Two daemons, one PostgreSQL store, a slow SMTP server: is any email sent twice?

Two real `nurture run --no-http` processes share a fresh PostgreSQL schema holding a backlog of due
emails (5,000 by default), with a short lease (5 s). The SMTP server runs in its own process and waits
250 ms before answering each message; like a careful MTA it keeps a message only if the sender is
still there to hear its 250. The server counts every Message-ID it accepts; each daemon's JSON log
says how many it sent. The baseline is the time the server's delays alone take with every connection
of both daemons busy from start to end; the ratio is baseline / measured. Writes
bench/results/duplicates.json with the machine's core count and load average.

    python bench/duplicates.py [--messages N] [--delay S] [--lease S] [--concurrency N] [--out FILE]

A claimed batch (8 messages per connection) takes 8 x delay to send: 2 s with the defaults, well
within the 5 s lease. `--lease 1.5 --out duplicates-short-lease.json` runs with a lease shorter than
a batch takes, which the daemon must renew while the batch is sent.

Needs PostgreSQL (NURTURE_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from email import message_from_bytes
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deliver import awake_zone, import_leads, queue_welcome  # noqa: E402

from engine.config import Config  # noqa: E402
from engine.core.clock import SystemClock  # noqa: E402
from engine.lab.capture import LocalController  # noqa: E402
from engine.service import Nurture  # noqa: E402
from engine.store.tables import OUTBOX  # noqa: E402

PG_URL = os.environ.get("NURTURE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class SlowServer:
    """Waits ``delay`` seconds before answering each message; keeps it only if the sender is still there."""

    def __init__(self, delay: float, accepted) -> None:
        self.delay = delay
        self.accepted = accepted

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        if server.transport is None or server.transport.is_closing():
            return "451 sender went away"
        self.accepted.put(message_from_bytes(envelope.content)["Message-ID"])
        return "250 OK"


def _server(delay: float, port_out, accepted, stop) -> None:
    controller = LocalController(SlowServer(delay, accepted), hostname="127.0.0.1", port=0)
    controller.start()
    port_out.put(controller.port)
    stop.wait()
    controller.stop()



def queue_backlog(url: str, count: int) -> None:
    """The example campaign applied, ``count`` leads, and one marketing email due now for each."""
    nurture = Nurture(Config(database_url=url, campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates"),
                      SystemClock())
    nurture.apply()
    import_leads(nurture, count, awake_zone(dt.datetime.now(dt.UTC)), domain="dup.example")
    queue_welcome(nurture, count)
    nurture.store.engine.dispose()


def start_daemon(url: str, port: int, lease: float, concurrency: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(ROOT / "journeys"),
           "NURTURE_TEMPLATE_DIR": str(ROOT / "templates"), "NURTURE_SMTP_HOST": "127.0.0.1",
           "NURTURE_SMTP_PORT": str(port), "NURTURE_SMTP_CONCURRENCY": str(concurrency),
           "NURTURE_SECRET_KEY": "duplicates-bench", "NURTURE_LEASE_SECONDS": str(lease),
           "NURTURE_BASE_URL": "https://n.bench.example"}
    return subprocess.Popen([sys.executable, "-m", "engine", "run", "--no-http", "--log-format", "json"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _same(text: str) -> str:
    """A log message without its times, so the same warning logged every second counts as one."""
    return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S*( UTC)?", "<time>", text)[:300]


def read_log(log: Path) -> dict:
    """What a daemon's log says: emails sent, leases lost while sending, ticks, and its warnings and errors
    (lines that are not JSON count as problems too: the log format promises one JSON object a line)."""
    summary: dict = {"sent": 0, "lost": 0, "ticks": 0, "problems": Counter()}
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            summary["problems"][f"not JSON: {_same(line)}"] += 1
            continue
        if record.get("message") == "tick":
            summary["ticks"] += 1
            summary["sent"] += int(record.get("sent", 0))
            summary["lost"] += int(record.get("lost", 0))
        if record.get("level") in ("warning", "error", "critical"):
            summary["problems"][f"{record.get('level')} from {record.get('logger')}: "
                                f"{_same(str(record.get('message')))}"] += 1
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--delay", type=float, default=0.25, help="seconds the server waits before each 250")
    parser.add_argument("--lease", type=float, default=5.0, help="lease_seconds of both daemons")
    parser.add_argument("--concurrency", type=int, default=8, help="smtp_concurrency of each daemon")
    parser.add_argument("--out", default="duplicates.json", help="file name under bench/results/")
    args = parser.parse_args()
    load_before = os.getloadavg()

    schema = f"bench_dup_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    ctx = multiprocessing.get_context("spawn")
    port_out, accepted, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_server, args=(args.delay, port_out, accepted, stop), daemon=True)
    server.start()
    port = port_out.get(timeout=30)
    engine = sa.create_engine(url)
    ids: list[str] = []
    try:
        started = time.perf_counter()
        queue_backlog(url, args.messages)
        print(f"{args.messages:,} emails due in schema {schema} ({time.perf_counter() - started:.1f} s to queue)")
        with tempfile.TemporaryDirectory() as tmp:
            logs = [Path(tmp) / "first.log", Path(tmp) / "second.log"]
            started = time.perf_counter()
            daemons = [start_daemon(url, port, args.lease, args.concurrency, log) for log in logs]
            deadline = time.monotonic() + 60 + args.messages * args.delay  # even one connection would be done
            try:
                while time.monotonic() < deadline:
                    while not accepted.empty():
                        ids.append(accepted.get())
                    with engine.connect() as conn:
                        left = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)
                                            .where(OUTBOX.c.status == "queued")).scalar_one()
                    if left == 0 or any(d.poll() is not None for d in daemons):
                        break
                    time.sleep(0.5)
                seconds = time.perf_counter() - started
            finally:
                for daemon in daemons:
                    daemon.send_signal(signal.SIGTERM)
                codes = [daemon.wait(timeout=60) for daemon in daemons]
            time.sleep(args.delay * 2)  # answers the server was still giving when the daemons stopped
            while not accepted.empty():
                ids.append(accepted.get())
            per_daemon = [read_log(log) for log in logs]
        with engine.connect() as conn:
            status = dict(conn.execute(sa.select(OUTBOX.c.status, sa.func.count()).group_by(OUTBOX.c.status)).all())
    finally:
        engine.dispose()
        stop.set()
        server.join(timeout=10)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    counts = Counter(ids)
    duplicates = {m: n for m, n in counts.items() if n > 1}
    # the floor: every connection of both daemons busy with the server's delay from start to end
    floor = args.messages * args.delay / (2 * args.concurrency)
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "messages": args.messages, "server_delay_seconds": args.delay, "lease_seconds": args.lease,
        "smtp_concurrency_per_daemon": args.concurrency, "seconds": round(seconds, 1),
        "received": len(ids), "distinct_received": len(counts),
        "received_more_than_once": len(duplicates), "extra_copies": sum(n - 1 for n in duplicates.values()),
        "sent_per_daemon": [d["sent"] for d in per_daemon], "ticks_per_daemon": [d["ticks"] for d in per_daemon],
        "leases_lost_while_sending": [d["lost"] for d in per_daemon],
        "outbox_by_status": status, "daemon_exit_codes": codes,
        "daemon_warnings_and_errors": [dict(d["problems"].most_common(20)) for d in per_daemon],
        "baseline_seconds_all_connections_busy": round(floor, 1), "ratio": round(floor / seconds, 3),
        "machine": {"cores": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
    }
    print(f"{len(counts):,} of {args.messages:,} messages received in {seconds:.1f} s; "
          f"{len(duplicates)} received more than once; sent per daemon {results['sent_per_daemon']}; "
          f"outbox {status}; exit codes {codes}")
    print(f"baseline, every connection of both daemons busy for the whole run: {floor:.1f} s; ratio "
          f"{results['ratio']}; {os.cpu_count()} cores, load average {load_before} before")
    out = ROOT / "bench" / "results" / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    if duplicates or len(counts) != args.messages:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
