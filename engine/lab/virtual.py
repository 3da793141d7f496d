"""The engine on a virtual clock: the same scoring, stages, journeys and rendering as the daemon,
in a store of its own, delivering to SMTP or to memory. Used by the demo, scenario tests and
simulations, so none of them has an engine of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.core.clock import VirtualClock
from engine.daemon.worker import Daemon, TickStats
from engine.delivery.smtp import SendResult
from engine.ingest.processor import Report
from engine.ingest.rows import Row
from engine.service import Nurture


@dataclass
class MemoryMailer:
    """Accepts every message and keeps it: delivery for runs that must not send real email."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def send(self, sender: str, recipients: list[str], data: bytes) -> SendResult:
        self.messages.append((sender, list(recipients), data))
        return SendResult("sent", 250, "kept in memory")

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> MemoryMailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class VirtualRun:
    """One campaign, one store, one clock; `advance` ticks the real daemon code through time."""

    def __init__(self, campaign_dir: Path, template_dir: Path, start: dt.datetime, *, database_url: str,
                 mailer: Any | None = None, tick: dt.timedelta = dt.timedelta(hours=1), seed: int = 0,
                 **settings: Any) -> None:
        self.clock = VirtualClock(start)
        self.nurture = Nurture(Config(database_url=database_url, campaign_dir=campaign_dir,
                                      template_dir=template_dir, **settings), self.clock)
        self.nurture.apply()
        self.mailer = mailer if mailer is not None else MemoryMailer()
        self.daemon = Daemon(self.nurture, self.mailer, worker="virtual", seed=seed)
        self.tick = tick
        self._line = 0
        self._pending: list[Row] = []

    @property
    def processor(self):
        return self.nurture.processor()

    def row(self, data: dict[str, Any]) -> Row:
        self._line += 1
        return Row(self._line, "", data)

    def import_leads(self, leads: Iterable[dict[str, Any]]) -> Report:
        return self.processor.import_leads([self.row(dict(lead)) for lead in leads], "virtual leads")

    def schedule(self, rows: Iterable[Row]) -> None:
        """Events to ingest when the clock reaches their `at`."""
        self._pending += rows
        self._pending.sort(key=lambda r: r.data["at"])

    async def advance(self, until: dt.datetime, after_tick=None) -> list[TickStats]:
        """Tick from now to ``until``, ingesting scheduled events as their time comes."""
        stats = []
        while self.clock.now() < until:
            now = min(self.clock.now() + self.tick, until)
            self.clock.set(now)
            stamp = now.isoformat()
            due = [r for r in self._pending if r.data["at"] <= stamp]
            if due:
                self._pending = self._pending[len(due):]
                self.processor.ingest_events(due, "virtual events")
            stats.append(await self.daemon.tick())
            if after_tick is not None:
                after_tick(now)
        return stats
