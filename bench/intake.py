"""HTTP intake benchmark: events/s through POST /v1/events, in batches of 100 and one event per request.

Starts `nurture serve` (one uvicorn process) on a fresh SQLite store in a temporary directory with the
example campaign (journeys/, templates/). A separate load process on loopback runs an asyncio httpx
client with a few concurrent keep-alive connections, for a fixed time per mode, and records each
request's latency. Afterwards every accepted event is counted in the store, and the same batches are
fed to the engine directly (no HTTP) for comparison. Server and load generator share the machine's
cores. Prints the figures and writes bench/results/intake.json.

    python bench/intake.py [--seconds 20] [--batch-connections 4] [--single-connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _data import MIX, email  # noqa: E402

TOKEN = "bench-token"
LEADS = 20_000


def _events(prefix: str, start: int, count: int, rnd: random.Random) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    weights = [w for w, _, _ in MIX]
    out = []
    for n in range(start, start + count):
        _, etype, props = rnd.choices(MIX, weights)[0]
        at = now - dt.timedelta(seconds=rnd.uniform(0, 3600))
        out.append({"id": f"{prefix}{n}", "lead": email(int(LEADS * rnd.random() ** 2)), "type": etype,
                    "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "props": props(rnd)})
    return out


async def _load(base: str, mode: str, per_request: int, connections: int, seconds: float) -> dict:
    import httpx

    rnd = random.Random(mode)
    latencies: list[float] = []
    totals = {"requests": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "errors": 0}
    counter = 0
    deadline = time.perf_counter() + seconds
    # one client per connection: httpx's shared pool costs more per request the more connections it holds
    clients = [httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=1)) for _ in range(connections)]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            start = counter
            counter += per_request
            events = _events(f"{mode}-", start, per_request, rnd)
            sent = time.perf_counter()
            response = await client.post("/v1/events", json=events if per_request > 1 else events[0])
            latencies.append(time.perf_counter() - sent)
            totals["requests"] += 1
            if response.status_code not in (200, 422):
                totals["errors"] += 1
                continue
            result = response.json()
            totals["accepted"] += result["accepted"]
            totals["duplicates"] += result["duplicates"]
            totals["rejected"] += len(result["rejected"])

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for client in clients:
        await client.aclose()
    latencies.sort()
    return {**totals, "events_per_request": per_request, "connections": connections, "seconds": round(elapsed, 2),
            "events_per_second": round(totals["accepted"] / elapsed),
            "requests_per_second": round(totals["requests"] / elapsed),
            "load_generator_cpu_seconds": round(cpu, 2),
            "latency_ms": {"p50": round(statistics.median(latencies) * 1000, 1),
                           "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
                           "max": round(latencies[-1] * 1000, 1)}}


def _load_process(base: str, mode: str, per_request: int, connections: int, seconds: float, out) -> None:
    out.send(asyncio.run(_load(base, mode, per_request, connections, seconds)))


def _measure(base: str, mode: str, per_request: int, connections: int, seconds: float) -> dict:
    """Runs the load in a separate process (spawned, so it shares nothing with this one)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_load_process, args=(base, mode, per_request, connections, seconds, send))
    process.start()
    result = receive.recv()
    process.join()
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(work: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
           "NURTURE_CAMPAIGN_DIR": str(work / "journeys"), "NURTURE_TEMPLATE_DIR": str(work / "templates"),
           "NURTURE_API_TOKEN": TOKEN}
    log = open(work / "serve.log", "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port), "--no-access-log"],
                               cwd=ROOT, env=env, stdout=log, stderr=log)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"nurture serve did not start:\n{(work / 'serve.log').read_text()}")


def _engine_only(work: Path, seconds: float) -> dict:
    """The same batches straight into the engine in this process, no HTTP: the ceiling intake can reach."""
    from engine.config import Config
    from engine.ingest.rows import Row
    from engine.service import Nurture

    nurture = Nurture(Config(database_url=f"sqlite:///{work / 'engine.store.db'}", campaign_dir=work / "journeys",
                             template_dir=work / "templates"))
    processor = nurture.processor()
    rnd = random.Random("engine")
    accepted = counter = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        rows = [Row(i, json.dumps(e), e) for i, e in enumerate(_events("engine-", counter, 100, rnd), 1)]
        counter += 100
        accepted += processor.ingest_events(rows, "bench").accepted
    elapsed = time.perf_counter() - started
    nurture.store.engine.dispose()
    return {"events": accepted, "seconds": round(elapsed, 2), "events_per_second": round(accepted / elapsed)}


def _stored(work: Path) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{work / 'bench.db'}")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    engine.dispose()
    return count


def _show(name: str, r: dict) -> None:
    print(f"{name}: {r['events_per_second']:,} events/s accepted ({r['requests_per_second']:,} requests/s over "
          f"{r['connections']} connections), latency p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} "
          f"ms; {r['accepted']:,} accepted, {r['rejected']} rejected, {r['errors']} errors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each mode runs")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--single-connections", type=int, default=32)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nurture-intake-"))
    shutil.copytree(ROOT / "journeys", work / "journeys")
    shutil.copytree(ROOT / "templates", work / "templates")
    port = _free_port()
    server = _start_server(work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _measure(base, "warmup", 100, 2, 2.0)
        warm = _stored(work)
        batch = _measure(base, "batch", 100, args.batch_connections, args.seconds)
        _show("batches of 100", batch)
        single = _measure(base, "single", 1, args.single_connections, args.seconds)
        _show("single events", single)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    stored = _stored(work) - warm
    engine = _engine_only(work, args.seconds)
    print(f"engine alone (no HTTP, batches of 100, in one process): {engine['events_per_second']:,} events/s")
    claimed = batch["accepted"] + single["accepted"]
    print(f"stored: {stored:,} events in the store for {claimed:,} accepted "
          f"({'all there' if stored == claimed else 'MISMATCH'})")
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": "nurture serve: one uvicorn process (h11 protocol, asyncio loop), SQLite (WAL) in a temp dir, "
                  "access log off, the example campaign",
        "load": "a separate spawned process on loopback: asyncio httpx client, keep-alive connections, "
                "fixed duration per mode; events spread over 20,000 leads with the benchmark's event mix",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
                    "note": "server and load generator share these cores (and with whatever else runs)"},
        "batch_of_100": batch,
        "single": single,
        "verification": {"accepted": claimed, "stored": stored, "all_stored": stored == claimed},
        "engine_alone_batch_of_100": engine,
        "targets": {"batch_events_per_second": 5000, "single_events_per_second": 1000},
    }
    out = ROOT / "bench" / "results" / "intake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    shutil.rmtree(work, ignore_errors=True)
    if stored != claimed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
