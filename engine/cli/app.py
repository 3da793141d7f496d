"""The Typer application every command module registers on."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="nurture",
    help="Nurture: lead scoring, lifecycle stages and drip journeys as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Nurture: lead scoring, lifecycle stages and drip journeys as code."""
