"""Commands that change the store: apply, plan, db upgrade, leads import, events ingest."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from engine.cli.app import JSON, config_of, console, err_console, print_json, progress_bar, service

if TYPE_CHECKING:  # the store and the write path are imported inside the commands that run them
    from dsl.ast import TypeRef
    from engine.ingest.mapping import ColumnMapping
    from engine.ingest.processor import Processor, Report
    from engine.ingest.rows import Row
    from engine.service import Applied

    #: a load: (processor, rows, origin, rows are text, progress) -> what became of them
    Load = Callable[[Processor, Iterable[Row], str, bool, Callable[[int], None]], Report]


def register(app: typer.Typer, *, leads: typer.Typer, events: typer.Typer, db: typer.Typer) -> None:
    app.command()(apply)
    app.command()(plan)
    leads.command("import")(leads_import)
    events.command("ingest")(events_ingest)
    db.command("upgrade")(db_upgrade)


def db_upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the store's tables to the latest schema."""
    from engine.store import Store
    from engine.store.existing import location

    store = Store.open(config_of(ctx).database_url, upgrade=True)
    console.print(f"database {escape(location(store))} is up to date")
    store.dispose()


def _applied_summary(applied: Applied) -> dict[str, Any]:
    rescored = applied.rescored
    return {"version": applied.version_id, "created": applied.created, "rules_changed": applied.rules_changed,
            "changes": applied.changes, "rescored_leads": rescored.leads_updated if rescored else 0,
            "leads_changed": rescored.changed_leads if rescored else [],
            "stage_changes": rescored.stage_changes if rescored else 0,
            "enrollments_kept": applied.migration.kept, "enrollments_moved": applied.migration.moved,
            "enrollments_exited": applied.migration.exited, "journey_moves": applied.migration.as_json(),
            "journey_lines": applied.migration.lines()}


def _print_applied(summary: dict[str, Any], verb: str) -> None:
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
    console.print(f"in-flight journeys: {summary['enrollments_kept']:,} stay at their step, "
                  f"{summary['enrollments_moved']:,} move, {summary['enrollments_exited']:,} exit")
    for line in summary.pop("journey_lines"):
        console.print(f"    {escape(line)}")


def apply(ctx: typer.Context, json: bool = JSON,
          scenarios: bool = typer.Option(False, "--scenarios", help="Run the campaign's scenarios first: apply "
                                         "only if they all pass, and keep their results with the version (the "
                                         "console's Campaign page shows them)")) -> None:
    """Check the campaign and store it as a new version; rescore leads and move in-flight journeys."""
    nurture = service(ctx)
    results = None
    if scenarios:
        results = _scenario_results(nurture)
        if results["failed"]:
            if json:
                print_json({"applied": False, "scenarios": results})
            else:
                _print_scenarios(results)
                err_console.print("not applied: a scenario failed; fix it (or apply without --scenarios)")
            raise typer.Exit(1)
    with progress_bar("rescoring leads", None, enabled=not json) as bar:
        task = bar.add_task("rescoring leads", total=None)
        applied = nurture.apply(progress=lambda n: bar.advance(task, n),
                                before_rescore=lambda total: bar.update(task, total=total))
    summary = _applied_summary(applied)
    if results is not None:
        with nurture.store.transaction() as tx:
            tx.meta.set_scenario_results(applied.version_id, results)
        summary["scenarios"] = results
    if json:
        summary.pop("journey_lines")
        print_json(summary)
        return
    if not applied.created:
        console.print(f"campaign unchanged: version {applied.version_id} is current")
    else:
        console.print(f"applied campaign version {applied.version_id}")
        _print_applied(summary, "rescored")
    if results is not None:
        _print_scenarios(results)


def _scenario_results(nurture) -> dict:
    """Play the campaign's scenarios: how many passed, which failed, and when they were played."""
    import datetime as dt
    import os

    from engine.lab.scenarios import collect_suite, run_suite

    config = nurture.config
    suite = collect_suite([config.campaign_dir], config.campaign_dir, config.template_dir)
    outcomes = list(run_suite(suite, os.cpu_count() or 1))
    failures = [o.ref.id for o in outcomes if not o.passed]
    return {"passed": len(outcomes) - len(failures), "failed": len(failures), "failures": failures,
            "names": [o.ref.id for o in outcomes], "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def _print_scenarios(result: dict) -> None:
    style = "red" if result["failed"] else "green"
    console.print(f"scenarios: [{style}]{result['passed']} passed, {result['failed']} failed[/]")
    for failure in result["failures"]:
        console.print(f"  [red]FAIL[/] {escape(failure)}", highlight=False, soft_wrap=True)
    if result["failures"]:
        console.print("  run `nurture test` to see what happened instead")


def plan(ctx: typer.Context, json: bool = JSON,
         scenarios: bool = typer.Option(True, "--scenarios/--no-scenarios",
                                        help="Also run the campaign's scenarios (see `nurture test`)")) -> None:
    """Show what `nurture apply` would change (rules, leads, in-flight journeys) without changing anything,
    and whether the campaign's scenarios still pass."""
    nurture = service(ctx)
    applied = nurture.apply(dry_run=True)
    summary = _applied_summary(applied)
    summary["experiments"] = _experiments(nurture)  # split steps: arms, goals, rules, recorded winners
    if scenarios:  # a pull request shows what changes and whether the campaign's own tests still pass
        result = _scenario_results(nurture)
        summary["scenarios"] = {key: result[key] for key in ("passed", "failed", "failures")}
    if json:
        summary.pop("journey_lines")
        print_json(summary)
    elif not applied.created:
        console.print("no changes: the campaign on disk is the current version")
    else:
        console.print("apply would make a new campaign version:")
        _print_applied(summary, "would rescore")
    if not json:
        from engine.cli.experiments import print_plan

        print_plan(summary["experiments"])
    if not json and "scenarios" in summary:
        _print_scenarios(summary["scenarios"])


def _experiments(nurture) -> list[dict]:
    """The split steps of the campaign on disk, with the winners the store has recorded."""
    from engine.core.rules import compile_rules
    from engine.experiments import plan_summary

    with nurture.store.transaction(dry_run=True) as tx:
        return plan_summary(tx, compile_rules(nurture.load_campaign()))


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _load(ctx: typer.Context, path: str, what: str, json: bool, run: Load,
          mapping: ColumnMapping | None = None, dry_run: bool = False) -> None:
    from engine.ingest.rows import InvalidRow, open_input, read_rows

    try:
        stream, kind = open_input(path)
    except (InvalidRow, OSError) as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise typer.Exit(1) from None
    nurture = service(ctx)
    origin = "stdin" if path == "-" else path
    with stream, progress_bar(f"{what} {origin}", None, enabled=not json) as bar:
        task = bar.add_task(f"{what} {origin}", total=_count_lines(path))
        rows: Iterable[Row] = read_rows(stream, kind, mapping.header_problem if mapping else None)
        if dry_run:  # the campaign on disk checks the rows; the store is not opened
            from engine.core.rules import compile_rules

            rules = compile_rules(nurture.load_campaign())
            if mapping:
                rows = mapping.apply(rows, rules.attribute_types)
            report = _would_import(rows, rules.attribute_types, kind == "csv", lambda n: bar.advance(task, n))
        else:
            processor = nurture.processor()
            if mapping:
                rows = mapping.apply(rows, processor.rules.attribute_types)
            report = run(processor, rows, origin, kind == "csv", lambda n: bar.advance(task, n))
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


def events_ingest(ctx: typer.Context, file: str = typer.Argument(..., help=".jsonl or .csv file, or - for stdin"),
                  json: bool = JSON) -> None:
    """Ingest events: score them, move stages. Exit 0 all accepted, 3 some quarantined, 1 none read."""
    _load(ctx, file, "events", json,
          lambda p, rows, origin, text, prog: p.ingest_events(rows, origin, text, prog))


def leads_import(ctx: typer.Context, file: str = typer.Argument(..., help=".csv or .jsonl file with an email "
                                                                      "column, or - for stdin"),
                 json: bool = JSON,
                 map_columns: list[str] = typer.Option([], "--map", metavar="COLUMN=FIELD",
                                                       help="Read a column as an attribute, e.g. --map \"Lead "
                                                            "Source=lead_source\" (FIELD empty: drop it); repeatable"),
                 mapping_file: Path = typer.Option(None, "--mapping",
                                                   help="A TOML mapping file with columns, placeholder values and "
                                                        "the date format (see docs/importing.md)"),
                 ignore_unknown: bool = typer.Option(False, "--ignore-unknown",
                                                     help="Drop columns no attribute is declared for"),
                 date_format: str = typer.Option(None, "--date-format", metavar="FORMAT",
                                                 help="How dates are written in the file, e.g. %d-%m-%Y"),
                 dry_run: bool = typer.Option(False, "--dry-run",
                                              help="Check every row and say what would be imported; change nothing")
                 ) -> None:
    """Upsert leads by email. Exit 0 all accepted, 3 some quarantined, 1 none read."""
    from engine.ingest.mapping import ColumnMapping

    base = ColumnMapping.from_file(mapping_file) if mapping_file else ColumnMapping()
    mapping = base.overridden(map_columns, ignore_unknown=ignore_unknown, date_format=date_format)
    _load(ctx, file, "leads", json,
          lambda p, rows, origin, text, prog: p.import_leads(rows, origin, text, prog), mapping, dry_run)


def _would_import(rows: Iterable[Row], attributes: dict[str, TypeRef], from_text: bool,
                  progress: Callable[[int], None]) -> Report:
    """What importing ``rows`` would do, checked against the campaign's attributes only."""
    from engine.ingest.processor import Report
    from engine.ingest.rows import InvalidRow, Rejected, validate_lead

    report = Report()
    emails: set[str] = set()
    for row in rows:
        report.rows += 1
        try:
            if row.data is None:
                raise InvalidRow(row.error or "unreadable row")
            emails.add(validate_lead(row, attributes, from_text).email)
        except InvalidRow as err:
            report.rejected.append(Rejected(row.line, row.raw, str(err)))
        progress(1)
    report.accepted = report.leads_updated = len(emails)
    return report
