"""The outbox: claiming due messages, checking consent and pacing, rendering once, sending, recording.

Each message is claimed under a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so daemons sharing a
database never take the same one; a daemon that dies leaves a lease that simply expires.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.core.journeys import Enqueue
from engine.core.schedule import capped_until, quiet_until, zone
from engine.delivery.smtp import MAX_ATTEMPTS, SendResult, retry_delay
from engine.store.base import Repository
from engine.store.bulk import insert_ignoring, insert_many
from engine.store.tables import LEADS, OUTBOX, SUPPRESSIONS

# A message leased to a worker, updated only while that worker holds it; built once (SQLAlchemy
# builds a statement in ~150 us, six times executing it) and given the columns to set.
_LEASED = OUTBOX.update().where(OUTBOX.c.id == sa.bindparam("_id"), OUTBOX.c.leased_by == sa.bindparam("_worker"))


def update_leased(conn: Connection, row_id: int, worker: str, **values) -> None:
    """Set ``values`` on message ``row_id`` if ``worker`` still holds its lease."""
    conn.execute(_LEASED, {"_id": row_id, "_worker": worker, **values})


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryStats) -> None:
        for name in ("sent", "failed", "retried", "deferred", "suppressed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


def claim(db: Engine, worker: str, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[int]:
    """Lease up to ``limit`` due messages to ``worker`` for ``lease``; returns their ids.

    A daemon that dies holding a lease blocks nobody for longer than the lease.
    """
    with db.begin() as conn:
        query = (sa.select(OUTBOX.c.id).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at <= now,
                                               sa.or_(OUTBOX.c.leased_until.is_(None), OUTBOX.c.leased_until < now))
                 .order_by(OUTBOX.c.due_at, OUTBOX.c.id).limit(limit))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if ids:
            conn.execute(OUTBOX.update().where(OUTBOX.c.id.in_(ids)).values(leased_by=worker, leased_until=now + lease))
        return ids


def next_allowed(conn: Connection, row, settings: dict, caps: dict[str, int], quiet, now: dt.datetime,
                 tz_name: str | None, going: list[dt.datetime] = (),  # type: ignore[assignment]
                 sent: list[dt.datetime] | None = None) -> dt.datetime:
    """When a marketing email may go: after quiet hours and within the lead's frequency caps.

    ``going`` are sends to the same lead already cleared in this batch but not yet sent; ``sent``
    the lead's recent sends when the caller has read them for a whole batch (`recent_sends`).
    """
    at = now
    tz = zone(tz_name, str(settings.get("default timezone") or "UTC"))
    if caps:
        if sent is None:
            since = now - dt.timedelta(days=7 if "week" in caps else 1)
            sent = recent_sends(conn, [row.lead_id], since).get(row.lead_id, [])
        at = capped_until(at, list(sent) + list(going), caps)
    if quiet is not None:
        at = quiet_until(at, tz, (quiet.start.hour, quiet.start.minute), (quiet.end.hour, quiet.end.minute))
    return at


def recent_sends(conn: Connection, lead_ids: list[int], since: dt.datetime) -> dict[int, list[dt.datetime]]:
    """Marketing emails sent to these leads after ``since``, per lead (what frequency caps count)."""
    found: dict[int, list[dt.datetime]] = {}
    unique = sorted(set(lead_ids))
    for start in range(0, len(unique), 500):
        for lead_id, sent_at in conn.execute(sa.select(OUTBOX.c.lead_id, OUTBOX.c.sent_at).where(
                OUTBOX.c.lead_id.in_(unique[start:start + 500]), OUTBOX.c.kind == "marketing",
                OUTBOX.c.status == "sent", OUTBOX.c.sent_at > since)):
            found.setdefault(lead_id, []).append(sent_at)
    return found


def suppressed_among(conn: Connection, emails: list[str]) -> set[str]:
    """Those of ``emails`` that are suppressed, in one query."""
    unique = sorted(set(emails))
    found: set[str] = set()
    for start in range(0, len(unique), 500):
        found.update(conn.execute(sa.select(SUPPRESSIONS.c.email)
                                  .where(SUPPRESSIONS.c.email.in_(unique[start:start + 500]))).scalars())
    return found


def suppress(conn: Connection, email: str, reason: str, now: dt.datetime) -> None:
    insert_ignoring(conn, SUPPRESSIONS, [{"email": email, "reason": reason[:2000], "created_at": now}], "email")


def record(conn: Connection, row, result: SendResult, now: dt.datetime, worker: str,
           rng: random.Random) -> str:
    """Store a send's outcome; returns "sent", "retry" or "failed"."""
    attempts = row.attempts + 1
    if result.status == "sent":
        update_leased(conn, row.id, worker, status="sent", sent_at=now, attempts=attempts, leased_by=None,
                      leased_until=None, last_error=None)
        return "sent"
    reply = f"{result.code or ''} {result.reply}".strip()[:2000]
    if result.status == "temporary" and attempts < MAX_ATTEMPTS:
        update_leased(conn, row.id, worker, attempts=attempts, last_error=reply, leased_by=None, leased_until=None,
                      due_at=now + dt.timedelta(seconds=retry_delay(attempts, rng)))
        return "retry"
    update_leased(conn, row.id, worker, status="failed", attempts=attempts, last_error=reply, leased_by=None,
                  leased_until=None)
    if row.kind == "marketing" and result.about_recipient:  # not when the server refuses our own sender
        suppress(conn, row.to_address, f"bounced: {reply}", now)
        conn.execute(LEADS.update().where(LEADS.c.id == row.lead_id).values(suppressed_reason=f"bounced: {reply}"))
    return "failed"


class Outbox(Repository):
    """Outbound messages: claiming due ones under a lease, and recording what became of each."""

    def enqueue(self, message: Enqueue, message_id: str, now: dt.datetime) -> None:
        """Put one message in the outbox under its key; a key already there is left as it is."""
        insert_many(self.conn, OUTBOX, [{
            "key": message.key, "lead_id": message.lead_id, "enrollment_id": message.enrollment_id,
            "kind": str(message.kind), "journey": message.journey, "step": message.step,
            "template": message.template, "to_address": message.to, "message_id": message_id, "status": "queued",
            "due_at": message.due, "created_at": now, "sent_at": None, "attempts": 0, "deferrals": 0,
            "last_error": None, "data": None, "leased_by": None, "leased_until": None,
        }], ignore_conflicts_on="key")

    def set_body_once(self, key: str, data: bytes) -> None:
        """The bytes of a message taken when it was queued (a webhook's JSON), unless it has them already."""
        self.conn.execute(OUTBOX.update().where(OUTBOX.c.key == key, OUTBOX.c.data.is_(None)).values(data=data))
