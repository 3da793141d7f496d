"""What happened in a run, read back for scenarios, simulations, backtests and the demo."""

from __future__ import annotations

from engine.store.base import Repository


class History(Repository):
    """What happened in a run, read back for scenarios, simulations, backtests and the demo."""
