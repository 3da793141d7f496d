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
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from engine.config import Config
from engine.core.clock import SystemClock
from engine.daemon.build import daemon_for, router_for
from engine.daemon.prepare import DeliveryStats
from engine.daemon.tick import Daemon
from engine.delivery.smtp import SmtpMailer
from engine.ingest.rows import Row
from engine.lab.capture import LocalController
from engine.service import Nurture
from engine.store.tables import OUTBOX

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


def _seed(url: str, leads: int, *, sign_up: bool = True) -> None:
    """The campaign applied and ``leads`` leads imported; with ``sign_up`` each signs up now (one email due each)."""
    nurture = Nurture(Config(database_url=url, campaign_dir=CAMPAIGN / "journeys",
                             template_dir=CAMPAIGN / "templates"), SystemClock())
    nurture.apply()
    now = dt.datetime.now(dt.UTC)
    rows = [Row(i, "", {"email": f"lead{i}@crash.example", "first_name": f"L{i}", "timezone": _awake_zone(now)})
            for i in range(leads)]
    nurture.processor().import_leads(rows, "leads")
    nurture.store.engine.dispose()
    if sign_up:
        _sign_up(url, leads)


def _sign_up(url: str, leads: int) -> None:
    nurture = Nurture(Config(database_url=url, campaign_dir=CAMPAIGN / "journeys",
                             template_dir=CAMPAIGN / "templates"), SystemClock())
    now = dt.datetime.now(dt.UTC)
    events = [{"lead": f"lead{i}@crash.example", "type": "signed.up", "at": now.isoformat()} for i in range(leads)]
    nurture.processor().ingest_events([Row(i, json.dumps(e), e) for i, e in enumerate(events, 1)], "events")
    nurture.store.engine.dispose()


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
    return subprocess.Popen([sys.executable, "-m", "engine", "run", "--tick", "0.2", "--no-http"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab") if log else subprocess.DEVNULL)  # noqa: SIM115


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


def _sent_by(log: Path) -> int:
    """Emails a daemon reports as sent in its tick lines."""
    return sum(int(n) for n in re.findall(r"\bsent=(\d+)", log.read_text()))


def _started(log: Path) -> bool:
    return log.exists() and "daemon started" in log.read_text()


@pytest.mark.postgres
def test_two_daemons_on_one_postgres_share_the_work(postgres_url, tmp_path):
    leads = 120
    _seed(postgres_url, leads, sign_up=False)
    sink = SlowSink(delay=0.02)
    server = LocalController(sink, hostname="127.0.0.1", port=0)
    server.start()
    logs = [tmp_path / f"daemon{i}.log" for i in range(2)]
    daemons = [_daemon(postgres_url, server.port, concurrency=1, log=log) for log in logs]
    try:
        # both run before there is work, so both can take part in it (and a SIGTERM meets running daemons)
        assert _wait_for(lambda: all(_started(log) for log in logs), timeout=60), [p.poll() for p in daemons]
        _sign_up(postgres_url, leads)
        assert _wait_for(lambda: len(sink.count()) >= leads, timeout=90)
    finally:
        for process in daemons:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in daemons]
        server.stop()
    counts = sink.count()
    assert codes == [0, 0]
    assert len(counts) == leads and max(counts.values()) == 1
    sent = [_sent_by(log) for log in logs]
    assert sum(sent) == leads and min(sent) > 0, sent  # both did work


def test_sigterm_lets_the_sends_under_way_finish_and_be_recorded(tmp_path):
    leads = 40
    url = f"sqlite:///{tmp_path / 'term.db'}"
    _seed(url, leads)
    sink = SlowSink(delay=0.2)  # a batch of 16 over two connections takes ~1.6 s: the signal lands mid-batch
    server = LocalController(sink, hostname="127.0.0.1", port=0)
    server.start()
    log = tmp_path / "daemon.log"
    process = _daemon(url, server.port, concurrency=2, log=log)
    try:
        assert _wait_for(lambda: len(sink.count()) >= 1, timeout=60), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        server.stop()
    assert code == 0, log.read_text()
    accepted = set(sink.count())
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OUTBOX.c.message_id, OUTBOX.c.status, OUTBOX.c.leased_by)).all()
    engine.dispose()
    assert {r.message_id for r in rows if r.status == "sent"} == accepted  # every accepted send recorded
    assert [r for r in rows if r.leased_by is not None] == []  # nothing left leased, to be sent again later
    assert len(accepted) < leads  # it stopped claiming


def _handles(pid: int, sig: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` installed (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.MULTILINE).group(1), 16)
    return bool(caught & (1 << (sig - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc to see the handler installed")
def test_sigterm_while_starting_up_is_a_clean_exit(tmp_path):
    """The signal arrives while the daemon waits for the store (held by this test): still exit 0, nothing sent."""
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    _seed(url, 3)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the daemon's start-up waits for this write lock
    log = tmp_path / "daemon.log"
    process = _daemon(url, 9, log=log)
    try:
        assert _wait_for(lambda: _handles(process.pid, signal.SIGTERM) or process.poll() is not None, timeout=30)
        process.send_signal(signal.SIGTERM)
    finally:
        holder.rollback()
        holder.close()
    assert process.wait(timeout=30) == 0, log.read_text()
    assert "daemon started" not in log.read_text() and "Traceback" not in log.read_text()


@pytest.mark.postgres
@pytest.mark.parametrize(("leads", "lease", "delay", "connections"), [
    (160, 3, 0.1, 2),  # a claimed batch of 16 takes ~0.8 s: well within the lease
    (40, 2, 0.4, 1),  # a claimed batch of 8 takes ~3.2 s: longer than the lease, which must be renewed
], ids=["batch-within-lease", "batch-longer-than-lease"])
def test_a_long_delivery_never_lets_another_daemon_take_messages_in_flight(postgres_url, leads, lease, delay,
                                                                           connections):
    """Two daemons in one store, a backlog, a slow server and a short lease: each batch is claimed under a
    lease that runs from the claim (not from the start of a tick that has been delivering for longer than a
    lease) and is renewed while the batch is still being sent, so no message is ever taken over while it
    waits for its turn or is being sent."""
    _seed(postgres_url, leads)
    sink = SlowSink(delay=delay)
    server = LocalController(sink, hostname="127.0.0.1", port=0)
    server.start()

    def daemon(name: str) -> Daemon:
        config = Config(database_url=postgres_url, campaign_dir=CAMPAIGN / "journeys",
                        template_dir=CAMPAIGN / "templates", secret_key="lease-test", lease_seconds=lease,
                        smtp_concurrency=connections)
        nurture = Nurture(config, SystemClock())
        return daemon_for(nurture, router_for(config, SmtpMailer("127.0.0.1", server.port, concurrency=connections)),
                          worker=name)

    async def keep_ticking(d: Daemon) -> DeliveryStats:
        total = DeliveryStats()
        deadline = time.monotonic() + 120
        while len(sink.count()) < leads and time.monotonic() < deadline:
            stats = await d.tick()
            total.add(stats.delivery)
            if not any(stats.as_dict().values()):
                await asyncio.sleep(0.05)  # nothing due for this one now: let the other work
        await d.tick()  # anything taken over would be sent again now
        await d.close()
        return total

    async def both() -> list[DeliveryStats]:
        return list(await asyncio.gather(keep_ticking(daemon("first")), keep_ticking(daemon("second"))))

    try:
        first, second = asyncio.run(both())
    finally:
        server.stop()
    counts = sink.count()
    assert len(counts) == leads
    assert [m for m, n in counts.items() if n > 1] == []  # no duplicates
    assert first.sent > 0 and second.sent > 0 and first.sent + second.sent == leads
