"""The outbox as an operator sees it: messages by state (queued, deferred, retrying, failed, cancelled, ...),
filtered and paged, and the two actions an admin takes on one: cancel it, or try it again."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import LEADS, OUTBOX

#: the states a message can be seen in, in the order the console lists them
STATES = ("queued", "deferred", "retrying", "failed", "cancelled", "suppressed", "sent")


class OutboxRow(NamedTuple):
    id: int
    state: str
    kind: str
    journey: str | None
    step: str | None
    template: str
    to_address: str
    lead_email: str | None
    due_at: dt.datetime
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attempts: int
    deferrals: int
    last_error: str | None


def _state() -> Any:
    """queued messages are deferred (put off by quiet hours or caps, not tried yet) or retrying (tried, with
    the server's reply kept); every other status is its own state."""
    o = OUTBOX.c
    return sa.case(
        (sa.and_(o.status == "queued", o.attempts > 0), "retrying"),
        (sa.and_(o.status == "queued", o.deferrals > 0), "deferred"),
        else_=o.status)


class Mailroom(Repository):
    """The outbox for people: counts by state, filtered pages, cancel and retry."""

    def counts(self) -> dict[str, int]:
        """Messages per state (states with none are absent)."""
        state = _state().label("state")
        return {s: int(n) for s, n in self.conn.execute(sa.select(state, sa.func.count()).group_by(state))}

    def page(self, *, state: str | None = None, journey: str | None = None, template: str | None = None,
             to: str | None = None, before_id: int | None = None, limit: int = 50) -> list[OutboxRow]:
        """Messages newest first, ``limit`` at a time; the next page starts below the last id shown."""
        o = OUTBOX.c
        query = (sa.select(o.id, _state().label("state"), o.kind, o.journey, o.step, o.template, o.to_address,
                           LEADS.c.email, o.due_at, o.created_at, o.sent_at, o.attempts, o.deferrals, o.last_error)
                 .select_from(OUTBOX.outerjoin(LEADS, LEADS.c.id == o.lead_id))
                 .order_by(o.id.desc()).limit(limit))
        if state:
            query = query.where(_state() == state)
        if journey:
            query = query.where(o.journey == journey)
        if template:
            query = query.where(o.template == template)
        if to:
            query = query.where(o.to_address.contains(to, autoescape=True))
        if before_id is not None:
            query = query.where(o.id < before_id)
        return [OutboxRow._make(row) for row in self.conn.execute(query)]

    def get(self, message_id: int) -> OutboxRow | None:
        rows = self.page(before_id=message_id + 1, limit=1)
        return rows[0] if rows and rows[0].id == message_id else None

    def cancel(self, message_id: int, reason: str, now: dt.datetime) -> bool:
        """Cancel a message not sent yet and not held by a daemon right now; False when it cannot be."""
        o = OUTBOX.c
        return self.conn.execute(OUTBOX.update().where(
            o.id == message_id, o.status == "queued",
            sa.or_(o.leased_until.is_(None), o.leased_until < now),
        ).values(status="cancelled", last_error=reason[:2000], leased_by=None, leased_until=None)).rowcount > 0

    def retry(self, message_id: int, now: dt.datetime) -> bool:
        """Queue a failed or cancelled message again, due now and composed afresh; a sent or suppressed one
        never is (consent is checked again when it goes). False when it cannot be retried."""
        o = OUTBOX.c
        return self.conn.execute(OUTBOX.update().where(
            o.id == message_id, o.status.in_(("failed", "cancelled")),
        ).values(status="queued", due_at=now, attempts=0, last_error=None, data=None, leased_by=None,
                 leased_until=None)).rowcount > 0

    def failures_since(self, since: dt.datetime) -> int:
        """Messages that failed for good, or wait for a retry, whose last attempt came after ``since``
        (approximated by messages with a reply kept and due or created since then)."""
        o = OUTBOX.c
        return self.conn.execute(sa.select(sa.func.count()).where(
            o.last_error.is_not(None), o.attempts > 0, o.status.in_(("failed", "queued")),
            sa.or_(o.due_at >= since, o.created_at >= since))).scalar_one()

    def oldest_due(self, now: dt.datetime) -> OutboxRow | None:
        """The queued message that has waited longest past its due time."""
        o = OUTBOX.c
        found = self.conn.execute(sa.select(o.id).where(o.status == "queued", o.due_at <= now)
                                  .order_by(o.due_at, o.id).limit(1)).scalar()
        return None if found is None else self.get(int(found))

    def body(self, message_id: int) -> bytes | None:
        """The composed message as it was (or will be) sent, when it has been composed."""
        return self.conn.execute(sa.select(OUTBOX.c.data).where(OUTBOX.c.id == message_id)).scalar()
