"""The `nurture` command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from rich.markup import escape

from ..errors import EngineError
from . import check, data, demo, feedback, fmt, run, serve  # noqa: F401  (importing a module registers its commands)
from . import simulate as _simulate  # noqa: F401  (`nurture simulate` and `nurture backtest`)
from . import test as _test  # noqa: F401  (`nurture test`: scenario tests)
from .app import app, err_console

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: errors users can fix are printed as sentences, never tracebacks."""
    try:
        app()
    except EngineError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise SystemExit(1) from None
