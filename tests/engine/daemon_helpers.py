"""A daemon on a virtual clock delivering to a real SMTP server on loopback, for the daemon tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import json
from collections.abc import Coroutine, Iterator
from email import policy
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from engine.config import Config
from engine.core.clock import VirtualClock
from engine.daemon.build import daemon_for, router_for
from engine.delivery.smtp import SmtpMailer
from engine.ingest.rows import Row
from engine.lab.capture import LocalController
from engine.service import Nurture
from engine.store.tables import OUTBOX

CAMPAIGN = Path(__file__).parent / "daemon_campaign"
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
ANN = {"email": "ann@acme.example", "first_name": "Ann", "timezone": "America/New_York"}
BOB = {**ANN, "email": "bob@acme.example", "first_name": "Bob"}
# Monday 2026-03-02 14:00 UTC is 09:00 in New York
T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
T = TypeVar("T")


class Harness:
    """One store, one clock, one daemon; every tick delivers to ``port`` on 127.0.0.1."""

    def __init__(self, url: str, port: int, campaign: Path = CAMPAIGN, start: dt.datetime = T0,
                 **settings: Any) -> None:
        self.clock = VirtualClock(start)
        self.nurture = Nurture(Config(database_url=url, campaign_dir=campaign / "journeys",
                                      template_dir=campaign / "templates", base_url="https://n.test.example",
                                      secret_key="test-key", **settings), self.clock)
        self.nurture.apply()
        self.mailer = SmtpMailer("127.0.0.1", port, concurrency=4, timeout=5)
        self.daemon = daemon_for(self.nurture, router_for(self.nurture.config, self.mailer), worker="test", seed=1)
        self._line = 0

    def leads(self, *rows: dict[str, Any]) -> None:
        self.nurture.processor().import_leads([Row(i, "", r) for i, r in enumerate(rows, 1)], "leads")

    def events(self, *events: tuple[str, str, dt.datetime, dict]) -> None:
        rows = []
        for lead, etype, at, props in events:
            self._line += 1
            data = {"lead": lead, "type": etype, "at": at.isoformat(), "props": props}
            rows.append(Row(self._line, json.dumps(data), data))
        report = self.nurture.processor().ingest_events(rows, "test")
        assert not report.rejected, report.rejected

    async def tick(self, at: dt.datetime | None = None):
        if at is not None:
            self.clock.set(at)
        return await self.daemon.tick()

    def outbox(self) -> list[Any]:
        with self.nurture.store.engine.connect() as conn:
            return conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)).all()

    def query(self, statement) -> list[Any]:
        with self.nurture.store.engine.connect() as conn:
            return conn.execute(statement).all()


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def message_ids(messages: list[tuple[str, list[str], bytes]]) -> list[str]:
    return [parse(data)["Message-ID"] for _, _, data in messages]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@contextlib.contextmanager
def serving(handler: Any) -> Iterator[int]:
    """A real SMTP server on loopback answering with ``handler``; yields its port."""
    controller = LocalController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()
