"""Before a send: consent, pacing (quiet hours, frequency caps) and composing, for a claimed batch at once.

What these checks read is read for the whole batch in three queries instead of three per message;
nothing they change is read back (outcomes are recorded after the sends).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dsl.ast import QuietHours
from engine.core.clock import Clock
from engine.core.journeys import LeadView
from engine.core.rules import Rules
from engine.core.schedule import capped_until, quiet_until, zone
from engine.daemon.journeys import lead_views
from engine.delivery.compose import Compose, Templates
from engine.delivery.context import email_context
from engine.delivery.render import RenderError
from engine.store import Store, Tx
from engine.store.outbox import QueuedMessage

log = logging.getLogger("nurture.daemon")


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    suppressed: int = 0
    #: messages whose lease another daemon took over before this one sent or recorded them
    lost: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryStats) -> None:
        for name in ("sent", "failed", "retried", "deferred", "suppressed", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


@dataclass(frozen=True)
class Ready:
    """A message cleared to go now, with the bytes (or webhook body) to send."""

    message: QueuedMessage
    data: bytes


@dataclass
class _Batch:
    leads: dict[int, LeadView]
    suppressed: set[str]
    #: lead -> marketing emails sent to it within the longest cap window
    sent: dict[int, list[dt.datetime]]
    #: lead -> marketing emails of this batch already cleared for it
    going: dict[int, list[dt.datetime]] = field(default_factory=dict)


def next_allowed(settings: Mapping[str, Any], caps: dict[str, int], quiet: QuietHours | None, now: dt.datetime,
                 tz_name: str | None, sent: list[dt.datetime]) -> dt.datetime:
    """When a marketing email may go: after quiet hours, and within the lead's frequency caps given the
    emails ``sent`` to it (recently, and earlier in this batch)."""
    at = now
    if caps:
        at = capped_until(at, sent, caps)
    if quiet is not None:
        tz = zone(tz_name, str(settings.get("default timezone") or "UTC"))
        at = quiet_until(at, tz, (quiet.start.hour, quiet.start.minute), (quiet.end.hour, quiet.end.minute))
    return at


@dataclass(frozen=True)
class _Verdict:
    """What clearing decided for one message: send ``data``, defer it to ``due_at``, or drop it."""

    data: bytes | None = None
    due_at: dt.datetime | None = None
    drop: tuple[Literal["suppressed", "failed"], str] | None = None


class Preparer:
    """Clears a claimed batch for sending; renews the lease of every message it clears.

    Three steps, so the store is held only for reads and writes, never while templates render (on SQLite
    every transaction holds the one write lock, and the HTTP side waits for it): read what the checks
    need, decide and compose with no transaction open, write the decisions.
    """

    def __init__(self, store: Store, composer: Compose, clock: Clock, worker: str, lease: dt.timedelta) -> None:
        self.store = store
        self.composer = composer
        self.clock = clock
        self.worker = worker
        self.lease = lease

    def prepare(self, ids: list[int], rules: Rules, templates: Templates, now: dt.datetime,
                stats: DeliveryStats) -> list[Ready]:
        with self.store.transaction() as tx:
            messages = tx.outbox.load(ids)
            batch = self._batch(tx, rules, messages, now)
        verdicts = [self._clear(message, rules, templates, now, stats, batch) for message in messages]
        ready = []
        with self.store.transaction() as tx:
            for message, verdict in zip(messages, verdicts, strict=True):
                if verdict.drop is not None:
                    tx.outbox.drop(message.id, self.worker, *verdict.drop)
                elif verdict.due_at is not None:
                    tx.outbox.defer(message.id, self.worker, verdict.due_at, message.deferrals + 1)
                elif verdict.data is not None:
                    # The lease is renewed from the clock of this moment, and a message whose lease another
                    # daemon has taken (this one was too slow) is left to it: never sent by two.
                    kept = verdict.data if message.data is None else None
                    if tx.outbox.hold(message.id, self.worker, self.clock.now() + self.lease, kept):
                        ready.append(Ready(message, verdict.data))
                    else:
                        stats.lost += 1
                        log.warning("lease lost before sending", extra={"fields": {"message": message.id}})
        return ready

    def _batch(self, tx: Tx, rules: Rules, messages: list[QueuedMessage], now: dt.datetime) -> _Batch:
        marketing = [m for m in messages if m.kind == "marketing"]
        caps = rules.symbols.frequency_caps
        since = now - dt.timedelta(days=7 if "week" in caps else 1)
        return _Batch(lead_views(tx, rules, [m.lead_id for m in messages if m.kind != "webhook"], now),
                      tx.outbox.suppressed_among([m.to_address for m in marketing]),
                      tx.outbox.recent_sends([m.lead_id for m in marketing], since) if caps and marketing else {})

    def _clear(self, message: QueuedMessage, rules: Rules, templates: Templates, now: dt.datetime,
               stats: DeliveryStats, batch: _Batch) -> _Verdict:
        if message.kind == "webhook":  # its body was taken when it was queued
            return _Verdict(data=message.data)
        lead = batch.leads[message.lead_id]
        marketing = message.kind == "marketing"
        if marketing and (lead.unsubscribed or message.to_address in batch.suppressed):
            stats.suppressed += 1
            return _Verdict(drop=("suppressed", "unsubscribed or suppressed at send time"))
        if marketing:
            symbols = rules.symbols
            allowed = next_allowed(symbols.settings, symbols.frequency_caps, symbols.quiet_hours, now,
                                   lead.attributes.get("timezone"),
                                   batch.sent.get(message.lead_id, []) + batch.going.get(message.lead_id, []))
            if allowed > now:
                stats.deferred += 1
                return _Verdict(due_at=allowed)
        data = message.data
        if data is None:
            try:
                data = self.composer.compose(message, rules.symbols.settings, templates, now,
                                             lambda unsubscribe: self._context(rules, lead, now, unsubscribe, message))
            except RenderError as err:
                stats.failed += 1
                stats.errors.append(f"{message.to_address} {message.template}: {err}")
                return _Verdict(drop=("failed", f"render: {err}"))
        if marketing:  # counts against the caps of the lead's next messages in this batch
            batch.going.setdefault(message.lead_id, []).append(now)
        return _Verdict(data=data)

    def _context(self, rules: Rules, lead: LeadView, now: dt.datetime, unsubscribe: str,
                 message: QueuedMessage) -> dict[str, Any]:
        sales = message.kind != "marketing"
        if not sales:  # a marketing email's context is the lead as read for the batch: no store needed
            return email_context(None, rules, lead, now, unsubscribe, message.journey, False)
        with self.store.transaction() as tx:  # why the lead qualified: its ledger and recent activity
            return email_context(tx, rules, lead, now, unsubscribe, message.journey, True)
