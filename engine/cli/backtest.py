"""`nurture backtest`: a history of real events replayed through the campaign (and another version of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import config_of, console, err_console, print_json, progress_bar

JSON = typer.Option(False, "--json", help="Machine-readable output")
HTML = typer.Option(None, "--html", help="Also write a self-contained HTML report with charts to this file")
AT = typer.Option(None, "--at", help="Judge the history as of this ISO 8601 time (2026-03-01T09:30:00Z or "
                                     "2026-03-01): later events and conversions are left out, scores read then")


def register(app: typer.Typer) -> None:
    app.command()(backtest)


def backtest(
    ctx: typer.Context,
    events: str = typer.Option(..., "--events", help="History of events, as `nurture events ingest` reads it"),
    leads: str = typer.Option(None, "--leads", help="Leads with their attributes, as `nurture leads import` reads"),
    outcomes: Path = typer.Option(None, "--outcomes", help="CSV of outcomes: email[,converted][,converted_at]; "
                                                           "leads it does not name did not convert"),
    against: str = typer.Option(None, "--against", help="Another version of the campaign: a directory or a git "
                                                        "revision (HEAD~1, a branch, a tag)"),
    tick_hours: float = typer.Option(6.0, "--tick-hours", help="Hours of history between daemon ticks"),
    render_all: bool = typer.Option(False, "--render-all", help="Render every email in full (slower)"),
    limit: int = typer.Option(20, "--limit", help="Leads and rules to list at most"),
    at: str = AT,
    json: bool = JSON,
    html: Path = HTML,
) -> None:
    """Replay a history of real events through the campaign on disk (and another version of it).

    Reports, side by side: MQLs and SQLs produced, leads whose final stage differs and emails each
    journey step would have sent. With --outcomes: each scoring rule's lift, each stage's precision
    and recall, each score's AUC, and the AUC of the scores the stages read added up. Each replay
    runs in a throwaway store; the live one is untouched.

    --at reads everything as of that time, so a figure can be reproduced after the history has grown.
    The outcomes file is a CSV with a header naming email, converted and converted_at
    (docs/tuning.md); leads it does not name did not convert.
    """
    from engine.lab.backtest import run_backtest
    from engine.lab.history import parse_at
    from engine.lab.report_html import backtest_page

    config = config_of(ctx)
    with progress_bar("replaying events", None, enabled=not json) as bar:
        task = bar.add_task("replaying events", total=None)
        result = run_backtest(
            campaign_dir=config.campaign_dir, template_dir=config.template_dir, events=events, leads=leads,
            outcomes=outcomes, against=against, tick_hours=tick_hours, render_sample=None if render_all else 20,
            examples=limit, progress=lambda n: bar.advance(task, n), at=parse_at(at) if at else None,
            on_scan=lambda count, versions: bar.update(task, total=count * versions))
    data = result.as_dict()
    if html is not None:
        html.write_text(backtest_page(data), encoding="utf-8")
    if json:
        print_json(data)
        return
    print_backtest(data, limit)
    if html is not None:
        console.print(f"HTML report: {escape(str(html))}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _change(a: int, b: int) -> str:
    return "" if a == b else f"{b - a:+,}"


def print_backtest(data: dict[str, Any], limit: int) -> None:
    versions = data["versions"]
    names = ["current"] + [f"against {v['label']}" for v in versions[1:]]
    console.print(f"[bold]Backtest[/]: {data['events']:,} events from {data['first_event'][:10]} to "
                  f"{data['last_event'][:10]}" + (f", as of {data['at']}" if data["at"] else ""))
    for note in data["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")
    for line in data["quarantine"]:
        err_console.print(f"quarantined {escape(line)}", highlight=False)
    for line in data["outcome_problems"]:
        err_console.print(f"skipped {escape(line)}", highlight=False)
    two = len(versions) > 1
    table = Table("", *names, *(["change"] if two else []), title="What each version produces",
                  title_justify="left")

    def row(label: str, values: list[int]) -> None:
        table.add_row(label, *(f"{v:,}" for v in values), *([_change(values[0], values[1])] if two else []))

    row("leads", [v["leads"] for v in versions])
    row("events accepted", [v["events_accepted"] for v in versions])
    for stage in versions[0]["stages"][1:]:
        row(f"entered {stage}", [v["entered"].get(stage, 0) for v in versions])
    for stage in versions[0]["stages"]:
        row(f"in {stage} at the end", [v["current"].get(stage, 0) for v in versions])
    row("marketing emails", [v["sent"]["marketing"] for v in versions])
    row("sales alerts", [v["sent"]["sales"] for v in versions])
    console.print(table)
    if two:
        if data["final_stage_changed"]:
            moves = ", ".join(f"{t['from']} -> {t['to']}: {t['leads']:,}" for t in data["transitions"])
            console.print(f"[bold]{data['final_stage_changed']:,} leads end in another stage[/] ({moves}), e.g.:")
            for example in data["changed_examples"][:limit]:
                console.print(f"  {escape(example['lead'])}: {example['current']} now, {example['against']} "
                              f"with {escape(versions[1]['label'])}", highlight=False)
        else:
            console.print("[bold]Every lead ends in the same stage[/] with both versions")
    steps: dict[tuple[str, str, str], list[int]] = {}
    for i, version in enumerate(versions):
        for step in version["sends_by_step"]:
            steps.setdefault((step["journey"], step["step"], step["template"]), [0] * len(versions))[i] = step["sent"]
    table = Table("journey", "step", "template", *names, *(["change"] if two else []),
                  title="Emails that would have been sent, per journey step", title_justify="left")
    for (journey, step, template), counts in sorted(steps.items()):
        table.add_row(escape(journey), escape(step), escape(template), *(f"{n:,}" for n in counts),
                      *([_change(counts[0], counts[1])] if two else []))
    console.print(table if steps else "[bold]Emails that would have been sent[/]: none")
    evidence = [v["evidence"] for v in versions]
    if evidence[0] is not None:
        _print_evidence(evidence, names, limit)


def _print_evidence(evidence: list[dict[str, Any]], names: list[str], limit: int) -> None:
    first = evidence[0]
    console.print(f"\n[bold]Against the outcomes[/]: {first['converted']:,} of {first['leads']:,} leads converted "
                  f"(base rate {_pct(first['base_rate'])}); judged at {first['judged_at']}")
    if first["outcomes_not_in_history_count"]:
        console.print(f"[yellow]{first['outcomes_not_in_history_count']:,} converted leads are not in the history[/],"
                      f" e.g. {escape(', '.join(first['outcomes_not_in_history'][:3]))}")
    other = {(r["kind"], r["score"], r["rule"]): r for r in evidence[1]["rules"]} if len(evidence) > 1 else {}
    table = Table("score", "rule", "kind", "fired for", "converted", "rate", "lift",
                  *(["lift " + names[1]] if other else []),
                  title="Scoring rules by lift (conversion rate of the leads a rule fired for / base rate)",
                  title_justify="left")
    for rule in first["rules"][:limit]:
        twin = other.get((rule["kind"], rule["score"], rule["rule"]))
        table.add_row(rule["score"], escape(rule["rule"]), rule["kind"], f"{rule['fired']:,}",
                      f"{rule['converted']:,}", _pct(rule["conversion_rate"]), _num(rule["lift"]),
                      *([_num(twin["lift"]) if twin else "(absent)"] if other else []))
    console.print(table)
    if len(first["rules"]) > limit:
        console.print(f"[dim]... {len(first['rules']) - limit} more rules (--limit, --json)[/]")
    table = Table("stage", *(f"{h} {n}" for n in names for h in ("reached", "precision", "recall")),
                  title="Stages against the outcomes (reached the stage vs. converted)", title_justify="left")
    by_stage = [{s["stage"]: s for s in ev["stages"]} for ev in evidence]
    for stage in first["stages"]:
        cells = []
        for stages in by_stage:
            s = stages.get(stage["stage"])
            cells += [f"{s['reached']:,}", _pct(s["precision"]), _pct(s["recall"])] if s else ["-", "-", "-"]
        table.add_row(stage["stage"], *cells)
    console.print(table)
    table = Table("score", *(f"AUC {n}" for n in names),
                  title="Score models: AUC (0.5 knows nothing, 1.0 ranks every converter first)",
                  title_justify="left")
    by_model = [{m["score"]: m for m in ev["models"]} for ev in evidence]
    for model in first["models"]:
        label = f"{model['score']} (the scores the stages read, added up)" if model.get("sum_of") else model["score"]
        table.add_row(label, *(_num(models[model["score"]]["auc"], 3) if model["score"] in models else "-"
                               for models in by_model))
    console.print(table)
