"""The store's own small values (signing key, sweep progress), kept in the meta table."""

from __future__ import annotations

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
