"""Before a send: the journey still under way, consent, pacing (quiet hours, frequency caps) and composing,
for a claimed batch at once.

What these checks read is read for the whole batch in four queries instead of four per message;
nothing they change is read back (outcomes are recorded after the sends). A message that cannot be
composed fails alone, with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.clock import Clock
from engine.core.journeys import LeadView
from engine.core.rules import Rules
from engine.core.schedule import deferral
from engine.daemon.journeys import lead_views
from engine.delivery.compose import Compose, ContextFor, Templates
from engine.delivery.context import email_context
from engine.delivery.message import ComposeError
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
    #: marketing messages not sent because their journey ended before they were due (an exit, a goal)
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryStats) -> None:
        for name in ("sent", "failed", "retried", "deferred", "suppressed", "lost", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


@dataclass(frozen=True)
class Ready:
    """A message cleared to go now, with the bytes (or webhook body) to send, held in memory until its outcome
    is recorded with them."""

    message: QueuedMessage
    data: bytes
    #: the lead's address now (for a marketing message, where a bounce is recorded)
    lead_email: str | None = None


@dataclass
class _Batch:
    leads: dict[int, LeadView]
    suppressed: set[str]
    #: lead -> marketing emails sent to it within the longest cap window
    sent: dict[int, list[dt.datetime]]
    #: message -> why its journey ended before it was sent
    ended: dict[int, str] = field(default_factory=dict)
    #: lead -> marketing emails of this batch already cleared for it
    going: dict[int, list[dt.datetime]] = field(default_factory=dict)
    #: lead -> the subscription topics it has left
    left_topics: dict[int, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Verdict:
    """What clearing decided for one message: send ``data``, defer it to ``due_at``, or drop it."""

    data: bytes | None = None
    due_at: dt.datetime | None = None
    #: why it waits until ``due_at`` (quiet hours, a frequency cap), for the outbox to show
    why: str = ""
    drop: tuple[Literal["suppressed", "failed", "cancelled"], str] | None = None
    #: to be composed with the rest of the batch, from this context
    context_for: ContextFor | None = None


class _StoreFailed(Exception):
    """Reading a sales alert's context failed: the store's trouble, not the message's."""


def _compose_failure(err: Exception) -> str:
    if isinstance(err, RenderError):
        return f"render: {err}"
    if isinstance(err, ComposeError):
        return f"compose: {err}"
    return f"compose: {type(err).__name__}: {err}"


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
        verdicts = self._clear_all(messages, rules, templates, now, stats, batch)
        cleared = [(m, v.data) for m, v in zip(messages, verdicts, strict=True)
                   if v.drop is None and v.due_at is None and v.data is not None]
        with self.store.transaction() as tx:
            for message, verdict in zip(messages, verdicts, strict=True):
                if verdict.drop is not None:
                    status, reason = verdict.drop
                    if status == "cancelled":
                        tx.outbox.cancel(message.id, self.worker, reason)
                    else:
                        tx.outbox.drop(message.id, self.worker, status, reason)
                elif verdict.due_at is not None:
                    # a message that was tried keeps the server's last reply; one that was not says what holds it back
                    tx.outbox.defer(message.id, self.worker, verdict.due_at, message.deferrals + 1,
                                    "" if message.attempts else verdict.why)
            # The leases of the cleared messages are renewed from the clock of this moment, and a message whose
            # lease another daemon has taken (this one was too slow) is left to it: never sent by two. The bytes
            # stay in memory for the send; they are kept in the store with its outcome.
            # Cleared, they count against the caps of every daemon (this one's next batch, prepared while this one
            # sends, included) until their outcomes are kept.
            held = tx.outbox.clear_to_send([m.id for m, _ in cleared], self.worker, self.clock.now() + self.lease,
                                           now)
        ready = []
        for message, data in cleared:
            if message.id in held:
                lead = batch.leads.get(message.lead_id)
                ready.append(Ready(message, data, lead.email if lead is not None else None))
            else:
                stats.lost += 1
                log.warning("lease lost before sending", extra={"fields": {"message_id": message.id}})
        return ready

    def _batch(self, tx: Tx, rules: Rules, messages: list[QueuedMessage], now: dt.datetime) -> _Batch:
        marketing = [m for m in messages if m.kind == "marketing"]
        caps = rules.symbols.frequency_caps
        since = now - dt.timedelta(days=7 if "week" in caps else 1)
        topical = [m.lead_id for m in marketing if m.topic is not None]
        return _Batch(lead_views(tx, rules, [m.lead_id for m in messages if m.kind != "webhook"], now),
                      tx.outbox.suppressed_among([m.to_address for m in marketing]),
                      tx.outbox.recent_sends([m.lead_id for m in marketing], since, now) if caps and marketing else {},
                      tx.outbox.ended_journeys([m.id for m in marketing]) if marketing else {},
                      left_topics=tx.topics.among(topical) if topical else {})

    def _clear(self, message: QueuedMessage, rules: Rules, now: dt.datetime, stats: DeliveryStats,
               batch: _Batch) -> _Verdict:
        if message.kind == "webhook":  # its body was taken when it was queued
            return _Verdict(data=message.data)
        lead = batch.leads[message.lead_id]
        marketing = message.kind == "marketing"
        if marketing and message.id in batch.ended:  # an exit or the goal came after it was queued
            stats.cancelled += 1
            return _Verdict(drop=("cancelled", batch.ended[message.id]))
        if marketing and (lead.unsubscribed or message.to_address in batch.suppressed):
            stats.suppressed += 1
            return _Verdict(drop=("suppressed", "unsubscribed or suppressed at send time"))
        if marketing and message.topic in batch.left_topics.get(message.lead_id, ()):  # consent per topic
            stats.suppressed += 1
            return _Verdict(drop=("suppressed", f"the lead left topic `{message.topic}` at send time"))
        if marketing:
            symbols = rules.symbols
            allowed, why = deferral(symbols.settings, symbols.frequency_caps, symbols.quiet_hours, now,
                                   lead.attributes.get("timezone"),
                                   batch.sent.get(message.lead_id, []) + batch.going.get(message.lead_id, []))
            if allowed > now:
                stats.deferred += 1
                return _Verdict(due_at=allowed, why=why)
        if message.data is not None:
            if marketing:  # counts against the caps of the lead's next messages in this batch
                batch.going.setdefault(message.lead_id, []).append(now)
            return _Verdict(data=message.data)

        def context_for(unsubscribe: str) -> dict[str, Any]:
            if marketing:  # built from the batch's reads: what fails here is this lead's data
                return self._context(rules, lead, now, unsubscribe, message)
            try:  # a sales alert's context reads the store
                return self._context(rules, lead, now, unsubscribe, message)
            except Exception as err:
                raise _StoreFailed() from err

        return _Verdict(context_for=context_for)

    def _clear_all(self, messages: list[QueuedMessage], rules: Rules, templates: Templates, now: dt.datetime,
                   stats: DeliveryStats, batch: _Batch) -> list[_Verdict]:
        """Each message's verdict, in order. Composing is left to be done for many messages at once (a pool
        renders them together), except that a lead's waiting message is composed before the lead's next one
        meets the caps: only one that composed counts against them."""
        verdicts: list[_Verdict] = []
        waiting: list[int] = []
        waiting_leads: set[int] = set()
        for message in messages:
            if message.kind == "marketing" and message.lead_id in waiting_leads:
                self._compose(messages, verdicts, waiting, rules, templates, now, stats, batch)
                waiting, waiting_leads = [], set()
            verdict = self._clear(message, rules, now, stats, batch)
            if verdict.context_for is not None:
                waiting.append(len(verdicts))
                waiting_leads.add(message.lead_id)
            verdicts.append(verdict)
        self._compose(messages, verdicts, waiting, rules, templates, now, stats, batch)
        return verdicts

    def _compose(self, messages: list[QueuedMessage], verdicts: list[_Verdict], waiting: list[int], rules: Rules,
                 templates: Templates, now: dt.datetime, stats: DeliveryStats, batch: _Batch) -> None:
        """Compose the ``waiting`` messages together, and turn each verdict into the bytes or a failure (one that
        cannot be composed fails alone, with the reason)."""
        if not waiting:
            return
        drafts = []
        for n in waiting:
            context_for = verdicts[n].context_for
            assert context_for is not None, "only messages cleared to compose wait"
            drafts.append((messages[n], context_for))
        composed = self.composer.compose_all(drafts, rules.symbols.settings, templates, now)
        for n, result in zip(waiting, composed, strict=True):
            message = messages[n]
            if isinstance(result, _StoreFailed):  # not this message's fault: the batch is tried again after its lease
                raise result.__cause__ or result from None
            if isinstance(result, Exception):  # this message's template or data
                stats.failed += 1
                stats.errors.append(f"{message.to_address} {message.template}: {result}")
                verdicts[n] = _Verdict(drop=("failed", _compose_failure(result)))
                continue
            verdicts[n] = _Verdict(data=result)
            if message.kind == "marketing":  # counts against the caps of the lead's next messages in this batch
                batch.going.setdefault(message.lead_id, []).append(now)

    def _context(self, rules: Rules, lead: LeadView, now: dt.datetime, unsubscribe: str,
                 message: QueuedMessage) -> dict[str, Any]:
        sales = message.kind != "marketing"
        if not sales:  # a marketing email's context is the lead as read for the batch: no store needed
            return email_context(None, rules, lead, now, unsubscribe, message.journey, False)
        with self.store.transaction() as tx:  # why the lead qualified: its ledger and recent activity
            return email_context(tx, rules, lead, now, unsubscribe, message.journey, True)
