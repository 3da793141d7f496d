"""Tracking from websites: publishable keys, and the events of visitors not identified yet."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring
from engine.store.tables import ANONYMOUS_EVENTS, PUBLISHABLE_KEYS, VISITORS


class KeyInfo(NamedTuple):
    key: str
    origins: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class AnonymousRow(NamedTuple):
    key: str
    type: str
    at: dt.datetime
    props: dict[str, Any]


def _info(row: Any) -> KeyInfo:
    return KeyInfo(row.key, list(row.origins or []), row.created_at, row.revoked_at)


class Visitors(Repository):
    """Publishable keys, anonymous visitors' events, and which visitor turned out to be which lead."""

    def add_key(self, key: str, origins: list[str], now: dt.datetime) -> None:
        self.conn.execute(PUBLISHABLE_KEYS.insert().values(key=key, origins=origins, created_at=now))

    def key(self, key: str) -> KeyInfo | None:
        row = self.conn.execute(sa.select(PUBLISHABLE_KEYS).where(PUBLISHABLE_KEYS.c.key == key)).first()
        return None if row is None else _info(row)

    def all_keys(self) -> list[KeyInfo]:
        return [_info(row) for row in self.conn.execute(
            sa.select(PUBLISHABLE_KEYS).order_by(PUBLISHABLE_KEYS.c.created_at, PUBLISHABLE_KEYS.c.key))]

    def revoke_key(self, key: str, now: dt.datetime) -> bool:
        """True when the key existed and was not revoked before."""
        done = self.conn.execute(PUBLISHABLE_KEYS.update()
                                 .where(PUBLISHABLE_KEYS.c.key == key, PUBLISHABLE_KEYS.c.revoked_at.is_(None))
                                 .values(revoked_at=now))
        return bool(done.rowcount)

    def lead_of(self, anonymous_id: str) -> str | None:
        """The address the visitor identified with, if it did."""
        return self.conn.execute(sa.select(VISITORS.c.email)
                                 .where(VISITORS.c.anonymous_id == anonymous_id)).scalar()

    def keep(self, anonymous_id: str, key: str, etype: str, at: dt.datetime, props: dict[str, Any],
             now: dt.datetime) -> bool:
        """Keep an event of an anonymous visitor; False when it was kept before (same key)."""
        return bool(insert_ignoring(self.conn, ANONYMOUS_EVENTS, [
            {"key": key, "anonymous_id": anonymous_id, "type": etype, "at": at, "props": props,
             "received_at": now}], "key", returning=ANONYMOUS_EVENTS.c.key))

    def history(self, anonymous_id: str) -> list[AnonymousRow]:
        """The visitor's anonymous events, oldest first."""
        return [AnonymousRow(r.key, r.type, r.at, r.props) for r in self.conn.execute(
            sa.select(ANONYMOUS_EVENTS).where(ANONYMOUS_EVENTS.c.anonymous_id == anonymous_id)
            .order_by(ANONYMOUS_EVENTS.c.at, ANONYMOUS_EVENTS.c.id))]

    def identify(self, anonymous_id: str, email: str, moved: list[str], now: dt.datetime) -> None:
        """The visitor is this lead from now on; its anonymous events the caller ``moved`` onto the lead go."""
        insert_ignoring(self.conn, VISITORS, [{"anonymous_id": anonymous_id, "email": email, "identified_at": now}],
                        "anonymous_id")
        self.conn.execute(VISITORS.update().where(VISITORS.c.anonymous_id == anonymous_id).values(email=email))
        for chunk in chunks(moved):
            self.conn.execute(ANONYMOUS_EVENTS.delete().where(ANONYMOUS_EVENTS.c.key.in_(chunk)))
