"""The delivery loop: claim due messages -> prepare them (journey, consent, pacing, compose) -> send -> record.

Claiming, preparing and recording are store work and run in the daemon's store thread; sends run
on the event loop, many at once. Outcomes are recorded as the answers come in; a refusal of the
reader's address is also recorded as an `email.bounced` event of the lead, ingested like any other.
Whatever goes wrong with one message (an address no transport can take, an exception from a
transport) fails that message alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import random
from collections.abc import Callable
from typing import Any

from engine.core.clock import Clock
from engine.core.rules import Rules
from engine.daemon.prepare import DeliveryStats, Preparer, Ready
from engine.daemon.thread import StoreThread
from engine.delivery import retry
from engine.delivery.compose import Compose, Templates
from engine.delivery.transport import Message, SendResult, TransportRouter
from engine.ingest.processor import Processor
from engine.ingest.rows import Row
from engine.store import Store
from engine.store.outbox import QueuedMessage, SendOutcome

log = logging.getLogger("nurture.daemon")


class Recorder:
    """Writes outcomes as sends finish: those that finish while a write is under way go together in the
    next one (a group commit), so a busy batch costs a few transactions, not one per message."""

    def __init__(self, store: Store, thread: StoreThread, worker: str) -> None:
        self.store = store
        self.thread = thread
        self.worker = worker
        #: ingests the bounce events, under the rules of the version being delivered
        self.processor: Processor | None = None
        self._waiting: list[tuple[Ready, SendOutcome, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: Ready, outcome: SendOutcome) -> bool:
        """Keep ``outcome``; False when the lease was lost, so the outcome was not ours to keep."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                held = await self.thread.run(self._write_batch, [(m, o) for m, o, _ in batch])
            except Exception as err:  # the senders waiting on this batch see the error
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(err)
                continue
            for (*_, done), kept in zip(batch, held, strict=True):
                if not done.done():
                    done.set_result(kept)

    def _write_batch(self, batch: list[tuple[Ready, SendOutcome]]) -> list[bool]:
        # Bounces first, as events keyed by their message: a daemon that dies before the outcome is kept sends
        # the message again when its lease expires, and the same bounce then finds its event already there.
        bounces = [bounce_row(item, outcome, line) for line, (item, outcome) in enumerate(batch, 1)
                   if outcome.bounced and item.lead_email]
        if bounces and self.processor is not None:
            report = self.processor.ingest_events(bounces, "delivery")
            for rejected in report.rejected:  # a campaign cannot undeclare a built-in event: never expected
                log.warning("bounce not recorded", extra={"fields": {"reason": rejected.reason}})
        with self.store.transaction() as tx:
            return [tx.outbox.record(item.message, self.worker, outcome) for item, outcome in batch]


def bounce_row(item: Ready, outcome: SendOutcome, line: int) -> Row:
    """The `email.bounced` event of a refused message, keyed by the message so it is recorded once."""
    key = item.message.key if len(item.message.key) <= 180 else hashlib.sha256(item.message.key.encode()).hexdigest()
    data: dict[str, Any] = {"id": f"bounce:{key}", "lead": item.lead_email, "type": "email.bounced",
                            "at": outcome.at.isoformat(), "props": {"reason": outcome.reply or ""}}
    return Row(line, "", data)


class DeliveryLoop:
    """Claims what the transports can send well within a lease, sends it, records it; again until nothing
    is due or the daemon is stopping."""

    def __init__(self, store: Store, thread: StoreThread, clock: Clock, router: TransportRouter,
                 composer: Compose, *, worker: str, claim_limit: int, lease: dt.timedelta,
                 stopping: Callable[[], bool], rng: random.Random) -> None:
        self.store = store
        self.thread = thread
        self.clock = clock
        self.router = router
        self.worker = worker
        self.claim_limit = claim_limit
        self.lease = lease
        self.stopping = stopping
        self.rng = rng
        self.preparer = Preparer(store, composer, clock, worker, lease)
        self.recorder = Recorder(store, thread, worker)

    async def deliver(self, rules: Rules, templates: Templates) -> DeliveryStats:
        stats = DeliveryStats()
        sender = str(rules.symbols.settings.get("sender address"))
        self.recorder.processor = Processor(self.store, rules, templates[0], self.clock)
        while not self.stopping():
            ready = await self.thread.run(self._claim_and_prepare, rules, templates, stats)
            if ready is None:
                return stats
            unsent = {item.message.id for item in ready}
            keeper = asyncio.create_task(self._keep_leases(unsent))
            try:
                await asyncio.gather(*(self._send(item, sender, stats, unsent) for item in ready))
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        return stats

    async def _keep_leases(self, unsent: set[int]) -> None:
        """Renew the leases of the batch's messages not yet sent, a third of a lease at a time.

        A batch may take longer than one lease to get through the transports (a slow server, many
        messages per connection); without renewals another daemon would take over messages still
        queued here and both would send them. A message whose lease was lost all the same is dropped
        from ``unsent``, and so never sent by this daemon.
        """
        while unsent:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            asked = sorted(unsent)
            held = await self.thread.run(self._renew, asked)
            unsent.difference_update(set(asked) - held)

    def _renew(self, ids: list[int]) -> set[int]:
        with self.store.transaction() as tx:
            return tx.outbox.renew(ids, self.worker, self.clock.now() + self.lease)

    def _claim_and_prepare(self, rules: Rules, templates: Templates, stats: DeliveryStats) -> list[Ready] | None:
        """Claim a batch and clear it for sending; None when nothing is due."""
        with self.store.transaction() as tx:
            ids = tx.outbox.claim(self.worker, self.claim_limit, self.lease, self.clock)
        if not ids:
            return None
        return self.preparer.prepare(ids, rules, templates, self.clock.now(), stats)

    async def _send(self, item: Ready, sender: str, stats: DeliveryStats, unsent: set[int]) -> None:
        message = item.message
        if message.id not in unsent:  # its lease ran out before its turn came: another daemon has it now
            stats.lost += 1
            log.warning("lease lost before sending: the daemon holding the message now sends it",
                        extra={"fields": {"message_id": message.id}})
            return
        try:
            result = await self.router.for_kind(message.kind).send(
                Message(message.kind, message.key, sender, (message.to_address,), item.data))
        except Exception as err:  # a transport that raised instead of answering: this message alone fails
            log.warning("send raised", exc_info=True, extra={"fields": {"message_id": message.id}})
            result = SendResult("permanent", None, f"could not be sent: {type(err).__name__}: {err}")
        outcome = self._outcome(message, result)
        unsent.discard(message.id)
        if not await self.recorder.record(item, outcome):
            stats.lost += 1
            log.warning("lease lost while sending: the outcome is left to the daemon holding the message now",
                        extra={"fields": {"message_id": message.id, "status": outcome.status}})
        elif outcome.status == "sent":
            stats.sent += 1
        elif outcome.status == "retry":
            stats.retried += 1
        else:
            stats.failed += 1
            stats.errors.append(f"{message.to_address} {message.template}: {result.code} {result.reply}")

    def _outcome(self, message: QueuedMessage, result: SendResult) -> SendOutcome:
        now = self.clock.now()
        attempts = message.attempts + 1
        status = retry.outcome(result.status, attempts)
        if status == "sent":
            return SendOutcome("sent", attempts, now)
        reply = f"{result.code or ''} {result.reply}".strip()[:2000]
        if status == "retry":
            return SendOutcome("retry", attempts, now, reply,
                               now + dt.timedelta(seconds=retry.retry_delay(attempts, self.rng)))
        # a refusal of our own sender says nothing about the lead's address: only marketing to a bad
        # address is suppressed
        return SendOutcome("failed", attempts, now, reply,
                           bounced=message.kind == "marketing" and result.about_recipient)
