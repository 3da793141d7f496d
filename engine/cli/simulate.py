"""`nurture simulate` and `nurture backtest`: what a campaign would do, before it does it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import config_of, console, err_console, print_json, progress_bar

if TYPE_CHECKING:  # the lab is imported inside the commands that run it
    from engine.lab.simulate import Mix

JSON = typer.Option(False, "--json", help="Machine-readable output")
HTML = typer.Option(None, "--html", help="Also write a self-contained HTML report with charts to this file")


def register(app: typer.Typer) -> None:
    app.command()(simulate)
    app.command()(backtest)


def periods(days: int) -> tuple[str, int]:
    """Columns for per-day figures: days when they fit on a screen, else weeks."""
    return ("day", 1) if days <= 21 else ("week", 7)


def binned(values: list[int], width: int) -> list[int]:
    return [sum(values[i:i + width]) for i in range(0, len(values), width)]


def simulate(
    ctx: typer.Context,
    leads: int = typer.Option(1000, help="Synthetic leads at the start"),
    days: int = typer.Option(30, help="Days to simulate"),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same report"),
    mix: Path = typer.Option(None, "--mix", help="TOML or JSON file with the lead mix: temperaments' shares, rates"),
    tick_hours: float = typer.Option(4.0, "--tick-hours", help="Simulated hours between daemon ticks"),
    stuck_days: int = typer.Option(14, "--stuck-days", help="Report enrolments waiting longer than this"),
    render_all: bool = typer.Option(False, "--render-all", help="Render every email in full (slower)"),
    json: bool = JSON,
    html: Path = HTML,
) -> None:
    """Run synthetic leads through the campaign on a virtual clock, in a throwaway store.

    Reports the funnel over time, emails per journey step per day, the most emails any lead got
    in a day (over-mailing) and enrolments stuck in a wait. The live store is never touched.

    A mix file (TOML, or JSON of the same shape) changes who the leads are; anything left out keeps
    its default (see `--json` output's "mix"):

    \b
        new_leads_per_week = 0.1      # weekly cohorts, as a share of --leads
        sales_reject_rate = 0.33      # of yesterday's SQLs, sent back to marketing
        \\[temperaments.hot]
        share = 0.2                   # of the leads
        visits_per_day = 1.6
        demo_per_day = 0.06
        open_rate = 0.7
        click_rate = 0.35
    """
    from engine.lab.report_html import simulation_page
    from engine.lab.simulate import Mix, load_mix, run_simulation

    config = config_of(ctx)
    if leads < 1 or days < 1:
        err_console.print("[bold red]error:[/] simulate needs at least 1 lead (--leads) and 1 day (--days)")
        raise typer.Exit(1)
    chosen: Mix = load_mix(mix) if mix is not None else Mix()
    if not json:
        console.print(f"[bold]Simulating[/] {leads:,} leads over {days} days (seed {seed}) with the campaign in "
                      f"{escape(str(config.campaign_dir))}/")
    started = time.perf_counter()
    with progress_bar("simulating days", days, enabled=not json) as bar:
        task = bar.add_task("simulating days", total=days)
        result = run_simulation(campaign_dir=config.campaign_dir, template_dir=config.template_dir, leads=leads,
                                days=days, seed=seed, mix=chosen, tick_hours=tick_hours, stuck_days=stuck_days,
                                render_sample=None if render_all else 20, progress=lambda n: bar.advance(task, n))
    seconds = time.perf_counter() - started
    data = result.as_dict()
    if html is not None:
        html.write_text(simulation_page(data), encoding="utf-8")
    if json:
        print_json(data)
        return
    print_simulation(data)
    console.print(f"\n{data['lead_days']:,} lead-days in {seconds:.1f} s ({data['lead_days'] / seconds:,.0f} a "
                  "second); the store was temporary and is gone")
    if html is not None:
        console.print(f"HTML report: {escape(str(html))}")


def print_simulation(data: dict[str, Any]) -> None:
    for note in data["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")
    unit, width = periods(data["days"])
    stages = data["stages"]
    table = Table(unit, "date", *stages, title=f"Funnel over time: leads per stage at the end of each {unit}",
                  title_justify="left")
    rows = data["funnel_by_day"]
    for row in rows[width - 1::width] if width > 1 else rows:
        table.add_row(str(row["day"] if width == 1 else row["day"] // 7), row["date"],
                      *(f"{row.get(s, 0):,}" for s in stages))
    if width > 1 and len(rows) % width:
        row = rows[-1]
        table.add_row(f"{row['day'] / 7:.1f}", row["date"], *(f"{row.get(s, 0):,}" for s in stages))
    console.print(table)
    console.print("ever reached: " + ", ".join(f"{s} {n:,}" for s, n in data["reached"].items()))

    steps = data["sends_by_step"]
    columns = len(binned([0] * data["days"], width))
    table = Table("journey", "step", "template", *(f"{unit[0]}{i + 1}" for i in range(columns)), "total",
                  title=f"Emails sent per journey step per {unit}", title_justify="left")
    for step in steps:
        table.add_row(escape(step["journey"]), escape(step["step"]), escape(step["template"]),
                      *(f"{n:,}" if n else "·" for n in binned(step["per_day"], width)), f"{step['total']:,}")
    console.print(table if steps else "[bold]Emails sent per journey step[/]: none")

    mailing = data["mailing"]
    allowed = mailing["allowed_per_day"]
    cap = f"the campaign's cap: {mailing['daily_cap']} a day" if mailing["daily_cap"] else "no daily cap declared"
    if mailing["lead_days_over"]:
        console.print(f"[bold red]Over-mailing[/]: {mailing['lead_days_over']:,} lead-days with more than {allowed} "
                      f"marketing emails ({cap}); the most was {mailing['peak_per_lead_day']}:")
    else:
        console.print(f"[bold green]No over-mailing[/]: at most {mailing['peak_per_lead_day']} marketing email(s) "
                      f"per lead per day ({cap}), e.g.")
    for worst in mailing["worst"]:
        console.print(f"  {escape(worst['lead'])} on {worst['day']}: {worst['sends']} "
                      f"({escape(', '.join(worst['templates']))})", highlight=False)

    if data["stuck"]:
        table = Table("journey", "step", "waiting", "enrolments", "longest (days)", "e.g.",
                      title=f"Stuck in a wait for more than {data['stuck_days']} days", title_justify="left")
        for group in data["stuck"]:
            table.add_row(escape(group["journey"]), escape(group["step"]), group["kind"], f"{group['enrollments']:,}",
                          f"{group['longest_days']:g}", escape(", ".join(group["examples"][:2])))
        console.print(table)
    else:
        console.print(f"[bold green]Nobody stuck[/]: no enrolment waited more than {data['stuck_days']} days")
    for failure in data["render_failures"]:
        err_console.print(f"[bold red]render failed[/] {failure['messages']:,}x {escape(failure['template'])}: "
                          f"{escape(failure['error'])}")
    sent = data["sent"]
    console.print(f"{data['events']:,} events; {sent['marketing']:,} marketing emails and {sent['sales']:,} sales "
                  f"alerts sent" + "".join(f", {v:,} {k.removeprefix('outbox_')} at the end"
                                            for k, v in sent.items() if k.startswith("outbox_")))


def backtest(
    ctx: typer.Context,
    events: str = typer.Option(..., "--events", help="History of events, as `nurture events ingest` reads it"),
    leads: str = typer.Option(None, "--leads", help="Leads with their attributes, as `nurture leads import` reads"),
    outcomes: Path = typer.Option(None, "--outcomes", help="CSV of leads that became customers: email[,converted_at]"),
    against: str = typer.Option(None, "--against", help="Another version of the campaign: a directory or a git "
                                                        "revision (HEAD~1, a branch, a tag)"),
    tick_hours: float = typer.Option(6.0, "--tick-hours", help="Hours of history between daemon ticks"),
    render_all: bool = typer.Option(False, "--render-all", help="Render every email in full (slower)"),
    limit: int = typer.Option(20, "--limit", help="Leads and rules to list at most"),
    json: bool = JSON,
    html: Path = HTML,
) -> None:
    """Replay a history of real events through the campaign on disk (and another version of it).

    Reports, side by side: MQLs and SQLs produced, leads whose final stage differs and emails each
    journey step would have sent. With --outcomes: each scoring rule's lift, each stage's precision
    and recall, and each score's AUC. Each replay runs in a throwaway store; the live one is untouched.
    """
    from engine.lab.backtest import run_backtest
    from engine.lab.report_html import backtest_page

    config = config_of(ctx)
    with progress_bar("replaying events", None, enabled=not json) as bar:
        task = bar.add_task("replaying events", total=None)
        result = run_backtest(
            campaign_dir=config.campaign_dir, template_dir=config.template_dir, events=events, leads=leads,
            outcomes=outcomes, against=against, tick_hours=tick_hours, render_sample=None if render_all else 20,
            examples=limit, progress=lambda n: bar.advance(task, n),
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
                  f"{data['last_event'][:10]}")
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
        row(f"reached {stage}", [v["reached"].get(stage, 0) for v in versions])
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
        table.add_row(model["score"], *(_num(models[model["score"]]["auc"], 3) if model["score"] in models else "-"
                                         for models in by_model))
    console.print(table)
