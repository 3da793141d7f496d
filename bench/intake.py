"""HTTP intake benchmark: events/s through POST /v1/events, in batches of 100 and one event per request,
against a bare FastAPI endpoint that only answers 202, measured in the same run with the same client.

First the baseline server takes both modes, then `nurture serve` (one uvicorn process) on a fresh
SQLite store in a temporary directory with the example campaign (journeys/, templates/). A separate
load process on loopback runs an asyncio httpx client with a few concurrent keep-alive connections,
for a fixed time per mode, and records each request's latency. Afterwards every accepted event is
counted in the store, and the same batches are fed to the engine directly (no HTTP) for comparison.
Server and load generator share the machine's cores. Prints the figures, the ratios to the baseline,
and writes bench/results/intake.json with the machine's core count and load average.

    python bench/intake.py [--seconds 10] [--batch-connections 4] [--single-connections 32] [--no-write]
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
    # one client per connection: httpx's shared pool costs more per request the more connections it holds
    clients = [httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=1)) for _ in range(connections)]
    deadline = time.perf_counter() + seconds  # from here: making clients (TLS contexts) takes a while

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
            if response.status_code == 202:  # the bare baseline: taken, nothing said
                totals["accepted"] += per_request
                continue
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


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(base: str, mode: str, per_request: int, connections: int, seconds: float,
             server: subprocess.Popen | None = None) -> dict:
    """Runs the load in a separate process (spawned, so it shares nothing with this one); with ``server``,
    also the server's CPU milliseconds per accepted event (steadier than rates on a busy machine)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_load_process, args=(base, mode, per_request, connections, seconds, send))
    before = _cpu_seconds(server.pid) if server is not None else None
    process.start()
    result = receive.recv()
    process.join()
    after = _cpu_seconds(server.pid) if server is not None else None
    if before is not None and after is not None and result["accepted"]:
        result["server_cpu_ms_per_event"] = round(1000 * (after - before) / result["accepted"], 3)
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
    return _wait_ready(process, port, work / "serve.log")


def _wait_ready(process: subprocess.Popen, port: int, log: Path) -> subprocess.Popen:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)  # polling for readiness, not timing anything
    process.kill()
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def _serve_bare(port: int) -> None:
    """The baseline server: a bare FastAPI endpoint that only answers 202, under uvicorn as `nurture serve`
    runs it (same protocol, loop and logging settings), on the same kind of listening socket."""
    import fastapi
    import uvicorn
    from starlette.responses import Response

    app = fastapi.FastAPI()

    @app.post("/v1/events")
    async def events() -> Response:
        return Response(status_code=202)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(status_code=200)

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, server_header=False,
                lifespan="off", http="httptools")


def _start_bare(work: Path, port: int) -> subprocess.Popen:
    log = open(work / "bare.log", "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    process = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)], cwd=ROOT, stdout=log, stderr=log)
    return _wait_ready(process, port, work / "bare.log")


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
        # as the HTTP writer stores a pass: the daemon's tick sweeps and rolls accounts up
        accepted += processor.ingest_events(rows, "bench", sweep=False).accepted
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
    cpu = f", server CPU {r['server_cpu_ms_per_event']} ms/event" if "server_cpu_ms_per_event" in r else ""
    print(f"{name}: {r['events_per_second']:,} events/s accepted ({r['requests_per_second']:,} requests/s over "
          f"{r['connections']} connections), latency p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} "
          f"ms{cpu}; {r['accepted']:,} accepted, {r['rejected']} rejected, {r['errors']} errors")


def _ratio(project: dict, baseline: dict) -> dict:
    return {"events_per_second": round(project["events_per_second"] / max(baseline["events_per_second"], 1), 3),
            "p99_ms": project["latency_ms"]["p99"], "baseline_p99_ms": baseline["latency_ms"]["p99"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each mode runs, on each server")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--single-connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/intake.json")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        _serve_bare(args.serve_bare)
        return
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="nurture-intake-"))
    shutil.copytree(ROOT / "journeys", work / "journeys")
    shutil.copytree(ROOT / "templates", work / "templates")

    port = _free_port()
    bare_server = _start_bare(work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _measure(base, "warmup", 100, 2, 2.0)
        bare_batch = _measure(base, "batch", 100, args.batch_connections, args.seconds, bare_server)
        _show("baseline, bare FastAPI answering 202, batches of 100", bare_batch)
        bare_single = _measure(base, "single", 1, args.single_connections, args.seconds, bare_server)
        _show("baseline, bare FastAPI answering 202, single events", bare_single)
    finally:
        bare_server.send_signal(signal.SIGTERM)
        bare_server.wait(timeout=60)

    port = _free_port()
    server = _start_server(work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _measure(base, "warmup", 100, 2, 2.0)
        warm = _stored(work)
        batch = _measure(base, "batch", 100, args.batch_connections, args.seconds, server)
        _show("nurture serve, batches of 100", batch)
        single = _measure(base, "single", 1, args.single_connections, args.seconds, server)
        _show("nurture serve, single events", single)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    stored = _stored(work) - warm
    engine = _engine_only(work, args.seconds)
    print(f"engine alone (no HTTP, batches of 100, in one process): {engine['events_per_second']:,} events/s")
    claimed = batch["accepted"] + single["accepted"]
    print(f"stored: {stored:,} events in the store for {claimed:,} accepted "
          f"({'all there' if stored == claimed else 'MISMATCH'})")
    ratios = {"batch_of_100": _ratio(batch, bare_batch), "single": _ratio(single, bare_single)}
    for name, r in ratios.items():
        print(f"ratio to the bare baseline, {name.replace('_', ' ')}: {r['events_per_second']} "
              f"(p99 {r['p99_ms']} ms against {r['baseline_p99_ms']} ms)")
    load_after = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_before} before, {load_after} after")
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": "nurture serve: one uvicorn process (httptools protocol, asyncio loop), SQLite (WAL) in a temp dir, "
                  "access log off, the example campaign",
        "baseline": "a bare FastAPI endpoint answering 202 to the same requests, under uvicorn with the same "
                    "settings, measured in the same run with the same client",
        "load": "a separate spawned process on loopback: asyncio httpx client, keep-alive connections, "
                "fixed duration per mode; events spread over 20,000 leads with the benchmark's event mix",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": load_after,
                    "note": "server and load generator share these cores (and with whatever else runs)"},
        "batch_of_100": batch,
        "single": single,
        "baseline_batch_of_100": bare_batch,
        "baseline_single": bare_single,
        "ratio_to_baseline": ratios,
        "verification": {"accepted": claimed, "stored": stored, "all_stored": stored == claimed},
        "engine_alone_batch_of_100": engine,
        "targets": {"batch_events_per_second": 5000, "single_events_per_second": 1500, "p99_ms": 100},
    }
    if not args.no_write:
        out = ROOT / "bench" / "results" / "intake.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {out.relative_to(ROOT)}")
    shutil.rmtree(work, ignore_errors=True)
    if stored != claimed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
