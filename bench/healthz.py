"""Health-check latency while the daemon delivers: GET /healthz on `nurture run`, whose HTTP API shares the
daemon's event loop, timed while a tick delivers 2,000 emails, against the same server with nothing to do.

Starts `nurture run` (HTTP served in the daemon's loop, tick every second) on a fresh SQLite store in a
temporary directory with the example campaign, and a counting aiosmtpd sink in a process of its own. The
baseline: /healthz at a steady pace while every tick finds nothing due. Then 2,000 emails are queued (due
now, leads in a timezone where it is daytime, so quiet hours defer none) and /healthz is timed at the same
pace until the sink has every one. Prints p50/p99 of both and their ratio; writes bench/results/healthz.json.

    python bench/healthz.py [--emails 2000] [--per-second 100] [--baseline-seconds 5] [--database-url URL]

--database-url runs on another store (an empty PostgreSQL database or schema) instead of the SQLite file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deliver import awake_zone, drain, import_leads, queue_welcome, start_sink  # noqa: E402

from engine.config import Config  # noqa: E402
from engine.core.clock import SystemClock  # noqa: E402
from engine.service import Nurture  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _engine(work: Path, url: str) -> Nurture:
    return Nurture(Config(database_url=url, campaign_dir=work / "journeys",
                          template_dir=work / "templates", base_url="https://n.bench.example"), SystemClock())




def _start_daemon(work: Path, url: str, port: int, smtp_port: int) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": url,
           "NURTURE_CAMPAIGN_DIR": str(work / "journeys"), "NURTURE_TEMPLATE_DIR": str(work / "templates"),
           "NURTURE_SMTP_HOST": "127.0.0.1", "NURTURE_SMTP_PORT": str(smtp_port),
           "NURTURE_BASE_URL": "https://n.bench.example", "NURTURE_API_TOKEN": "bench-token"}
    log = open(work / "run.log", "wb")  # noqa: SIM115  (kept open for the daemon's lifetime)
    process = subprocess.Popen([sys.executable, "-m", "engine", "run", "--port", str(port), "--tick", "1"],
                               cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["daemons"]:
                return process
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"nurture run did not start:\n{(work / 'run.log').read_text()}")


def _time_healthz(client: httpx.Client, per_second: float, until) -> list[float]:
    """GET /healthz every 1/per_second s until ``until()``; each request's latency in seconds."""
    latencies: list[float] = []
    interval = 1.0 / per_second
    next_at = time.perf_counter()
    while not until():
        started = time.perf_counter()
        response = client.get("/healthz")
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"/healthz answered {response.status_code}: {response.text}")
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return latencies


def _figures(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--per-second", type=float, default=100.0, help="/healthz requests per second")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--database-url", help="an empty store to use instead of a SQLite file in a temp dir")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nurture-healthz-"))
    shutil.copytree(ROOT / "journeys", work / "journeys")
    shutil.copytree(ROOT / "templates", work / "templates")
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL) in a temp dir"
    nurture = _engine(work, url)
    nurture.apply()
    import_leads(nurture, args.emails, awake_zone(dt.datetime.now(dt.UTC)))
    sink, smtp_port, arrivals, stop_sink = start_sink()
    port = _free_port()
    daemon = _start_daemon(work, url, port, smtp_port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            warm = time.monotonic() + 1.0  # connections and first requests out of the way
            _time_healthz(client, args.per_second, lambda: time.monotonic() >= warm)
            deadline = time.monotonic() + args.baseline_seconds
            idle = _time_healthz(client, args.per_second, lambda: time.monotonic() >= deadline)
            arrived: list[tuple[float, str]] = []

            def collect() -> None:
                arrived.extend(drain(arrivals, args.emails, timeout=300))

            collector = threading.Thread(target=collect)
            collector.start()
            queued = time.perf_counter()
            queue_welcome(nurture, args.emails)
            busy = _time_healthz(client, args.per_second, lambda: not collector.is_alive())
            delivered_in = time.perf_counter() - queued
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        stop_sink.set()
        sink.join(timeout=10)
        nurture.store.engine.dispose()
    if len(arrived) < args.emails:
        raise SystemExit(f"only {len(arrived)} of {args.emails} emails arrived; see {work / 'run.log'}")
    shutil.rmtree(work, ignore_errors=True)
    baseline, delivering = _figures(idle), _figures(busy)
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": "nurture run: the HTTP API served in the daemon's own event loop, tick every second, "
                  f"{store}, the example campaign, SMTP to an aiosmtpd sink in its own process",
        "load": f"one keep-alive client in the benchmark process, GET /healthz every {1000 / args.per_second:g} ms",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
        "emails": args.emails,
        "delivery_seconds": round(delivered_in, 2),
        "baseline_no_tick_work": baseline,
        "while_delivering": delivering,
        "ratio_p50": round(delivering["p50_ms"] / baseline["p50_ms"], 2),
        "ratio_p99": round(delivering["p99_ms"] / baseline["p99_ms"], 2),
    }
    print(f"/healthz, nothing due:       p50 {baseline['p50_ms']} ms, p99 {baseline['p99_ms']} ms "
          f"({baseline['requests']} requests)")
    print(f"/healthz, {args.emails:,} emails going out: p50 {delivering['p50_ms']} ms, p99 {delivering['p99_ms']} ms "
          f"({delivering['requests']} requests over {delivered_in:.1f} s)")
    print(f"ratio: p50 x{results['ratio_p50']}, p99 x{results['ratio_p99']}")
    out = ROOT / "bench" / "results" / "healthz.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
