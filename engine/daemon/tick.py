"""The daemon: one tick applies due stage changes, lets journeys react, runs due steps, and delivers.

A tick is the same code whether the process loop calls it every second or the lab calls it on a
virtual clock. Each phase's store work runs in the daemon's store thread, so the event loop stays free
for sends and for the HTTP API served beside the daemon.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.core.clock import Clock
from engine.core.rules import Rules
from engine.daemon.delivery import DeliveryLoop
from engine.daemon.experiments import ExperimentPhase
from engine.daemon.journeys import JourneyPhases
from engine.daemon.prepare import DeliveryStats
from engine.daemon.presence import Presence
from engine.daemon.sla import run_slas
from engine.daemon.thread import StoreThread
from engine.delivery.compose import Compose, Templates
from engine.delivery.transport import TransportRouter
from engine.errors import EngineError
from engine.ingest.accounts import refresh_stale
from engine.ingest.collection import fewer_collections
from engine.ingest.processor import Processor
from engine.store import Store


class Campaign(Protocol):
    """Where the rules in force come from (engine.service.Nurture)."""

    def rules(self, refresh: bool = False) -> tuple[int, Rules]: ...

    @property
    def version_files(self) -> dict[str, str]: ...

    def processor(self) -> Processor: ...


@dataclass(frozen=True)
class DaemonSettings:
    worker: str
    #: signals, steps and notifications taken per batch (and the most messages claimed at once)
    batch: int = 500
    #: messages claimed at once: what the transports send well within a lease
    claim_limit: int = 64
    lease: dt.timedelta = dt.timedelta(seconds=120)
    #: why the daemon must not start, found in its configuration
    refuse_to_start: str | None = None
    #: how long one tick's phases may keep taking batches (tick_budget_seconds; 0.8 x tick_seconds by default)
    tick_budget: dt.timedelta = dt.timedelta(seconds=0.8)


@dataclass
class TickStats:
    stage_changes: int = 0
    signals: int = 0
    steps: int = 0
    notifications: int = 0
    #: split steps' winners recorded
    winners: int = 0
    #: follow-up deadlines missed this tick
    sla_breaches: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)

    def as_dict(self) -> dict[str, Any]:
        d = self.delivery
        return {"stage_changes": self.stage_changes, "signals": self.signals, "steps": self.steps,
                "notifications": self.notifications, "sent": d.sent, "failed": d.failed, "retried": d.retried,
                "deferred": d.deferred, "suppressed": d.suppressed, "cancelled": d.cancelled, "lost": d.lost}


class Daemon:
    """The phases of a tick over one store, with the collaborators it is built with (see `daemon.build`)."""

    def __init__(self, store: Store, campaign: Campaign, clock: Clock, router: TransportRouter, composer: Compose,
                 journeys: JourneyPhases, settings: DaemonSettings, stop: threading.Event, *,
                 seed: int | None = None) -> None:
        self.store = store
        self.campaign = campaign
        self.clock = clock
        self.router = router
        self.composer = composer
        self.journeys = journeys
        self.settings = settings
        self._stop = stop
        self.thread = StoreThread()
        self.presence = Presence(store, clock, settings.worker)
        self.experiments = ExperimentPhase(store, campaign, settings.worker)  # split steps' winners
        self.delivery = DeliveryLoop(store, self.thread, clock, router, composer, worker=settings.worker,
                                     claim_limit=min(settings.batch, settings.claim_limit), lease=settings.lease,
                                     stopping=stop.is_set, rng=random.Random(seed))

    @property
    def worker(self) -> str:
        return self.settings.worker

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Claim nothing more: the tick under way finishes the sends it started and records them."""
        self._stop.set()

    # ----- presence ----------------------------------------------------------------------------

    def register(self) -> None:
        """Announce this daemon; refuse to start on a broken configuration, or beside another on SQLite."""
        if self.settings.refuse_to_start:
            raise EngineError(self.settings.refuse_to_start)
        self.presence.register()

    def heartbeat(self) -> None:
        self.presence.heartbeat()

    async def beat(self) -> None:
        """The heartbeat, from the event loop."""
        await self.thread.run(self.presence.heartbeat)

    def unregister(self) -> None:
        self.presence.unregister()

    # ----- one tick ----------------------------------------------------------------------------

    async def tick(self) -> TickStats:
        stats = TickStats()
        now, rules, templates = await self.thread.run(self._begin)
        await self.thread.run(self._journey_phases, now, stats)
        if not self.stopping:
            stats.delivery = await self.delivery.deliver(rules, templates)
        return stats

    async def deliver(self) -> DeliveryStats:
        """The delivery phase alone: send what is due now (benchmarks time it on its own)."""
        _, rules, templates = await self.thread.run(self._begin)
        return await self.delivery.deliver(rules, templates)

    def _begin(self) -> tuple[dt.datetime, Rules, Templates]:
        now = self.clock.now()
        version_id, rules = self.campaign.rules(refresh=True)  # a newly applied version takes over at a tick
        self.composer.ready()  # read or create the signing key before any write transaction holds the store
        return now, rules, (version_id, self.campaign.version_files)

    def _journey_phases(self, now: dt.datetime, stats: TickStats) -> None:
        with fewer_collections():  # batches of leads, steps and signals: many short-lived objects
            self._run_phases(now, stats)

    def _run_phases(self, now: dt.datetime, stats: TickStats) -> None:
        self.journeys.start_tick()
        # accounts whose values time moves (decay, `active within`), before the sweep reviews their leads
        refresh_stale(self.store, self.campaign.rules()[1], now, self.settings.batch)
        stats.stage_changes = self.campaign.processor().sweep(now)
        stats.signals = self.journeys.react(now)
        stats.signals += self.journeys.sweep(now)
        stats.winners = self.experiments.run(now)  # before steps run: leads reaching a split now get the winner
        stats.steps = self.journeys.run_steps(now)
        stats.notifications = self.journeys.queue_notifications(now)
        stats.sla_breaches = run_slas(self.journeys, now).breached  # follow-up deadlines

    async def close(self) -> None:
        """Close the transports (in the loop their connections belong to), the render workers and the store thread."""
        await self.router.close()
        self.composer.close()
        self.thread.close()
