"""Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""

from __future__ import annotations

from engine.store.base import Repository


class Signals(Repository):
    """Signals: the changes journeys have yet to react to, queued in the transaction of their cause."""
