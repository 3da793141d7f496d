"""Commands that only read the store: leads show|list|explain, events quarantine (the reports are in reports.py).

They open the store as it is: none is created or upgraded, no campaign is applied, nothing is swept.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import JSON, config_of, console, print_json, reading
from engine.core.clock import SystemClock


def register(*, leads: typer.Typer, events: typer.Typer) -> None:
    events.command("quarantine")(events_quarantine)
    leads.command("show")(leads_show)
    leads.command("list")(leads_list)
    leads.command("explain")(leads_explain)


def events_quarantine(ctx: typer.Context, limit: int = typer.Option(100, help="Show at most this many"),
                      json: bool = JSON) -> None:
    """Rows that could not be accepted, with where they came from and why."""
    with reading(config_of(ctx).database_url) as view:
        rows = view.tx.reports.quarantined(limit)
    if json:
        print_json(rows)
        return
    if not rows:
        console.print("quarantine is empty")
        return
    for row in rows:
        console.print(f"{escape(row['origin'])}:{row['line']}: {escape(row['reason'])}", highlight=False)
        console.print(f"    {escape(row['raw'][:200])}", style="dim", highlight=False)


def leads_show(ctx: typer.Context, email: str, json: bool = JSON) -> None:
    """Attributes, scores, stage, owner, recent events and stage history of one lead."""
    with reading(config_of(ctx).database_url) as view:
        lead = view.tx.reports.show_lead(view.rules(), email, SystemClock().now())
    if json:
        print_json(lead)
        return
    console.print(f"[bold]{escape(lead['email'])}[/]  stage [bold]{lead['stage']}[/] since {lead['stage_since']}"
                  f"  owner {escape(lead['owner'] or '-')}")
    console.print("scores: " + ", ".join(f"{k} {v:g}" for k, v in lead["scores"].items()))
    attrs = ", ".join(f"{k}={v!r}" for k, v in lead["attributes"].items())
    console.print(f"attributes: {escape(attrs) or '-'}", highlight=False)
    if lead["suppressed"]:
        console.print(f"suppressed: {escape(lead['suppressed'])}", highlight=False)
    if lead["stage_history"]:
        console.print("stage history:")
        for c in lead["stage_history"]:
            console.print(f"  {c['at']}  {c['from']} -> {c['to']}  {escape(c['reason'])}", highlight=False)
    if lead["journeys"]:
        console.print("journeys:")
        for j in lead["journeys"]:
            console.print(f"  {escape(_enrollment_line(j))}", highlight=False)
    if lead["recent_events"]:
        console.print("recent events:")
        for e in lead["recent_events"]:
            console.print(f"  {e['at']}  {e['type']}  {escape(str(e['props'] or ''))}", highlight=False)


def _enrollment_line(j: dict[str, Any]) -> str:
    """One enrolment on one line: journey (entry), version, step, status, and its due time or how it ended."""
    entry = f" (entry {j['entry']})" if j["entry"] > 1 else ""
    where = f"  step {j['step']}" if j["step"] else ""
    if j["ended_at"]:
        return (f"{j['journey']}{entry}  version {j['version_id']}{where}  {j['status']} at {j['ended_at']}"
                + (f": {j['end_reason']}" if j["end_reason"] else ""))
    due = f"  due {j['due_at']}" if j["due_at"] else "  no due time"
    return f"{j['journey']}{entry}  version {j['version_id']}{where}  {j['status']}{due}"


def leads_list(ctx: typer.Context, stage: str = typer.Option(None, help="Only leads in this stage"),
               limit: int = typer.Option(50, help="Show at most this many"), json: bool = JSON) -> None:
    """Leads, most recently changed first."""
    with reading(config_of(ctx).database_url) as view:
        rules = view.rules()
        leads = view.tx.reports.list_leads(rules, SystemClock().now(), stage, limit)
    if json:
        print_json(leads)
        return
    table = Table("email", "stage", "owner", "source", *rules.scores)
    for lead in leads:
        table.add_row(escape(lead["email"]), lead["stage"], escape(lead["owner"] or "-"), escape(lead["source"]),
                      *(f"{v:g}" for v in lead["scores"].values()))
    console.print(table)


def leads_explain(ctx: typer.Context, email: str, json: bool = JSON) -> None:
    """Why each score is what it is: every rule and event, decayed to now, adding up to the total."""
    with reading(config_of(ctx).database_url) as view:
        result = view.tx.reports.explain_lead(view.rules(), email, SystemClock().now())
    if json:
        print_json(result)
        return
    console.print(f"[bold]{escape(result['email'])}[/] ({result['stage']}) at {result['at']}")
    for score in result["scores"]:
        table = Table(title=f"{score['score']} = {score['total']:g}", title_justify="left")
        table.add_column("points", justify="right")
        table.add_column("now", justify="right")
        table.add_column("rule")
        table.add_column("when")
        for line in score["lines"]:
            table.add_row(f"{line['points']:+g}", f"{line['now']:+.2f}", escape(line["rule"]), line.get("at", ""))
        console.print(table)
