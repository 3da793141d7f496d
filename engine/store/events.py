"""The events table: storing each event exactly once by its key, and leads' histories in order."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring, insert_many, one_of, read_json, read_time, values_param
from engine.store.tables import EVENTS

#: an event to store: key, lead_id, type, at, props, received_at (a plain dict, as the bulk insert takes it)
NewEvent = dict[str, Any]


class StoredEvent(NamedTuple):
    """One event of a lead's history."""

    key: str
    type: str
    #: when it happened, in seconds since the epoch (as the evaluator reads time)
    at: float
    props: dict[str, Any]


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
        sql = f"SELECT key FROM events WHERE {one_of(self.conn, 'key')}"
        seen = {key for key, in self.conn.exec_driver_sql(sql, (values_param(self.conn, [r["key"] for r in rows]),))}
        new = [r for r in rows if r["key"] not in seen]
        insert_many(self.conn, EVENTS, new)
        return {r["key"] for r in new}

    def histories(self, lead_ids: Sequence[int]) -> dict[int, list[StoredEvent]]:
        """Each of these leads' events in the order they happened (ties by key); leads without any are absent."""
        found: dict[int, list[StoredEvent]] = defaultdict(list)
        if not lead_ids:
            return found
        # the driver's statement: a replay reads whole histories, and typed columns cost more than the query
        sql = (f"SELECT lead_id, key, type, at, props FROM {EVENTS.name} WHERE {one_of(self.conn, 'lead_id')} "
               f"ORDER BY lead_id, at, key")
        for lead_id, key, etype, at, props in self.conn.exec_driver_sql(sql, (values_param(self.conn, lead_ids),)):
            found[lead_id].append(StoredEvent(key, etype, read_time(at), read_json(props) or {}))
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

    def props_of(self, lead_id: int, event_type: str, now: dt.datetime, since: dt.datetime | None,
                 after: dt.datetime | None, limit: int) -> list[dict[str, Any]]:
        """The props of a lead's events of one type up to ``now``: at or after ``since``, strictly after
        ``after`` (each bound optional), at most ``limit`` of them."""
        params: dict[str, Any] = {"_lead": lead_id, "_type": event_type, "_now": now}
        if since is not None:
            params["_since"] = since
        if after is not None:
            params["_after"] = after
        query = _props_query(since is not None, after is not None, limit)
        return [props or {} for props in self.conn.execute(query, params).scalars()]


_PROPS: dict[tuple[bool, bool, int], sa.Select[Any]] = {}


def _props_query(since: bool, after: bool, limit: int) -> sa.Select[Any]:
    """The statement for `props_of` with or without each bound, built once."""
    key = (since, after, limit)
    if key not in _PROPS:
        query = sa.select(EVENTS.c.props).where(EVENTS.c.lead_id == sa.bindparam("_lead"),
                                                EVENTS.c.type == sa.bindparam("_type"),
                                                EVENTS.c.at <= sa.bindparam("_now"))
        if since:
            query = query.where(EVENTS.c.at >= sa.bindparam("_since"))
        if after:
            query = query.where(EVENTS.c.at > sa.bindparam("_after"))
        _PROPS[key] = query.limit(limit)
    return _PROPS[key]
