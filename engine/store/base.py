"""What every repository shares: the connection of its unit of work and the dialect's few differences."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")
#: the longest IN (...) list a statement gets; longer lists are read in chunks
CHUNK = 500


class Repository:
    """Named reads and writes over a few tables, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def postgres(self) -> bool:
        """PostgreSQL takes row locks (`FOR UPDATE`, `SKIP LOCKED`); SQLite serialises writers instead."""
        return self.conn.dialect.name == "postgresql"


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``: bounded IN lists."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
