"""Rejected input rows, kept once each with origin, line and reason."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from operator import itemgetter
from typing import Protocol

from engine.store.base import Repository
from engine.store.bulk import insert_ignoring
from engine.store.tables import QUARANTINE


class RejectedRow(Protocol):
    """An input row that was not accepted: where it was, what it said, and why."""

    @property
    def line(self) -> int | None: ...
    @property
    def raw(self) -> str: ...
    @property
    def reason(self) -> str: ...


class Quarantine(Repository):
    """Rejected input rows, kept once each with origin, line and reason."""

    def keep(self, origin: str, rejected: Sequence[RejectedRow], now: dt.datetime) -> None:
        """Keep each rejected row; the same line of the same origin rejected for the same reason is kept once.

        Every occurrence of a repeated bad line is kept (its line number is part of the key), while
        loading the same file again adds nothing.
        """
        rows = [{"key": hashlib.sha256(f"{origin}\n{r.line}\n{r.raw}\n{r.reason}".encode()).hexdigest(),
                 "origin": _text(origin)[:1000], "line": r.line, "raw": _text(r.raw),
                 "reason": _text(r.reason)[:2000],
                 "received_at": now} for r in rejected]
        rows.sort(key=itemgetter("key"))  # in key order, so concurrent writers never deadlock on the same rows
        insert_ignoring(self.conn, QUARANTINE, rows, "key")


def _text(value: str) -> str:
    """``value`` as every database stores it: PostgreSQL refuses NUL in text, so it is shown as \\x00."""
    return value.replace("\x00", "\\x00")
