"""Stage entry actions (owner assignment, sales notifications) and round-robin turns."""

from __future__ import annotations

from engine.store.base import Repository


class Actions(Repository):
    """Stage entry actions (owner assignment, sales notifications) and round-robin turns."""
