"""Journey enrolments: entering, due steps, waits, ends and moves between versions."""

from __future__ import annotations

from engine.store.base import Repository


class Enrollments(Repository):
    """Journey enrolments: entering, due steps, waits, ends and moves between versions."""
