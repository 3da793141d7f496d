"""The engine on a virtual clock: the same scoring, stages, journeys and rendering as the daemon,
in a store of its own, delivering to SMTP or to memory. Used by the demo, scenario tests and
simulations, so none of them has an engine of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dsl.campaign import Campaign
from engine.config import Config
from engine.core.clock import VirtualClock
from engine.daemon.build import composer_for, daemon_for
from engine.daemon.tick import TickStats
from engine.delivery.compose import Compose, SampledComposer
from engine.delivery.memory import MemoryTransport
from engine.delivery.transport import Transport, TransportRouter
from engine.ingest.processor import Processor, Report
from engine.ingest.rows import Row
from engine.service import Nurture

#: signals, steps and notifications per daemon batch, as in production
BATCH = 500


class VirtualRun:
    """One campaign, one store, one clock; `advance` ticks the real daemon code through time.

    Email goes to ``transport`` (memory by default); sales webhooks always stay in memory, as a run on a
    virtual clock must not post to a real CRM. ``render_sample`` renders only the first so many messages
    of each template in full (None: every one).
    """

    def __init__(self, campaign_dir: Path, template_dir: Path, start: dt.datetime, *, database_url: str,
                 transport: Transport | None = None, tick: dt.timedelta = dt.timedelta(hours=1), seed: int = 0,
                 worker: str = "virtual", batch: int = BATCH, render_sample: int | None = None,
                 throwaway: bool = False, checked: Campaign | None = None, **settings: Any) -> None:
        """``throwaway``: the store is deleted after the run, so its commits need not wait for the disk;
        ``checked``: the campaign in ``campaign_dir``, already loaded and checked by the caller."""
        self.clock = VirtualClock(start)
        self.nurture = Nurture(Config(database_url=database_url, campaign_dir=campaign_dir,
                                      template_dir=template_dir, **settings), self.clock)
        if throwaway:
            self.nurture.store.tune_for_throwaway()
        self.nurture.apply(checked=checked)
        self.transport: Transport = transport if transport is not None else MemoryTransport()
        self.webhooks = MemoryTransport()
        self.composer: Compose = composer_for(self.nurture)
        if render_sample is not None:
            self.composer = SampledComposer(composer_for(self.nurture), render_sample)
        self.daemon = daemon_for(self.nurture, TransportRouter(self.transport, self.webhooks), composer=self.composer,
                                 worker=worker, batch=batch, seed=seed, budgeted=False)
        self.tick = tick
        self._line = 0
        self._pending: list[Row] = []

    @property
    def processor(self) -> Processor:
        return self.nurture.processor()

    def row(self, data: dict[str, Any]) -> Row:
        self._line += 1
        return Row(self._line, "", data)

    def import_leads(self, leads: Iterable[dict[str, Any]]) -> Report:
        return self.processor.import_leads([self.row(dict(lead)) for lead in leads], "virtual leads")

    def schedule(self, rows: Iterable[Row]) -> None:
        """Events to ingest when the clock reaches their `at`."""
        self._pending += rows
        self._pending.sort(key=_at)

    async def advance(self, until: dt.datetime,
                      after_tick: Callable[[dt.datetime], None] | None = None) -> list[TickStats]:
        """Tick from now to ``until``, ingesting scheduled events as their time comes."""
        stats = []
        while self.clock.now() < until:
            now = min(self.clock.now() + self.tick, until)
            self.clock.set(now)
            stamp = now.isoformat()
            due = [r for r in self._pending if _at(r) <= stamp]
            if due:
                self._pending = self._pending[len(due):]
                self.processor.ingest_events(due, "virtual events")
            stats.append(await self.daemon.tick())
            if after_tick is not None:
                after_tick(now)
        return stats


def _at(row: Row) -> str:
    """When a scheduled event happens (ISO text, which sorts in time order for one timezone)."""
    assert row.data is not None, "scheduled events are parsed rows"
    return str(row.data["at"])
