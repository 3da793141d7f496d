"""`nurture tune`: the points of the campaign's scoring rules, fitted to outcomes, as a diff to review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import config_of, console, err_console, print_json, progress_bar


def register(app: typer.Typer) -> None:
    app.command()(tune)


def tune(
    ctx: typer.Context,
    events: str = typer.Option(..., "--events", help="History of events, as `nurture events ingest` reads it"),
    outcomes: Path = typer.Option(..., "--outcomes", help="CSV of outcomes: email[,converted][,converted_at]; "
                                                          "leads it does not name did not convert"),
    leads: str = typer.Option(None, "--leads", help="Leads with their attributes, as `nurture leads import` reads"),
    score: str = typer.Option(None, "--score", help="Tune this score's rules only (default: every score)"),
    at: str = typer.Option(None, "--at", help="Judge the history as of this ISO 8601 time: later events and "
                                              "conversions are left out, scores read then"),
    seed: int = typer.Option(7, "--seed", help="Seed of the folds: the same seed gives the same figures"),
    write: bool = typer.Option(False, "--write", help="Write the suggested points into the .nurture files"),
    json: bool = typer.Option(False, "--json", help="Machine-readable output"),
) -> None:
    """Fit the points of the campaign's own scoring rules to outcomes, and show them as a diff.

    The history is scored as the engine scores it (caps, decay, floors), each lead
    judged just before its outcome. A regularised logistic regression, cross-validated,
    weighs every rule against the others; one scale factor turns its weights into whole
    points, the largest near the campaign's largest.

    Printed: the cross-validated AUC of the current and the suggested points on the same
    held-out leads; each rule's fitted weight beside its marginal lift (when they disagree
    in sign, trust the weight: the lift ignores the other rules); a unified diff of the
    .nurture files.

    Only point numbers change (and a cap's, scaled with its rule's points); stage
    thresholds stay. Nothing is written without --write, and then atomically.
    The outcomes file and the method: docs/tuning.md.
    """
    from engine.lab.history import parse_at
    from engine.lab.outcomes import read_outcomes

    config = config_of(ctx)
    known = read_outcomes(outcomes)
    known.raise_problems()  # before anything is scored: a bad row is an error, never a lead left out
    when = parse_at(at) if at else None

    from engine.lab.tune import run_tune  # numpy and scikit-learn: only now
    from engine.lab.tune_write import changes, write_atomically

    with progress_bar("scoring the history", None, enabled=not json) as bar:
        task = bar.add_task("scoring the history", total=None)
        result = run_tune(campaign_dir=config.campaign_dir, template_dir=config.template_dir, events=events,
                          outcomes=known, leads=leads, score=score, at=when, seed=seed,
                          progress=lambda n: bar.advance(task, n), on_scan=lambda n: bar.update(task, total=n),
                          on_fold=lambda done, of: bar.update(task, description="fitting the rules' weights",
                                                              completed=done, total=of))
    data = result.as_dict()
    files = changes(result.table.refs, [int(p) for p in result.fitted.suggested])
    data["diff"] = "".join(change.diff() for change in files)
    data["files"] = [str(change.path) for change in files]
    if write and files:
        write_atomically(files)
    data["written"] = bool(write and files)
    if json:
        print_json(data)
        return
    print_tune(data)
    if not files:
        console.print("\n[bold]The suggested points are the current ones[/]: nothing to change")
    elif write:
        console.print(f"\n[bold green]Wrote[/] {len(files)} file(s): {escape(', '.join(data['files']))}. Check them "
                      "with `nurture check`, and replay them with `nurture backtest --against` before `nurture apply`.")
    else:
        console.print("\n[dim]Nothing was written; --write applies this diff.[/]")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tune(data: dict[str, Any]) -> None:
    console.print(f"[bold]Tuning[/] {', '.join(data['scores'])}: {data['leads']:,} leads, {data['converted']:,} "
                  f"converted, {data['events_accepted']:,} events from {data['first_event'][:10]} to "
                  f"{data['last_event'][:10]}, judged at {data['at']}")
    if data["quarantined"]:
        err_console.print(f"[yellow]{data['quarantined']:,} rows of the history were quarantined[/] (nurture "
                          "events ingest shows why)")
    if data["outcomes_not_in_history"]:
        err_console.print(f"[yellow]{data['outcomes_not_in_history']:,} converted leads of the outcomes are not in "
                          "the history[/]")
    for note in data["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")
    figures = data["auc"]
    console.print(f"\n[bold]Cross-validated AUC[/]: the summed score ranked on held-out leads ({figures['folds']} "
                  f"folds, seed {data['seed']}); 0.5 knows nothing, 1.0 ranks every converter first")
    table = Table("points", "AUC")
    table.add_row("current", _num(figures["current"]))
    table.add_row("suggested", _num(figures["suggested"]))
    table.add_row("fitted weights, before rounding", _num(figures["fitted"]))
    console.print(table)
    table = Table(title="Rules: fitted weight (points per award, the other rules held equal) beside marginal lift",
                  title_justify="left")
    for name in ("score", "rule", "where", "points", "suggested", "weight", "lift", "note"):
        if name == "where":  # a path is never cut short: it folds onto the next line
            table.add_column(name, overflow="fold", min_width=12)
        else:
            table.add_column(name)
    for rule in data["rules"]:
        suggested = f"{rule['suggested']:+d}"
        if rule["suggested"] != rule["points"]:
            suggested = f"[bold]{suggested}[/]"
        if rule["cap"] is not None and rule["suggested_cap"] != rule["cap"]:
            suggested += f" max {rule['suggested_cap']}"
        note = rule["note"]
        if rule["disagree"]:
            note = "lift and weight disagree in sign" + (f"; {note}" if note else "")
        table.add_row(rule["score"], escape(rule["rule"]), escape(rule["where"]), f"{rule['points']:+d}", suggested,
                      _num(rule["weight"], 1), _num(rule["lift"], 2), escape(note))
    console.print(table)
    if data["diff"]:
        console.print("")
        console.print(data["diff"], markup=False, highlight=False, end="")
