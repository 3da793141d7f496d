"""`nurture leads accept|reject EMAIL --reason ...`: sales feedback, recorded as the built-in events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from engine.cli.app import JSON, console, err_console, lead_address, print_json, service
from engine.errors import LeadNotFound

if TYPE_CHECKING:
    from engine.service import Nurture

ORIGIN = "cli feedback"


def register(leads: typer.Typer) -> None:
    leads.command("accept")(leads_accept)
    leads.command("reject")(leads_reject)


def _stage(nurture: Nurture, email: str) -> str:
    with nurture.store.transaction() as tx:
        lead = tx.reports.find_lead(email)
    if lead is None:
        raise LeadNotFound(email)
    return lead.stage


def _feedback(ctx: typer.Context, email: str, verdict: str, reason: str | None, json: bool) -> None:
    from engine.http.recording import VERDICTS, feedback_row

    email = lead_address(email)
    nurture = service(ctx)
    processor = nurture.processor()
    before = _stage(nurture, email)
    report = processor.ingest_events([feedback_row(email, verdict, reason, nurture.clock.now())], ORIGIN)
    if report.rejected:
        err_console.print(f"[bold red]error:[/] {escape(report.rejected[0].reason)}")
        raise typer.Exit(1)
    after = _stage(nurture, email)
    if json:
        print_json({"lead": email, "event": VERDICTS[verdict], "previous_stage": before, "stage": after})
        return
    moved = f"moved from {before} to {after}" if after != before else f"stays in {after}"
    console.print(f"recorded {VERDICTS[verdict]} for {escape(email)}: {moved}", highlight=False)


def leads_accept(ctx: typer.Context, email: str = typer.Argument(..., help="The lead's email address"),
                 reason: str = typer.Option(None, "--reason", help="Why sales takes it (optional)"),
                 json: bool = JSON) -> None:
    """Sales accepts a lead: records sales.accepted now; the campaign decides what follows."""
    _feedback(ctx, email, "accept", reason, json)


def leads_reject(ctx: typer.Context, email: str = typer.Argument(..., help="The lead's email address"),
                 reason: str = typer.Option(..., "--reason", help="Why sales turns it down, e.g. \"no budget\""),
                 json: bool = JSON) -> None:
    """Sales rejects a lead: records sales.rejected now, and the campaign sends it back (e.g. to mql)."""
    if not reason.strip():
        err_console.print("[bold red]error:[/] a rejection needs a reason, e.g. --reason \"no budget this quarter\"")
        raise typer.Exit(2)
    _feedback(ctx, email, "reject", reason.strip(), json)
