"""The `nurture` command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from rich.markup import escape

# Importing a command module registers its commands on the app.
from engine.cli import check, data, demo, feedback, fmt, run, serve, simulate, test  # noqa: F401
from engine.cli.app import app, err_console
from engine.errors import EngineError

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: errors users can fix are printed as sentences, never tracebacks."""
    try:
        app()
    except EngineError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise SystemExit(1) from None
