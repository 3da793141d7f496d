"""The events table: storing each event exactly once by its key, and leads' histories in order."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring, insert_many
from engine.store.tables import EVENTS

#: an event to store: key, lead_id, type, at, props, received_at (a plain dict, as the bulk insert takes it)
NewEvent = dict[str, Any]


class StoredEvent(NamedTuple):
    """One event of a lead's history."""

    key: str
    type: str
    at: dt.datetime
    props: dict[str, Any]


_HISTORIES = sa.select(EVENTS.c.lead_id, EVENTS.c.key, EVENTS.c.type, EVENTS.c.at, EVENTS.c.props) \
    .where(EVENTS.c.lead_id.in_(sa.bindparam("ids", expanding=True))) \
    .order_by(EVENTS.c.lead_id, EVENTS.c.at, EVENTS.c.key)
_KEYS = sa.select(EVENTS.c.key).where(EVENTS.c.key.in_(sa.bindparam("keys", expanding=True)))


class Events(Repository):
    """The events table: storing each event exactly once by its key, and leads' histories in order."""

    def insert_new(self, rows: Sequence[NewEvent]) -> set[str]:
        """Store the events whose key is new; returns those keys (each event counts exactly once)."""
        if not rows:
            return set()
        if self.postgres:  # concurrent writers: let the unique index decide
            # in key order, so two writers inserting the same keys wait for each other, never deadlock
            return set(insert_ignoring(self.conn, EVENTS, sorted(rows, key=itemgetter("key")), "key", EVENTS.c.key))
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so a lookup is exact
        seen = set(self.conn.execute(_KEYS, {"keys": [r["key"] for r in rows]}).scalars())
        new = [r for r in rows if r["key"] not in seen]
        insert_many(self.conn, EVENTS, new)
        return {r["key"] for r in new}

    def histories(self, lead_ids: Sequence[int]) -> dict[int, list[StoredEvent]]:
        """Each of these leads' events in the order they happened (ties by key); leads without any are absent."""
        found: dict[int, list[StoredEvent]] = defaultdict(list)
        if not lead_ids:
            return found
        for lead_id, key, etype, at, props in self.conn.execute(_HISTORIES, {"ids": list(lead_ids)}):
            found[lead_id].append(StoredEvent(key, etype, at, props or {}))
        return found

    def existing_keys(self, keys: Sequence[str], received_at: dt.datetime | None = None) -> set[str]:
        """Those of ``keys`` that are stored (only those received at ``received_at``, when given)."""
        found: set[str] = set()
        for chunk in chunks(keys):
            query = sa.select(EVENTS.c.key).where(EVENTS.c.key.in_(chunk))
            if received_at is not None:
                query = query.where(EVENTS.c.received_at == received_at)
            found.update(self.conn.execute(query).scalars())
        return found
