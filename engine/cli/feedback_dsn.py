"""`nurture feedback dsn FILE|-`: apply a bounce message (RFC 3464) or a spam complaint (RFC 5965) by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from engine.cli.app import JSON, console, err_console, print_json, service


def register(root: typer.Typer) -> None:
    group = typer.Typer(help="Bounces and complaints reported after sending.", no_args_is_help=True)
    root.add_typer(group, name="feedback")
    group.command("dsn")(feedback_dsn)


def feedback_dsn(ctx: typer.Context,
                 file: str = typer.Argument(..., help="A DSN or ARF report (.eml); - for stdin"),
                 json: bool = JSON) -> None:
    """Suppress and record what a bounce message or a spam complaint says, as the relays' webhooks do."""
    from engine.ingest.dsn import NotAReport, read_report
    from engine.ingest.feedback import apply_notices

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as err:
        err_console.print(f"[bold red]error:[/] cannot read {escape(file)}: {escape(err.strerror or str(err))}")
        raise typer.Exit(1) from None
    nurture = service(ctx)
    try:
        notices = read_report(data, nurture.clock.now())
    except NotAReport as err:
        err_console.print(f"[bold red]error:[/] {escape(file)}: {escape(str(err))}")
        raise typer.Exit(1) from None
    report = apply_notices(nurture.store, nurture.processor(), notices, soft_limit=nurture.config.soft_bounce_limit,
                           origin=f"nurture feedback dsn {'stdin' if file == '-' else file}")
    if json:
        print_json(report.as_dict())
        return
    for notice in notices:
        console.print(f"{notice.kind.replace('hard', 'hard bounce').replace('soft', 'soft bounce')}: "
                      f"{escape(notice.email)} ({escape(notice.reason)})", highlight=False)
    console.print(f"{len(report.suppressed)} suppressed, {report.recorded} recorded, "
                  f"{report.duplicates} already recorded, {report.ignored} not leads", highlight=False)
