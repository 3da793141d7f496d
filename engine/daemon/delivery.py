"""The delivery loop: claim due messages -> prepare them (journey, consent, pacing, compose) -> send -> record.

Claiming, preparing and recording are store work and run in the daemon's store thread; sends run
on the event loop, many at once. The three overlap: a pool of senders takes prepared messages from a
queue as connections free up, while the next batch is claimed and prepared, and outcomes are written
in groups (whatever finished while the last write was under way) with the bytes each message went out
as. A refusal of the reader's address is also recorded as an `email.bounced` event of the lead,
ingested like any other. Whatever goes wrong with one message (an address no transport can take, an
exception from a transport) fails that message alone.

A stop lets the sends under way finish and be recorded; messages prepared but not yet taken by a sender
are given back (their leases released), to be sent by the next daemon to claim them.

Every claimed message stays leased to this daemon until its outcome is kept: the leases of all messages
waiting in the queue, being sent or waiting to be recorded are renewed a third of a lease at a time, and
a message whose lease was lost all the same is never sent by this daemon, nor its outcome recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import random
import threading
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

#: an outcome waiting to be written, and the future its sender is told through
_Pending = tuple[Ready, SendOutcome, "asyncio.Future[bool]"]


class Recorder:
    """Writes outcomes as sends finish: those that finish while a write is under way go together in the
    next one (a group commit), so a busy stretch costs a few transactions, not one per message. Senders
    hand an outcome over and go on to their next message; ``flush`` waits for every write.

    A group is taken when its write starts in the store thread, not when it is handed to that thread: the
    thread is often busy preparing the next batch meanwhile, and every outcome that comes in while the write
    waits its turn joins it, so it costs no transaction of its own.
    """

    def __init__(self, store: Store, thread: StoreThread, worker: str) -> None:
        self.store = store
        self.thread = thread
        self.worker = worker
        #: ingests the bounce events, under the rules of the version being delivered
        self.processor: Processor | None = None
        #: outcomes not yet taken by a write; the store thread takes them, so they change hands under the lock
        self._waiting: list[_Pending] = []
        self._lock = threading.Lock()
        self._writer: asyncio.Task[None] | None = None

    def submit(self, item: Ready, outcome: SendOutcome) -> asyncio.Future[bool]:
        """Keep ``outcome`` in the next write; the future says False when the lease was lost, so the outcome
        was not ours to keep."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.append((item, outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return done

    async def record(self, item: Ready, outcome: SendOutcome) -> bool:
        """Keep ``outcome`` and wait until it is kept; False when the lease was lost."""
        return await self.submit(item, outcome)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (or has failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._waiting:
            kept: list[bool] | Exception
            try:
                batch, kept = await self.thread.run(self._write_waiting)
            except Exception as err:  # the store thread took no work (it is shut down): nothing was written
                with self._lock:
                    batch, self._waiting = self._waiting, []
                kept = err
            # the futures belong to the event loop: they are settled here, not in the store thread
            for n, (*_, done) in enumerate(batch):
                if done.done():
                    continue
                if isinstance(kept, Exception):  # the senders waiting on this group see the error
                    done.set_exception(kept)
                else:
                    done.set_result(kept[n])

    def _write_waiting(self) -> tuple[list[_Pending], list[bool] | Exception]:
        """In the store thread: write every outcome waiting now; per outcome, whether it was ours to keep, or
        the error that kept the group from being written."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        if not batch:
            return batch, []
        try:
            return batch, self._write_batch([(item, outcome) for item, outcome, _ in batch])
        except Exception as err:
            return batch, err

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
            return tx.outbox.record_all([(item.message, outcome, item.data if item.message.data is None else None)
                                         for item, outcome in batch], self.worker)


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
        """Send what is due until nothing is left or the daemon is stopping; every send started is recorded.

        At most two batches wait at a time (one queued for the senders, one being prepared), so a daemon
        holds little more under lease than it is about to send.
        """
        stats = DeliveryStats()
        sender = str(rules.symbols.settings.get("sender address"))
        self.recorder.processor = Processor(self.store, rules, templates[0], self.clock)
        queue: asyncio.Queue[Ready | None] = asyncio.Queue(maxsize=self.claim_limit)
        #: messages claimed and not yet recorded (queued, being sent or being recorded), whose leases are kept,
        #: with until when each is known to be ours: the time read before its last claim or renewal was written,
        #: plus a lease (the store may hold a later expiry, never an earlier one)
        leased: dict[int, dt.datetime] = {}
        recording: set[asyncio.Future[bool]] = set()
        #: messages prepared but not taken by a sender before the daemon began stopping
        unsent: list[Ready] = []
        senders = [asyncio.create_task(self._sender(queue, sender, stats, leased, recording, unsent))
                   for _ in range(max(1, self.claim_limit))]
        keeper = asyncio.create_task(self._keep_leases(leased))
        try:
            while not self.stopping():
                since = self.clock.now()
                ready = await self.thread.run(self._claim_and_prepare, rules, templates, stats)
                if ready is None:
                    break
                # the whole batch is leased (and so renewed) before any of it waits for room in the queue:
                # a message left out would see its claim run out while it waits, and be claimed again
                for item in ready:
                    leased[item.message.id] = since + self.lease
                for item in ready:
                    await queue.put(item)
        finally:
            for _ in senders:  # every message already prepared is sent; then the senders end
                await queue.put(None)
            await asyncio.gather(*senders, return_exceptions=True)
            if unsent:
                await self.thread.run(self._release, [item.message.id for item in unsent])
                for item in unsent:
                    leased.pop(item.message.id, None)
            await self.recorder.flush()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        for failed in (f.exception() for f in recording if f.done() and not f.cancelled()):
            if failed is not None:  # the store failed while recording: the tick fails, leases expire
                raise failed
        return stats

    async def _sender(self, queue: asyncio.Queue[Ready | None], sender: str, stats: DeliveryStats,
                      leased: dict[int, dt.datetime], recording: set[asyncio.Future[bool]],
                      unsent: list[Ready]) -> None:
        while (item := await queue.get()) is not None:
            if self.stopping():  # stopping: what has not started is given back, not sent
                unsent.append(item)
                continue
            outcome = await self._send(item, sender, stats, leased)
            if outcome is None:  # not sent: given back, due again for the next claim (ours or another's)
                leased.pop(item.message.id, None)
                await self.thread.run(self._release, [item.message.id])
                continue
            kept = self.recorder.submit(item, outcome)
            recording.add(kept)
            kept.add_done_callback(functools.partial(self._recorded, item=item, outcome=outcome, stats=stats,
                                                     leased=leased, recording=recording))

    def _recorded(self, done: asyncio.Future[bool], *, item: Ready, outcome: SendOutcome, stats: DeliveryStats,
                  leased: dict[int, dt.datetime], recording: set[asyncio.Future[bool]]) -> None:
        message = item.message
        leased.pop(message.id, None)
        if done.cancelled() or done.exception() is not None:
            return  # kept in ``recording``: deliver raises it
        recording.discard(done)
        if not done.result():
            stats.lost += 1
            log.warning("lease lost while sending: the outcome is left to the daemon holding the message now",
                        extra={"fields": {"message_id": message.id, "status": outcome.status}})
        elif outcome.status == "sent":
            stats.sent += 1
        elif outcome.status == "retry":
            stats.retried += 1
        else:
            stats.failed += 1
            stats.errors.append(f"{message.to_address} {message.template}: {outcome.reply}")

    async def _keep_leases(self, leased: dict[int, dt.datetime]) -> None:
        """Renew the leases of the messages claimed and not yet recorded, a third of a lease at a time.

        Sending may take longer than one lease (a slow server, many messages per connection); without
        renewals another daemon would take over messages still queued here and both would send them. A
        message whose lease was lost all the same is dropped from ``leased``, and so never sent by this
        daemon (nor its outcome recorded: the store refuses it).
        """
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            asked = sorted(leased)
            if asked:
                since = self.clock.now()
                held = await self.thread.run(self._renew, asked)
                for message_id in asked:
                    if message_id not in held:
                        leased.pop(message_id, None)
                    elif message_id in leased:  # not recorded while the renewal ran
                        leased[message_id] = since + self.lease

    def _renew(self, ids: list[int]) -> set[int]:
        with self.store.transaction() as tx:
            return tx.outbox.renew(ids, self.worker, self.clock.now() + self.lease)

    def _release(self, ids: list[int]) -> None:
        with self.store.transaction() as tx:
            tx.outbox.release(ids, self.worker)

    def _claim_and_prepare(self, rules: Rules, templates: Templates, stats: DeliveryStats) -> list[Ready] | None:
        """Claim a batch and clear it for sending; None when nothing is due."""
        with self.store.transaction() as tx:
            ids = tx.outbox.claim(self.worker, self.claim_limit, self.lease, self.clock)
        if not ids:
            return None
        return self.preparer.prepare(ids, rules, templates, self.clock.now(), stats)

    async def _send(self, item: Ready, sender: str, stats: DeliveryStats,
                    leased: dict[int, dt.datetime]) -> SendOutcome | None:
        """Send one message; its outcome, or None when its lease was lost before its turn came."""
        message = item.message
        # Sent only while the lease is known to have a third of its time left. A renewal held up (a busy
        # machine, a slow store) leaves the message to whichever daemon claims it when the lease runs out,
        # rather than risk sending it beside that daemon.
        held_until = leased.get(message.id)
        if held_until is None or self.clock.now() > held_until - self.lease / 3:
            stats.lost += 1
            log.warning("lease lost, or not known to be held, before sending: the daemon that claims the message "
                        "next sends it", extra={"fields": {"message_id": message.id}})
            return None
        try:
            result = await self.router.for_kind(message.kind).send(
                Message(message.kind, message.key, sender, (message.to_address,), item.data))
        except Exception as err:  # a transport that raised instead of answering: this message alone fails
            log.warning("send raised", exc_info=True, extra={"fields": {"message_id": message.id}})
            result = SendResult("permanent", None, f"could not be sent: {type(err).__name__}: {err}")
        return self._outcome(message, result)

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
