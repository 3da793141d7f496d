"""The outbox: claiming due messages under a lease, and recording what became of each.

Each message is claimed under a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so daemons sharing a
database never take the same one; a daemon that dies leaves a lease that simply expires. Every
write to a claimed message is conditional on its lease, and says whether it still held it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.clock import Clock
from engine.core.journeys import FINISHED, Enqueue, EnrollmentStatus
from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring, insert_many
from engine.store.tables import ENROLLMENTS, LEADS, OUTBOX, SUPPRESSIONS

# A message leased to a worker, updated only while that worker holds it; built once (SQLAlchemy
# builds a statement in ~150 us, six times executing it) and given the columns to set.
_LEASED = OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id"), OUTBOX.c.leased_by == sa.bindparam("_worker"))
#: a message given back or done with: no daemon holds it, and it is not on its way
_RELEASED = {"leased_by": None, "leased_until": None, "cleared_at": None}
# What a finished send sets, one statement per outcome run over a whole group of messages (executemany).
# The composed bytes are kept with the outcome unless the message had them already (a retry, a webhook).
_KEEP_DATA = sa.func.coalesce(OUTBOX.c.data, sa.bindparam("_data", type_=OUTBOX.c.data.type))
_IDS: sa.BindParameter[Any] = sa.bindparam("_ids", expanding=True)
#: the delivery loop's reads and writes, run for every batch and every group of outcomes, built once for the
#: same reason: building them cost more than running them
_DUE = (sa.select(OUTBOX.c.id).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= sa.bindparam("_now"),
                                     sa.or_(OUTBOX.c.leased_until.is_(None),
                                            OUTBOX.c.leased_until < sa.bindparam("_now")))
        .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(sa.bindparam("_limit")))
_DUE_SKIPPING_LOCKED = _DUE.with_for_update(skip_locked=True)  # PostgreSQL: rows another daemon is claiming are skipped
_LEASE = OUTBOX.update().where(OUTBOX.c.id.in_(_IDS)).values(leased_by=sa.bindparam("_worker"),
                                                              leased_until=sa.bindparam("_until"), cleared_at=None)
_HELD = sa.select(OUTBOX.c.id).where(OUTBOX.c.id.in_(_IDS), OUTBOX.c.leased_by == sa.bindparam("_worker"))
_HELD_LOCKED = _HELD.with_for_update()
_RENEW = OUTBOX.update().where(OUTBOX.c.id.in_(_IDS)).values(leased_until=sa.bindparam("_until"))
_CLEAR = OUTBOX.update().where(OUTBOX.c.id.in_(_IDS)).values(leased_until=sa.bindparam("_until"),
                                                             cleared_at=sa.bindparam("_cleared"))
_RECENT = sa.select(OUTBOX.c.lead_id, OUTBOX.c.sent_at, OUTBOX.c.kind, OUTBOX.c.status).where(
    OUTBOX.c.lead_id.in_(_IDS), OUTBOX.c.sent_at > sa.bindparam("_since"))
#: marketing mail a daemon has cleared to go and holds, its outcome not yet kept: on its way
_ON_ITS_WAY = sa.select(OUTBOX.c.lead_id, OUTBOX.c.cleared_at).where(
    OUTBOX.c.lead_id.in_(_IDS), OUTBOX.c.cleared_at > sa.bindparam("_since"), OUTBOX.c.status == "queued",
    OUTBOX.c.kind == "marketing", OUTBOX.c.leased_until >= sa.bindparam("_now"))
_SUPPRESSED = sa.select(SUPPRESSIONS.c.email).where(SUPPRESSIONS.c.email.in_(sa.bindparam("_emails", expanding=True)))
_ENDED = (sa.select(OUTBOX.c.id, ENROLLMENTS.c.journey, ENROLLMENTS.c.end_reason)
          .join(ENROLLMENTS, ENROLLMENTS.c.id == OUTBOX.c.enrollment_id)
          .where(OUTBOX.c.id.in_(_IDS), OUTBOX.c.kind == "marketing",
                 sa.or_(ENROLLMENTS.c.status == str(EnrollmentStatus.EXITED),
                        sa.and_(ENROLLMENTS.c.status == str(EnrollmentStatus.DONE),
                                ENROLLMENTS.c.end_reason != FINISHED))))
_OUTCOME = {
    "sent": OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id")).values(
        status="sent", sent_at=sa.bindparam("_at"), last_error=None, attempts=sa.bindparam("_attempts"),
        data=_KEEP_DATA, **_RELEASED),
    "retry": OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id")).values(
        due_at=sa.bindparam("_retry_at"), last_error=sa.bindparam("_reply"), attempts=sa.bindparam("_attempts"),
        data=_KEEP_DATA, **_RELEASED),
    "failed": OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id")).values(
        status="failed", last_error=sa.bindparam("_reply"), attempts=sa.bindparam("_attempts"),
        data=_KEEP_DATA, **_RELEASED),
}


class QueuedMessage(NamedTuple):
    """A claimed message, as delivery reads it."""

    id: int
    key: str
    lead_id: int
    kind: str
    journey: str | None
    template: str
    to_address: str
    message_id: str
    attempts: int
    deferrals: int
    #: the composed message, kept from its first attempt (a webhook's body from when it was queued)
    data: bytes | None
    #: the subscription topic of a marketing email, checked against the lead's opt-outs at send time
    topic: str | None = None


_QUEUED_COLUMNS = [OUTBOX.c[name] for name in QueuedMessage._fields]
_LOAD = sa.select(*_QUEUED_COLUMNS).where(OUTBOX.c.id.in_(_IDS)).order_by(OUTBOX.c.id)


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt came to, as the outbox keeps it."""

    status: Literal["sent", "retry", "failed"]
    #: tries so far, this one included
    attempts: int
    at: dt.datetime
    #: the server's reply, kept for a retry or a failure
    reply: str | None = None
    #: when to try again, for a retry
    retry_at: dt.datetime | None = None
    #: a refusal that concerns the address itself: suppress it and mark the lead bounced
    bounced: bool = False


def suppress(conn: Connection, email: str, reason: str, now: dt.datetime) -> None:
    """Keep marketing email from ``email`` for good (an unsubscribe, a complaint, a bounce)."""
    insert_ignoring(conn, SUPPRESSIONS, [{"email": email, "reason": reason[:2000], "created_at": now}], "email")


class Outbox(Repository):
    """Outbound messages: claiming due ones under a lease, and recording what became of each."""

    def enqueue(self, message: Enqueue, message_id: str, now: dt.datetime) -> None:
        """Put one message in the outbox under its key; a key already there is left as it is."""
        insert_many(self.conn, OUTBOX, [{
            "key": message.key, "lead_id": message.lead_id, "enrollment_id": message.enrollment_id,
            "kind": str(message.kind), "journey": message.journey, "step": message.step,
            "template": message.template, "to_address": message.to, "message_id": message_id, "status": "queued",
            "due_at": message.due, "created_at": now, "sent_at": None, "attempts": 0, "deferrals": 0,
            "last_error": None, "data": None, "leased_by": None, "leased_until": None, "topic": message.topic,
        }], ignore_conflicts_on="key")

    def set_body_once(self, key: str, data: bytes) -> None:
        """The bytes of a message taken when it was queued (a webhook's JSON), unless it has them already."""
        self.conn.execute(OUTBOX.update().where(OUTBOX.c.key == key, OUTBOX.c.data.is_(None)).values(data=data))

    def claim(self, worker: str, limit: int, lease: dt.timedelta, clock: Clock) -> list[int]:
        """Lease up to ``limit`` due messages to ``worker``; returns their ids.

        The lease runs from the clock read once this transaction holds the store, not from when the
        caller began its work, so a claim made late in a long tick is not born expired. A daemon that
        dies holding a lease blocks nobody for longer than the lease.
        """
        now = clock.now()
        ids = list(self.conn.execute(_DUE_SKIPPING_LOCKED if self.postgres else _DUE,
                                     {"_now": now, "_limit": limit}).scalars())
        if ids:
            self.conn.execute(_LEASE, {"_ids": ids, "_worker": worker, "_until": now + lease})
        return ids

    def load(self, ids: list[int]) -> list[QueuedMessage]:
        """These messages, in id order."""
        found: list[QueuedMessage] = []
        for part in chunks(sorted(ids)):
            found += [QueuedMessage._make(row) for row in self.conn.execute(_LOAD, {"_ids": part})]
        return found

    def update_leased(self, message_id: int, worker: str, **values: Any) -> bool:
        """Set ``values`` on a message if ``worker`` still holds its lease; False when it no longer does."""
        return self.conn.execute(_LEASED, {"_id": message_id, "_worker": worker, **values}).rowcount > 0

    def renew(self, message_ids: list[int], worker: str, until: dt.datetime) -> set[int]:
        """Extend ``worker``'s leases on these messages to ``until``; returns those it still held (the rest
        another daemon took after their lease ran out, so they are no longer ``worker``'s to send)."""
        held = self._leased_to(worker, message_ids)
        for part in chunks(sorted(held)):
            self.conn.execute(_RENEW, {"_ids": part, "_until": until})
        return held

    def clear_to_send(self, message_ids: list[int], worker: str, until: dt.datetime, now: dt.datetime) -> set[int]:
        """Mark these messages cleared to go at ``now``, their leases extended to ``until``; returns those
        ``worker`` still held. Until their outcome is kept, every daemon's caps count them as sent."""
        held = self._leased_to(worker, message_ids)
        for part in chunks(sorted(held)):
            self.conn.execute(_CLEAR, {"_ids": part, "_until": until, "_cleared": now})
        return held

    def release(self, message_ids: list[int], worker: str) -> None:
        """Give back ``worker``'s leases on these messages, unsent (a daemon stopping): due again at once."""
        for part in chunks(sorted(message_ids)):
            self.conn.execute(OUTBOX.update().where(OUTBOX.c.id.in_(part), OUTBOX.c.leased_by == worker)
                              .values(**_RELEASED))

    def defer(self, message_id: int, worker: str, due_at: dt.datetime, deferrals: int, why: str = "") -> bool:
        """Put a message back until ``due_at`` (quiet hours, frequency caps); ``why``, when given, is kept as its
        last error, so the outbox says what holds it back."""
        reason = {"last_error": why} if why else {}
        return self.update_leased(message_id, worker, due_at=due_at, deferrals=deferrals, **reason, **_RELEASED)

    def drop(self, message_id: int, worker: str, status: Literal["suppressed", "failed"], reason: str) -> bool:
        """Give a message up before sending it: suppressed (no consent) or failed (it cannot be composed)."""
        return self.update_leased(message_id, worker, status=status, last_error=reason[:2000], **_RELEASED)

    def record(self, message: QueuedMessage, worker: str, outcome: SendOutcome, data: bytes | None = None) -> bool:
        """Keep a send's outcome and release the lease; False when the lease was lost before the answer
        came (another daemon holds the message now, so the outcome is not ours to record)."""
        return self.record_all([(message, outcome, data)], worker)[0]

    def record_all(self, finished: list[tuple[QueuedMessage, SendOutcome, bytes | None]], worker: str) -> list[bool]:
        """Keep the outcomes of a group of finished sends in a few statements, with the bytes each message
        went out as (unless it had them already); per message, False when ``worker`` had lost its lease
        before the answer came, so the outcome was not its to record.

        The leases are checked first and held for the rest of the transaction (PostgreSQL: `FOR UPDATE`;
        SQLite: the transaction holds the write lock), so the updates that follow need no check of their own.
        """
        held = self._leased_to(worker, [message.id for message, _, _ in finished])
        by_status: dict[str, list[dict[str, Any]]] = {}
        for message, outcome, data in finished:
            if message.id not in held:
                continue
            by_status.setdefault(outcome.status, []).append({
                "_id": message.id, "_at": outcome.at, "_attempts": outcome.attempts, "_reply": outcome.reply,
                "_retry_at": outcome.retry_at, "_data": data})
        for status, params in by_status.items():
            self.conn.execute(_OUTCOME[status], params)
        for message, outcome, _ in finished:
            if outcome.bounced and message.id in held:
                reason = f"bounced: {outcome.reply}"
                self.suppress(message.to_address, reason, outcome.at)
                self.conn.execute(LEADS.update().where(LEADS.c.id == message.lead_id)
                                  .values(suppressed_reason=reason))
        return [message.id in held for message, _, _ in finished]

    def _leased_to(self, worker: str, message_ids: list[int]) -> set[int]:
        """Those of these messages ``worker`` still holds, locked for the rest of the transaction."""
        held: set[int] = set()
        query = _HELD_LOCKED if self.postgres else _HELD
        for part in chunks(sorted(set(message_ids))):
            held.update(self.conn.execute(query, {"_ids": part, "_worker": worker}).scalars())
        return held

    def recent_sends(self, lead_ids: list[int], since: dt.datetime, now: dt.datetime) -> dict[int, list[dt.datetime]]:
        """Marketing emails sent to these leads after ``since``, per lead (what frequency caps count), and those
        on their way now: cleared to go by a daemon that still holds them, counted from when they were cleared.
        Another daemon may be sending them this very moment."""
        found: dict[int, list[dt.datetime]] = {}
        # Only the leads and the window are in the query, so that it reads ix_outbox_lead_sent: given
        # `status = 'sent'` too, SQLite chose ix_outbox_due and walked every message ever sent, once per batch.
        # Kind and status are checked here, on the few rows the index finds.
        for part in chunks(sorted(set(lead_ids))):
            for lead_id, sent_at, kind, status in self.conn.execute(_RECENT, {"_ids": part, "_since": since}):
                if kind == "marketing" and status == "sent":
                    found.setdefault(lead_id, []).append(sent_at)
            for lead_id, cleared_at in self.conn.execute(_ON_ITS_WAY, {"_ids": part, "_since": since, "_now": now}):
                found.setdefault(lead_id, []).append(cleared_at)
        return found

    def suppressed_among(self, emails: list[str]) -> set[str]:
        """Those of ``emails`` that are suppressed, in one query per 500."""
        found: set[str] = set()
        for part in chunks(sorted(set(emails))):
            found.update(self.conn.execute(_SUPPRESSED, {"_emails": part}).scalars())
        return found

    def suppress(self, email: str, reason: str, now: dt.datetime) -> None:
        """Suppress ``email`` (a bounce found at send time); kept here until suppressions have their own home."""
        suppress(self.conn, email, reason, now)

    def newest(self, limit: int, *, failed_only: bool = False) -> list[dict[str, Any]]:
        """The latest messages, newest first, as `nurture outbox list` shows them."""
        columns = [OUTBOX.c.id, OUTBOX.c.to_address, OUTBOX.c.kind, OUTBOX.c.journey, OUTBOX.c.step,
                   OUTBOX.c.template, OUTBOX.c.status, OUTBOX.c.due_at, OUTBOX.c.sent_at, OUTBOX.c.attempts,
                   OUTBOX.c.deferrals, OUTBOX.c.last_error, OUTBOX.c.message_id]
        query = sa.select(*columns).order_by(OUTBOX.c.id.desc()).limit(limit)
        if failed_only:
            query = query.where(OUTBOX.c.status == "failed")
        return [dict(row._mapping) for row in self.conn.execute(query)]

    def cancel_queued(self, enrollment_id: int, journey: str, why: str, now: dt.datetime) -> int:
        """Cancel what an enrolment of ``journey`` queued and has not sent, as it leaves the journey (``why``:
        its exit, its goal, the journey removed); returns how many.

        A message a daemon holds under a live lease is left to the send-time check, which sees the
        enrolment ended: taking the lease away here could not stop a send already under way.
        """
        return self.conn.execute(OUTBOX.update().where(
            OUTBOX.c.enrollment_id == enrollment_id, OUTBOX.c.status == "queued",
            sa.or_(OUTBOX.c.leased_until.is_(None), OUTBOX.c.leased_until < now),
        ).values(status="cancelled", last_error=f"journey {journey} ended: {why}"[:2000])).rowcount

    def ended_journeys(self, message_ids: list[int]) -> dict[int, str]:
        """Those of these marketing messages whose journey enrolment has ended early (an exit, its goal, the
        journey removed), with why: message id -> "journey welcome ended: goal reached: demo.requested".

        A journey that ran to its end ("finished") still sends what its last steps queued, unless an exit or
        its goal comes first (`JourneyRunner.after_the_end` records it on the enrolment and cancels them).
        """
        found: dict[int, str] = {}
        for part in chunks(sorted(set(message_ids))):
            for message_id, journey, reason in self.conn.execute(_ENDED, {"_ids": part}):
                found[message_id] = f"journey {journey} ended: {reason or 'ended'}"
        return found

    def cancel(self, message_id: int, worker: str, reason: str) -> bool:
        """Give a message up for good before sending it, because what queued it no longer wants it sent."""
        return self.update_leased(message_id, worker, status="cancelled", last_error=reason[:2000], **_RELEASED)
