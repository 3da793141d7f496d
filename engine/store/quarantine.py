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
        """Keep each rejected row; the same row rejected for the same reason from the same origin is kept once."""
        rows = [{"key": hashlib.sha256(f"{origin}\n{r.raw}\n{r.reason}".encode()).hexdigest(), "origin": origin,
                 "line": r.line, "raw": r.raw, "reason": r.reason, "received_at": now} for r in rejected]
        rows.sort(key=itemgetter("key"))  # in key order, so concurrent writers never deadlock on the same rows
        insert_ignoring(self.conn, QUARANTINE, rows, "key")
