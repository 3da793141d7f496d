"""Which daemons run, and their heartbeat."""

from __future__ import annotations

import datetime as dt

from engine.store.base import Repository
from engine.store.tables import DAEMONS


class Daemons(Repository):
    """Which daemons run, and their heartbeat."""

    def register(self, name: str, now: dt.datetime) -> None:
        """Announce daemon ``name`` as started now (replacing a stale row a crashed namesake left)."""
        self.conn.execute(DAEMONS.delete().where(DAEMONS.c.name == name))
        self.conn.execute(DAEMONS.insert().values(name=name, started_at=now, heartbeat_at=now))

    def heartbeat(self, name: str, now: dt.datetime) -> None:
        self.conn.execute(DAEMONS.update().where(DAEMONS.c.name == name).values(heartbeat_at=now))

    def unregister(self, name: str) -> None:
        self.conn.execute(DAEMONS.delete().where(DAEMONS.c.name == name))
