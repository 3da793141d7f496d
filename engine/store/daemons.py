"""Which daemons run, and their heartbeat."""

from __future__ import annotations

from engine.store.base import Repository


class Daemons(Repository):
    """Which daemons run, and their heartbeat."""
