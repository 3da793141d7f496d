"""Engagement events: storing new ones exactly once, and reading a lead's history."""

from __future__ import annotations

from engine.store.base import Repository


class Events(Repository):
    """Engagement events: storing new ones exactly once, and reading a lead's history."""
