"""The `nurture` command line: one module per concern, every command registered here on one Typer app.

Importing a command module registers nothing; the list below is the whole command line, in the order
`nurture --help` shows it.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from engine.cli import (
    backtest,
    check,
    data,
    demo,
    experiments,
    feedback,
    feedback_dsn,
    fmt,
    keys,
    lsp,
    mail,
    privacy,
    reading,
    reports,
    run,
    serve,
    simulate,
    test,
    tune,
    users,
)
from engine.cli.app import app, err_console
from engine.errors import EngineError

__all__ = ["app", "main"]


def _group(root: typer.Typer, name: str, description: str) -> typer.Typer:
    group = typer.Typer(help=description, no_args_is_help=True)
    root.add_typer(group, name=name)
    return group


def register_commands(root: typer.Typer) -> None:
    """Every command and group of the command line on ``root``."""
    leads = _group(root, "leads", "Import, inspect and explain leads.")
    events = _group(root, "events", "Ingest engagement events and inspect rejected ones.")
    db = _group(root, "db", "Manage the store's schema.")
    report = _group(root, "report", "Reports: the funnel, how each email does, and A/B experiments.")
    check.register(root)
    data.register(root, leads=leads, events=events, db=db)  # apply, plan; leads import, events ingest, db upgrade
    reading.register(leads=leads, events=events)  # leads show|list|explain, events quarantine
    reports.register(report)  # report funnel|emails
    experiments.register(report)  # report experiment
    feedback.register(leads)  # leads accept|reject
    privacy.register(leads)  # leads export|erase
    feedback_dsn.register(root)  # feedback dsn
    demo.register(root)
    fmt.register(root)
    run.register(root)  # run, and the outbox group with outbox list
    mail.register(run.outbox_app)  # outbox show|cancel|retry
    serve.register(root)
    simulate.register(root)
    backtest.register(root)
    tune.register(root)
    test.register(root)
    keys.register(root)  # keys add|list|revoke
    lsp.register(root)
    users.register(root)  # users add|list|remove


register_commands(app)


def main() -> None:
    """Console entry point: errors users can fix are printed as sentences, never tracebacks."""
    try:
        app()
    except EngineError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise SystemExit(1) from None
