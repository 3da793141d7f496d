"""Commands over the store: apply, db, leads, events, report."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import app, console, err_console, print_json, progress_bar, service
from engine.ingest.processor import Report
from engine.ingest.rows import InvalidRow, open_input, read_rows
from engine.store import reports as queries
from engine.store.db import upgrade

leads_app = typer.Typer(help="Import, inspect and explain leads.", no_args_is_help=True)
events_app = typer.Typer(help="Ingest engagement events and inspect rejected ones.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
report_app = typer.Typer(help="Reports over leads and stages.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")
app.add_typer(events_app, name="events")
app.add_typer(db_app, name="db")
app.add_typer(report_app, name="report")

JSON = typer.Option(False, "--json", help="Machine-readable output")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the store's tables to the latest schema."""
    nurture = service(ctx)
    upgrade(nurture.db)
    console.print(f"database {escape(nurture.db.url.render_as_string())} is up to date")


def _applied_summary(applied) -> dict:
    rescored = applied.rescored
    return {"version": applied.version_id, "created": applied.created, "rules_changed": applied.rules_changed,
            "changes": applied.changes, "rescored_leads": rescored.leads_updated if rescored else 0,
            "leads_changed": rescored.changed_leads if rescored else [],
            "stage_changes": rescored.stage_changes if rescored else 0,
            "enrollments_kept": applied.migration.kept, "enrollments_moved": applied.migration.moved,
            "enrollments_exited": applied.migration.exited}


def _print_applied(summary: dict, verb: str) -> None:
    for line in summary["changes"]:
        style = {"+": "green", "-": "red", "~": "yellow"}[line[0]]
        console.print(f"  [{style}]{escape(line)}[/]")
    if summary["rules_changed"] and summary["rescored_leads"]:
        console.print(f"rescoring {verb} {summary['rescored_leads']:,} leads: {len(summary['leads_changed']):,} change "
                      f"score or stage, {summary['stage_changes']:,} stage changes")
        for email in summary["leads_changed"][:20]:
            console.print(f"    {escape(email)}")
        if len(summary["leads_changed"]) > 20:
            console.print(f"    ... and {len(summary['leads_changed']) - 20:,} more")
    moved, exited = summary["enrollments_moved"], summary["enrollments_exited"]
    console.print(f"in-flight journeys: {summary['enrollments_kept']:,} stay at their step, {len(moved):,} move, "
                  f"{len(exited):,} exit")
    for line in moved[:20] + exited[:20]:
        console.print(f"    {escape(line)}")


@app.command()
def apply(ctx: typer.Context, json: bool = JSON) -> None:
    """Check the campaign and store it as a new version; rescore leads and move in-flight journeys."""
    nurture = service(ctx)
    with progress_bar("rescoring leads", None, enabled=not json) as bar:
        task = bar.add_task("rescoring leads", total=None)
        applied = nurture.apply(progress=lambda n: bar.advance(task, n),
                                before_rescore=lambda total: bar.update(task, total=total))
    summary = _applied_summary(applied)
    if json:
        print_json(summary)
    elif not applied.created:
        console.print(f"campaign unchanged: version {applied.version_id} is current")
    else:
        console.print(f"applied campaign version {applied.version_id}")
        _print_applied(summary, "rescored")


@app.command()
def plan(ctx: typer.Context, json: bool = JSON,
         scenarios: bool = typer.Option(True, "--scenarios/--no-scenarios",
                                        help="Also run the campaign's scenarios (see `nurture test`)")) -> None:
    """Show what `nurture apply` would change (rules, leads, in-flight journeys) without changing anything,
    and whether the campaign's scenarios still pass."""
    import os

    from engine.lab.scenarios import collect_suite, run_suite

    nurture = service(ctx)
    applied = nurture.apply(dry_run=True)
    summary = _applied_summary(applied)
    if scenarios:  # a pull request shows what changes and whether the campaign's own tests still pass
        config = nurture.config
        suite = collect_suite([config.campaign_dir], config.campaign_dir, config.template_dir)
        outcomes = list(run_suite(suite, os.cpu_count() or 1))
        failures = [o.ref.id for o in outcomes if not o.passed]
        summary["scenarios"] = {"passed": len(outcomes) - len(failures), "failed": len(failures),
                                "failures": failures}
    if json:
        print_json(summary)
    elif not applied.created:
        console.print("no changes: the campaign on disk is the current version")
    else:
        console.print("apply would make a new campaign version:")
        _print_applied(summary, "would rescore")
    if not json and "scenarios" in summary:
        result = summary["scenarios"]
        style = "red" if result["failed"] else "green"
        console.print(f"scenarios: [{style}]{result['passed']} passed, {result['failed']} failed[/]")
        for failure in result["failures"]:
            console.print(f"  [red]FAIL[/] {escape(failure)}", highlight=False, soft_wrap=True)
        if result["failures"]:
            console.print("  run `nurture test` to see what happened instead")


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _load(ctx: typer.Context, path: str, what: str, json: bool, run) -> None:
    try:
        stream, kind = open_input(path)
    except (InvalidRow, OSError) as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise typer.Exit(1) from None
    nurture = service(ctx)
    processor = nurture.processor()
    origin = "stdin" if path == "-" else path
    with stream, progress_bar(f"{what} {origin}", None, enabled=not json) as bar:
        task = bar.add_task(f"{what} {escape(origin)}", total=_count_lines(path))
        report: Report = run(processor, read_rows(stream, kind), origin, kind == "csv",
                             lambda n: bar.advance(task, n))
    for bad in report.rejected:
        err_console.print(f"{escape(origin)}:{bad.line}: {escape(bad.reason)}", highlight=False)
    summary = {"rows": report.rows, "accepted": report.accepted, "duplicates": report.duplicates,
               "quarantined": len(report.rejected), "leads_created": report.leads_created,
               "leads_updated": report.leads_updated, "stage_changes": report.stage_changes}
    if json:
        print_json(summary)
    else:
        console.print(", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in summary.items()))
    if report.rows == 0 or len(report.rejected) == report.rows:
        raise typer.Exit(1)
    raise typer.Exit(3 if report.rejected else 0)


@events_app.command("ingest")
def events_ingest(ctx: typer.Context, file: str = typer.Argument(..., help=".jsonl or .csv file, or - for stdin"),
                  json: bool = JSON) -> None:
    """Ingest events: score them, move stages. Exit 0 all accepted, 3 some quarantined, 1 none read."""
    _load(ctx, file, "events", json,
          lambda p, rows, origin, text, prog: p.ingest_events(rows, origin, text, prog))


@leads_app.command("import")
def leads_import(ctx: typer.Context, file: str = typer.Argument(..., help=".csv or .jsonl file with an email "
                                                                      "column, or - for stdin"),
                 json: bool = JSON) -> None:
    """Upsert leads by email. Exit 0 all accepted, 3 some quarantined, 1 none read."""
    _load(ctx, file, "leads", json,
          lambda p, rows, origin, text, prog: p.import_leads(rows, origin, text, prog))


@events_app.command("quarantine")
def events_quarantine(ctx: typer.Context, limit: int = typer.Option(100, help="Show at most this many"),
                      json: bool = JSON) -> None:
    """Rows that could not be accepted, with where they came from and why."""
    from engine.store.tables import QUARANTINE

    nurture = service(ctx)
    with nurture.db.connect() as conn:
        rows = conn.execute(QUARANTINE.select().order_by(QUARANTINE.c.id.desc()).limit(limit)).mappings().all()
    if json:
        print_json([dict(r) for r in rows])
        return
    if not rows:
        console.print("quarantine is empty")
        return
    for row in rows:
        console.print(f"{escape(row['origin'])}:{row['line']}: {escape(row['reason'])}", highlight=False)
        console.print(f"    {escape(row['raw'][:200])}", style="dim", highlight=False)


def _sweep_and_rules(ctx: typer.Context):
    nurture = service(ctx)
    processor = nurture.processor()
    processor.sweep()  # stages read now reflect time-driven changes already due
    return nurture, processor.rules


@leads_app.command("show")
def leads_show(ctx: typer.Context, email: str, json: bool = JSON) -> None:
    """Attributes, scores, stage, owner, recent events and stage history of one lead."""
    nurture, rules = _sweep_and_rules(ctx)
    with nurture.db.connect() as conn:
        lead = queries.show_lead(conn, rules, email, nurture.clock.now())
    if json:
        print_json(lead)
        return
    console.print(f"[bold]{escape(lead['email'])}[/]  stage [bold]{lead['stage']}[/] since {lead['stage_since']}"
                  f"  owner {escape(lead['owner'] or '-')}")
    console.print("scores: " + ", ".join(f"{k} {v:g}" for k, v in lead["scores"].items()))
    attrs = ", ".join(f"{k}={v!r}" for k, v in lead["attributes"].items())
    console.print(f"attributes: {escape(attrs) or '-'}", highlight=False)
    if lead["stage_history"]:
        console.print("stage history:")
        for c in lead["stage_history"]:
            console.print(f"  {c['at']}  {c['from']} -> {c['to']}  {escape(c['reason'])}", highlight=False)
    if lead["recent_events"]:
        console.print("recent events:")
        for e in lead["recent_events"]:
            console.print(f"  {e['at']}  {e['type']}  {escape(str(e['props'] or ''))}", highlight=False)


@leads_app.command("list")
def leads_list(ctx: typer.Context, stage: str = typer.Option(None, help="Only leads in this stage"),
               limit: int = typer.Option(50, help="Show at most this many"), json: bool = JSON) -> None:
    """Leads, most recently changed first."""
    nurture, rules = _sweep_and_rules(ctx)
    with nurture.db.connect() as conn:
        leads = queries.list_leads(conn, rules, nurture.clock.now(), stage, limit)
    if json:
        print_json(leads)
        return
    table = Table("email", "stage", "owner", "source", *rules.scores)
    for lead in leads:
        table.add_row(lead["email"], lead["stage"], lead["owner"] or "-", lead["source"],
                      *(f"{v:g}" for v in lead["scores"].values()))
    console.print(table)


@leads_app.command("explain")
def leads_explain(ctx: typer.Context, email: str, json: bool = JSON) -> None:
    """Why each score is what it is: every rule and event, decayed to now, adding up to the total."""
    nurture, rules = _sweep_and_rules(ctx)
    with nurture.db.connect() as conn:
        result = queries.explain_lead(conn, rules, email, nurture.clock.now())
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


@report_app.command("funnel")
def report_funnel(ctx: typer.Context, json: bool = JSON) -> None:
    """Leads per stage, conversion between stages, median days to convert, by lead source."""
    nurture, rules = _sweep_and_rules(ctx)
    with nurture.db.connect() as conn:
        result = queries.funnel(conn, rules)
    if json:
        print_json(result)
        return
    table = Table("stage", "now", "ever reached", "median days to reach", title="Funnel", title_justify="left")
    for row in result["stages"]:
        days = result["median_days_to_reach"].get(row["stage"])
        table.add_row(row["stage"], f"{row['current']:,}", f"{row['reached']:,}", "-" if days is None else f"{days}")
    console.print(table)
    for conv in result["conversion"]:
        rate = "-" if conv["rate"] is None else f"{conv['rate']:.1%}"
        console.print(f"{conv['from']} -> {conv['to']}: {rate}")
    if result["by_source"]:
        ladder = [r["stage"] for r in result["stages"]]
        table = Table("source", *ladder, title="By source", title_justify="left")
        for source, data in result["by_source"].items():
            table.add_row(escape(source), *(f"{data['reached'][s]:,}" for s in ladder))
        console.print(table)


