"""The store's own small values (signing key, sweep progress), kept in the meta table."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store.base import Repository
from engine.store.tables import META


def set_meta(conn: Connection, values: dict[str, str]) -> None:
    """Insert or replace each key."""
    for key, value in values.items():
        if conn.execute(META.update().where(META.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(META.insert().values(key=key, value=value))


class MetaValues(Repository):
    """The store's own small values (signing key, sweep progress)."""

    def journey_sweep(self) -> tuple[int | None, dt.datetime | None]:
        """Where the periodic journey sweep stands: (cursor, started at); locked on PostgreSQL so one
        daemon advances it at a time."""
        query = sa.select(META.c.key, META.c.value).where(META.c.key.in_(("journey_sweep_cursor",
                                                                          "journey_sweep_started")))
        if self.postgres:
            query = query.with_for_update()
        values: dict[str, str] = {row.key: row.value for row in self.conn.execute(query)}
        cursor = values.get("journey_sweep_cursor") or None
        started = values.get("journey_sweep_started")
        return (int(cursor) if cursor else None), (dt.datetime.fromisoformat(started) if started else None)

    def set_journey_sweep(self, cursor: int | None, started: dt.datetime) -> None:
        set_meta(self.conn, {"journey_sweep_cursor": "" if cursor is None else str(cursor),
                             "journey_sweep_started": started.isoformat()})
