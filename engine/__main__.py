"""`nurture` and `python -m engine`: the command line, with stop signals held from the start for `nurture run`."""

from __future__ import annotations

import sys


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
    command = command_of(sys.argv[1:])
    if command is None and "--version" in sys.argv[1:]:  # answered before the command line is even imported
        from importlib.metadata import version

        print(f"nurture {version('nurture')}")
        return
    if command == "run":
        from engine.daemon.signals import hold_stop_signals  # small: signal and threading, nothing heavy

        hold_stop_signals()
    from engine.cli import main as command_line  # the heavy imports come after the signals are held

    command_line()


if __name__ == "__main__":
    main()
