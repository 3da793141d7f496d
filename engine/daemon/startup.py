"""The `nurture` command's entry point: a daemon asked to stop while it is still starting stops cleanly.

Importing the command line and opening the store take a moment; a SIGTERM in that moment would kill a
daemon with the default action (exit -15). For `nurture run` the stop signals are noted from the first
instant instead, before anything heavy is imported, and honoured once the daemon runs.
"""

from __future__ import annotations

import signal
import sys
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


def command_of(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option or the --config value)."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main() -> None:
    """`nurture`: the command line, with stop signals held from the start when it runs the daemon."""
    if command_of(sys.argv[1:]) == "run":
        hold_stop_signals()
    from engine.cli import main as command_line  # the heavy imports

    command_line()
