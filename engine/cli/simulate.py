"""`nurture simulate`: what a campaign would do with synthetic leads, before it does anything."""

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
    jobs: int = typer.Option(None, "--jobs", "-j", min=1,
                             help="Processes at once for a simulation of more than 5,000 leads, which runs in shards "
                                  "of its own companies (default: one per core; the report is the same either way)"),
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
                                render_sample=None if render_all else 20, jobs=jobs,
                                progress=lambda n: bar.advance(task, n))
    seconds = time.perf_counter() - started
    data = result.as_dict()
    if html is not None:
        html.write_text(simulation_page(data), encoding="utf-8")
    if json:
        print_json(data)
    else:
        print_simulation(data)
        console.print(f"\n{data['lead_days']:,} lead-days in {seconds:.1f} s ({data['lead_days'] / seconds:,.0f} a "
                      "second); the store was temporary and is gone")
        if html is not None:
            console.print(f"HTML report: {escape(str(html))}")
    if result.broken:
        err_console.print(f"[bold red]error:[/] {len(result.broken)} invariant(s) broken in the simulation; "
                          "each is listed with the leads and days that broke it")
        raise typer.Exit(1)


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
    console.print("ever entered: " + ", ".join(f"{s} {n:,}" for s, n in data["entered"].items()))

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
    print_invariants(data["invariants"])
    for failure in data["render_failures"]:
        err_console.print(f"[bold red]render failed[/] {failure['messages']:,}x {escape(failure['template'])}: "
                          f"{escape(failure['error'])}")
    sent = data["sent"]
    console.print(f"{data['events']:,} events; {sent['marketing']:,} marketing emails and {sent['sales']:,} sales "
                  f"alerts sent" + "".join(f", {v:,} {k.removeprefix('outbox_')} at the end"
                                            for k, v in sent.items() if k.startswith("outbox_")))


def print_invariants(invariants: list[dict[str, Any]]) -> None:
    """Each invariant: held, or broken by how many leads, with the first of them and the days."""
    for verdict in invariants:
        text = escape(verdict["invariant"])
        if verdict["holds"]:
            console.print(f"[bold green]Holds[/]: {text}", highlight=False)
            continue
        console.print(f"[bold red]Broken[/]: {text} ({escape(verdict['where'])}) by "
                      f"{verdict['leads_breaking']:,} lead(s), e.g.", highlight=False)
        for example in verdict["examples"]:
            days = (f"day {example['from']['day']}" if example["from"]["day"] == example["to"]["day"]
                    else f"days {example['from']['day']} to {example['to']['day']}")
            console.print(f"  {escape(example['lead'])} on {days}: {escape(example['what'])}", highlight=False)
