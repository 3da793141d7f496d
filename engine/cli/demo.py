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
    from engine.cli.reports import _funnel_table
    from engine.reports.funnel import funnel_report

    with reading(result.database_url) as view:
        funnel = funnel_report(view.tx, view.rules())
    if funnel["overall"]:
        console.print(_funnel_table("Funnel", funnel["overall"]))
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
    if result.console_user is not None:
        user, password = result.console_user
        console.print("\n[bold]The console[/]: start it on the demo's store with", highlight=False)
        console.print(f"  NURTURE_DATABASE_URL={url} .venv/bin/nurture serve", highlight=False, soft_wrap=True)
        console.print("then open [bold]http://127.0.0.1:8000/[/] and sign in as", highlight=False)
        console.print(f"  email: {escape(user)}\n  password: {escape(password)}", highlight=False, soft_wrap=True)
