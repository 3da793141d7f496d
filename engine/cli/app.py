"""The Typer application every command module registers on, and what commands share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine.config import load_config
from engine.service import Nurture

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
def main(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", help="Configuration file [default: ./nurture.toml if present]"),
) -> None:
    """Nurture: lead scoring, lifecycle stages and drip journeys as code.

    Settings come from nurture.toml and NURTURE_* environment variables
    (NURTURE_DATABASE_URL, NURTURE_CAMPAIGN_DIR, NURTURE_TEMPLATE_DIR, ...).
    """
    ctx.obj = {"config": config}


def service(ctx: typer.Context) -> Nurture:
    """The engine configured for this invocation (config file, then environment)."""
    root = ctx.find_root()
    path = (root.obj or {}).get("config")
    return Nurture(load_config(path))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def progress_bar(description: str, total: int | None, enabled: bool = True) -> Progress:
    """A rich progress bar on stderr (so `--json` output on stdout stays clean)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True, disable=not enabled)
