"""The console's users: who may sign in, with which role, and their password hash (never the password)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import USERS


class User(NamedTuple):
    id: int
    email: str
    role: str
    password_hash: str
    created_at: dt.datetime
    updated_at: dt.datetime


_COLUMNS = (USERS.c.id, USERS.c.email, USERS.c.role, USERS.c.password_hash, USERS.c.created_at, USERS.c.updated_at)


class Users(Repository):
    """Console users, keyed by their (lower-cased) email."""

    def get(self, user_id: int) -> User | None:
        row = self.conn.execute(sa.select(*_COLUMNS).where(USERS.c.id == user_id)).first()
        return None if row is None else User._make(row)

    def by_email(self, email: str) -> User | None:
        row = self.conn.execute(sa.select(*_COLUMNS).where(USERS.c.email == email)).first()
        return None if row is None else User._make(row)

    def all(self) -> list[User]:
        return [User._make(row) for row in self.conn.execute(sa.select(*_COLUMNS).order_by(USERS.c.email))]

    def save(self, email: str, role: str, password_hash: str, now: dt.datetime) -> bool:
        """Add the user, or give an existing one this role and password; True when it was added."""
        changed = self.conn.execute(USERS.update().where(USERS.c.email == email)
                                    .values(role=role, password_hash=password_hash, updated_at=now)).rowcount
        if changed:
            return False
        self.conn.execute(USERS.insert().values(email=email, role=role, password_hash=password_hash,
                                                created_at=now, updated_at=now))
        return True

    def set_hash(self, user_id: int, password_hash: str) -> None:
        """A rehash of the same password (stronger parameters): sessions stay valid."""
        self.conn.execute(USERS.update().where(USERS.c.id == user_id).values(password_hash=password_hash))

    def remove(self, email: str) -> bool:
        return self.conn.execute(USERS.delete().where(USERS.c.email == email)).rowcount > 0
