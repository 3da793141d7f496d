"""Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from engine.store.base import Repository
from engine.store.bulk import insert_many
from engine.store.tables import SIGNALS


class Signals(Repository):
    """Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

    def insert_lead_changes(self, changes: Sequence[tuple[int, dict[str, Any]]], at: dt.datetime) -> None:
        """One "lead" signal per (lead id, what changed) for the daemon's journeys to look at."""
        insert_many(self.conn, SIGNALS, [{"lead_id": lead_id, "kind": "lead", "name": "", "at": at,
                                          "leased_until": None, "props": props} for lead_id, props in changes])
