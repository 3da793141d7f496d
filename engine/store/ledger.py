"""The score ledger and the stage history: what earned each point and why each stage changed."""

from __future__ import annotations

from engine.store.base import Repository


class Ledger(Repository):
    """The score ledger and the stage history: what earned each point and why each stage changed."""
