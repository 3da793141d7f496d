"""Engagement events: storing new ones exactly once, and reading a lead's history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import EVENTS


class Events(Repository):
    """Engagement events: storing new ones exactly once, and reading a lead's history."""

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
