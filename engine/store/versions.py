"""Campaign versions: the files of each applied version and their hashes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine.store.base import Repository
from engine.store.tables import VERSIONS


@dataclass(frozen=True)
class Version:
    """An applied campaign version."""

    id: int
    #: every file it is made of (campaign sources and templates), by path
    files: dict[str, str]
    #: hash of its scoring and stage rules only: when it differs, every lead is rescored
    rules_hash: str
    #: hash of all its files
    hash: str


class Versions(Repository):
    """Campaign versions: the files of each applied version and their hashes."""

    def latest(self) -> Version | None:
        """The version applied last, if any."""
        row = self.conn.execute(sa.select(VERSIONS.c.id, VERSIONS.c.files, VERSIONS.c.rules_hash, VERSIONS.c.hash)
                                .order_by(VERSIONS.c.id.desc()).limit(1)).first()
        return None if row is None else Version(row.id, row.files, row.rules_hash, row.hash)

    def insert(self, digest: str, rules_hash: str, files: dict[str, str], created_at: dt.datetime,
               author: str | None = None) -> int:
        """Store a new version (applied by ``author``, when known); returns its id."""
        inserted = self.conn.execute(VERSIONS.insert().values(hash=digest, rules_hash=rules_hash,
                                                              created_at=created_at, files=files,
                                                              author=author[:200] if author else None))
        key = inserted.inserted_primary_key
        assert key is not None  # a single-row insert always has one
        return int(key[0])
