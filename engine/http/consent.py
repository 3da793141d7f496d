"""Unsubscribe and resubscribe in the store: the lead's flag and the suppression list, together."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store.outbox import suppress
from engine.store.tables import LEADS, SUPPRESSIONS

#: the suppression reason of an unsubscribe; only these are lifted by a resubscribe (never a bounce)
REASON = "unsubscribed"


def lead_of(conn: Connection, lead_id: int):
    return conn.execute(sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.unsubscribed_at)
                        .where(LEADS.c.id == lead_id)).first()


def unsubscribe(conn: Connection, lead_id: int, now: dt.datetime) -> bool:
    """Withdraw consent; True when the lead was subscribed until now."""
    lead = lead_of(conn, lead_id)
    if lead is None:
        return False
    suppress(conn, lead.email, f"{REASON} via the link in an email", now)
    if lead.unsubscribed_at is not None:
        return False
    conn.execute(LEADS.update().where(LEADS.c.id == lead_id).values(unsubscribed_at=now, updated_at=now))
    return True


def resubscribe(conn: Connection, lead_id: int, now: dt.datetime) -> bool:
    """Undo an unsubscribe; True when the lead was unsubscribed. A bounce's suppression stays."""
    lead = lead_of(conn, lead_id)
    if lead is None:
        return False
    conn.execute(SUPPRESSIONS.delete().where(SUPPRESSIONS.c.email == lead.email,
                                             SUPPRESSIONS.c.reason.like(f"{REASON}%")))
    if lead.unsubscribed_at is None:
        return False
    conn.execute(LEADS.update().where(LEADS.c.id == lead_id).values(unsubscribed_at=None, updated_at=now))
    return True
