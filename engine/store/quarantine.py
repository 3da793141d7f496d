"""Rejected input rows, kept once each with origin, line and reason."""

from __future__ import annotations

from engine.store.base import Repository


class Quarantine(Repository):
    """Rejected input rows, kept once each with origin, line and reason."""
