"""Stop signals held for the daemon: a daemon asked to stop while it is still starting stops cleanly.

Importing the command line and opening the store take a moment; a SIGTERM in that moment would kill a
daemon with the default action (exit -15). For `nurture run` the stop signals are noted from the first
instant instead (see engine/__main__.py), before anything heavy is imported, and honoured once the
daemon runs. This module imports nothing but the standard library, so holding them costs nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: set by SIGTERM or SIGINT once `hold_stop_signals` has been called
stop_requested = threading.Event()
_previous: dict[int, Callable[[int, Any], Any] | int | None] = {}


def hold_stop_signals() -> threading.Event:
    """From now on SIGTERM and SIGINT only set `stop_requested`, for the daemon to act on."""
    for sig in STOP_SIGNALS:
        previous = signal.signal(sig, _note_stop)
        _previous.setdefault(sig, previous)
    return stop_requested


def _note_stop(signum: int, frame: Any) -> None:
    stop_requested.set()


def release_stop_signals() -> None:
    """Give the stop signals back to the handlers they had before `hold_stop_signals`."""
    for sig, handler in _previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    _previous.clear()
    stop_requested.clear()
