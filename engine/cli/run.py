"""`nurture run`: the unattended daemon; `nurture outbox list`: what it sent, queued or failed."""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import config_of, console, print_json, reading
from engine.daemon.signals import hold_stop_signals
from engine.logs import setup_logging

outbox_app = typer.Typer(help="Inspect outgoing email.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.add_typer(outbox_app, name="outbox")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def run(
    ctx: typer.Context,
    tick: float = typer.Option(None, "--tick", help="Seconds between ticks (default: tick_seconds, 1)"),
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format", help="text, or json: one object a line"),
    once: bool = typer.Option(False, "--once", help="Run one tick and exit (for cron or a quick check)"),
    http: bool = typer.Option(True, "--http/--no-http", help="Serve the HTTP API in the same process"),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address to listen on"),
    port: int = typer.Option(8000, "--port", help="HTTP port to listen on"),
) -> None:
    """Run the daemon: stage changes, journeys, drip emails and sales notifications, and the HTTP API (tracking,
    unsubscribe, intake) unless --no-http. Stops on SIGTERM/SIGINT."""
    hold_stop_signals()  # already held when started as `nurture run`; here for other ways in
    from engine.daemon.process import run_process
    from engine.service import Nurture

    setup_logging(log_format.value)
    config = config_of(ctx)
    if tick:  # --tick is tick_seconds for this run, and the tick's budget follows it unless set
        config = dataclasses.replace(config, tick_seconds=tick)
    nurture = Nurture(config)
    run_process(nurture, tick_seconds=config.tick_seconds, once=once, http=http, host=host, port=port)


@outbox_app.command("list")
def outbox_list(ctx: typer.Context, failed: bool = typer.Option(False, "--failed", help="Only failed messages"),
                limit: int = typer.Option(50, help="Show at most this many"),
                json: bool = typer.Option(False, "--json", help="Machine-readable output")) -> None:
    """Messages in the outbox, newest first: status, attempts and the server's last reply."""
    with reading(config_of(ctx).database_url) as view:  # a look: nothing is created, upgraded or written
        rows = view.tx.outbox.newest(limit, failed_only=failed)
    if json:
        print_json(rows)
        return
    table = Table("id", "to", "journey / step", "template", "status", "due / sent", "tries", "last reply")
    for r in rows:
        when = r["sent_at"] or r["due_at"]
        table.add_row(str(r["id"]), escape(r["to_address"]), escape(f"{r['journey'] or r['kind']} / {r['step']}"),
                      escape(r["template"]), r["status"], f"{when:%Y-%m-%d %H:%M}", str(r["attempts"]),
                      escape(r["last_error"] or ""))
    console.print(table)
