"""Crash safety and sharing: daemons killed with SIGKILL mid-delivery, and two daemons on one PostgreSQL.

The daemons are real `nurture run` processes delivering to an SMTP server in this process; the
server counts Message-IDs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.config import Config
from engine.core.clock import SystemClock
from engine.ingest.rows import Row
from engine.lab.capture import LocalController
from engine.service import Nurture

from .daemon_helpers import CAMPAIGN, parse

ROOT = Path(__file__).resolve().parents[2]


class SlowSink:
    """Accepts every message after a short pause, so kills land in the middle of deliveries.

    Like a careful MTA (RFC 1047), it keeps a message only if the client is still there to hear the
    250 after the pause; a message whose sender died mid-transaction is dropped, not delivered.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.ids: list[str] = []
        #: Message-ID -> when each copy was accepted (monotonic seconds)
        self.accepted: dict[str, list[float]] = {}

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        if server.transport is None or server.transport.is_closing():
            return "451 sender went away"
        with self.lock:  # counted only when accepted, as a real server commits a message with its 250
            message_id = parse(envelope.content)["Message-ID"]
            self.ids.append(message_id)
            self.accepted.setdefault(message_id, []).append(time.monotonic())
        return "250 OK"

    def count(self) -> Counter:
        with self.lock:
            return Counter(self.ids)


def _seed(url: str, leads: int) -> None:
    nurture = Nurture(Config(database_url=url, campaign_dir=CAMPAIGN / "journeys",
                             template_dir=CAMPAIGN / "templates"), SystemClock())
    nurture.apply()
    now = dt.datetime.now(dt.UTC)
    rows = [Row(i, "", {"email": f"lead{i}@crash.example", "first_name": f"L{i}", "timezone": _awake_zone(now)})
            for i in range(leads)]
    processor = nurture.processor()
    processor.import_leads(rows, "leads")
    events = [{"lead": f"lead{i}@crash.example", "type": "signed.up", "at": now.isoformat()} for i in range(leads)]
    processor.ingest_events([Row(i, json.dumps(e), e) for i, e in enumerate(events, 1)], "events")
    nurture.db.dispose()


def _awake_zone(now: dt.datetime) -> str:
    """A timezone where it is daytime now, so the campaign's quiet hours never defer the test's emails."""
    for name in ("Europe/London", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata"):
        if 8 <= now.astimezone(ZoneInfo(name)).hour < 20:
            return name
    return "Pacific/Honolulu"


def _daemon(url: str, port: int, concurrency: int = 1, log: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"),
           "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates"), "NURTURE_SMTP_HOST": "127.0.0.1",
           "NURTURE_SMTP_PORT": str(port), "NURTURE_SMTP_CONCURRENCY": str(concurrency),
           "NURTURE_SECRET_KEY": "crash-test", "NURTURE_LEASE_SECONDS": "3"}
    return subprocess.Popen([sys.executable, "-m", "engine", "run", "--tick", "0.2", "--no-http"] if _has_http_flag()
                            else [sys.executable, "-m", "engine", "run", "--tick", "0.2"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab") if log else subprocess.DEVNULL)  # noqa: SIM115


def _has_http_flag() -> bool:
    result = subprocess.run([sys.executable, "-m", "engine", "run", "--help"], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "COLUMNS": "200"})
    return "--no-http" in result.stdout


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


#: how far apart a kill and the server's acceptance may be for the sender not to have recorded it: the
#: sender needs a moment to hear the 250 and record it, the server a moment to notice the sender died
AMBIGUOUS = 0.25


def test_sigkill_at_random_moments_loses_nothing_and_repeats_nothing(tmp_path):
    """Nothing is lost. Nothing is sent twice, except a message whose 250 the killed daemon had no time
    to record: no SMTP client can know whether such a message arrived (RFC 1047), so it is sent again
    (at least once). The test checks every repeat is of that kind."""
    leads = 30
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    _seed(url, leads)
    sink = SlowSink(delay=0.05)
    server = LocalController(sink, hostname="127.0.0.1", port=0)
    server.start()
    rng = random.Random(4)
    kills: list[float] = []
    try:
        for _ in range(12):  # kill -9 mid-work, again and again
            process = _daemon(url, server.port)
            time.sleep(rng.uniform(0.8, 2.0))
            kills.append(time.monotonic())
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            if sum(sink.count().values()) >= leads:
                break
        log = tmp_path / "final.log"
        final = _daemon(url, server.port, concurrency=4, log=log)  # then a clean run to the end
        lock = Path(f"{tmp_path / 'crash.db'}.daemon-lock")
        try:
            assert _wait_for(lambda: len(sink.count()) >= leads, timeout=60), log.read_text()
            # stop it only once it runs (holds the store), so the SIGTERM tests the daemon, not Python start-up
            assert _wait_for(lambda: lock.exists() and lock.read_text().endswith(f":{final.pid}"), timeout=30)
        finally:
            final.send_signal(signal.SIGTERM)
            assert final.wait(timeout=30) == 0  # SIGTERM: finish in-flight sends, exit 0
    finally:
        server.stop()
    counts = sink.count()
    assert len(kills) >= 2
    assert len(counts) == leads  # every due email arrived
    for message_id, copies in sink.accepted.items():
        # every copy but the last was accepted as a daemon died: the one case no sender can tell apart
        for accepted in copies[:-1]:
            assert any(abs(kill - accepted) <= AMBIGUOUS for kill in kills), (message_id, copies, kills)


def test_second_daemon_on_sqlite_refuses(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    _seed(url, 1)
    first = _daemon(url, 9)  # nothing listens on port 9: it only has to hold the store
    lock = Path(f"{tmp_path / 'one.db'}.daemon-lock")
    try:
        assert _wait_for(lambda: lock.exists() and lock.read_text().strip(), timeout=30)
        log = tmp_path / "second.log"
        second = _daemon(url, 9, log=log)
        assert second.wait(timeout=30) == 1
        err = log.read_text()
        assert "another daemon" in err and "use PostgreSQL" in err and "Traceback" not in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


@pytest.mark.postgres
def test_two_daemons_on_one_postgres_share_the_work(postgres_url):
    leads = 40
    _seed(postgres_url, leads)
    sink = SlowSink(delay=0.02)
    server = LocalController(sink, hostname="127.0.0.1", port=0)
    server.start()
    daemons = [_daemon(postgres_url, server.port, concurrency=4) for _ in range(2)]
    try:
        assert _wait_for(lambda: len(sink.count()) >= leads, timeout=90)
        time.sleep(1.0)  # anything sent twice would have arrived by now
    finally:
        for process in daemons:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in daemons]
        server.stop()
    counts = sink.count()
    assert codes == [0, 0]
    assert len(counts) == leads and max(counts.values()) == 1
