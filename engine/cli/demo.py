"""`nurture demo`: the whole product on a virtual clock, ending with what it did."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import config_of, console, progress_bar, reading


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    ctx: typer.Context,
    leads: int = typer.Option(300, help="Synthetic leads at the start (a new cohort arrives each week)"),
    days: int = typer.Option(42, help="Days to simulate"),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same run"),
    outbox: Path = typer.Option(Path("demo-outbox"), help="Directory for the captured .eml files"),
    smtp_host: str = typer.Option(None, "--smtp-host", help="Send to this SMTP server instead of the local capture"),
    smtp_port: int = typer.Option(None, "--smtp-port", help="Port of --smtp-host"),
    database_url: str = typer.Option(None, "--database-url", help="Store to use [default: a fresh demo.db]"),
) -> None:
    """Run weeks of the example campaign in seconds: leads, engagement, scoring, journeys, real SMTP."""
    from engine.lab.demo import run_demo

    config = config_of(ctx)
    console.print(f"[bold]Nurture demo[/]: {leads} leads, {days} days of engagement on a virtual clock, campaign "
                  f"{escape(str(config.campaign_dir))}/, templates {escape(str(config.template_dir))}/")
    with progress_bar("simulating days", days) as bar:
        task = bar.add_task("simulating days", total=days)
        result = run_demo(campaign_dir=config.campaign_dir, template_dir=config.template_dir,
                          database_url=database_url, outbox_dir=outbox, smtp_host=smtp_host, smtp_port=smtp_port,
                          leads=leads, days=days, seed=seed, progress=lambda n: bar.advance(task, n),
                          base_url=config.base_url if "base_url" in config.given else None)
    console.print(f"\n{result.leads:,} leads, {result.events:,} engagement events, {result.ticks:,} daemon ticks; "
                  f"{result.sent:,} emails sent, {result.failed:,} failed")
    with reading(result.database_url) as view:
        funnel = view.tx.reports.funnel(view.rules())
    table = Table("stage", "now", "ever reached", "median days to reach", title="Funnel", title_justify="left")
    for row in funnel["stages"]:
        days_to = funnel["median_days_to_reach"].get(row["stage"])
        table.add_row(row["stage"], f"{row['current']:,}", f"{row['reached']:,}",
                      "-" if days_to is None else str(days_to))
    console.print(table)
    console.print("  ".join(f"{c['from']} -> {c['to']}: {'-' if c['rate'] is None else format(c['rate'], '.1%')}"
                            for c in funnel["conversion"]))
    steps = Table("journey", "step", "template", "sent", title="Emails sent per journey step", title_justify="left")
    for journey, step, template, count in result.per_step:
        steps.add_row(escape(journey), escape(step), escape(template), f"{count:,}")
    console.print(steps)
    console.print(f"[bold]Sales notifications[/]: {len(result.notifications):,}, the first five:")
    for lead, to, template in result.notifications[:5]:
        console.print(f"  {escape(lead)} -> {escape(to)} ({escape(template)})")
    if result.outbox_dir is not None:
        files = sorted(result.outbox_dir.glob("*.eml"))
        console.print(f"\n[bold]{len(files):,} .eml files[/] in {escape(str(result.outbox_dir.resolve()))}/"
                      + (f", e.g. {escape(files[0].name)}" if files else ""))
    console.print(f"Links in the emails point at {escape(result.base_url)}"
                  + ("" if "base_url" in config.given else " (set NURTURE_BASE_URL to the address of a "
                     "`nurture serve` on this store to follow them)"))
    url = escape(result.database_url)
    console.print(f"Store: {url}. Look inside with `NURTURE_DATABASE_URL={url} .venv/bin/nurture leads list` "
                  "(or `report funnel`); those commands read today's date, so scores will have decayed since the "
                  "demo's last day.")
