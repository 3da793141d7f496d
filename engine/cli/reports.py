"""`nurture report funnel|emails`: the console's reports on the command line, as tables, JSON or HTML.

They read the store as it is (nothing is created, upgraded or written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import JSON, config_of, console, print_json, reading


def register(report: typer.Typer) -> None:
    report.command("funnel")(report_funnel)
    report.command("emails")(report_emails)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _funnel_table(title: str, funnel: dict[str, Any]) -> Table:
    table = Table("stage", "entered", "skipped", "next", "converted", "rate", title=title, title_justify="left")
    for i, stage in enumerate(funnel["stages"]):
        conv = funnel["conversion"][i] if i < len(funnel["conversion"]) else None
        table.add_row(stage["stage"], f"{stage['entered']:,}", f"{stage['skipped']:,}" if i else "",
                      conv["to"] if conv else "", f"{conv['converted']:,}" if conv else "",
                      _pct(conv["rate"]) if conv else "")
    return table


def report_funnel(
    ctx: typer.Context,
    by: str = typer.Option(None, "--by", help="Break down by this declared attribute (its default counts for "
                                              "leads without a value)"),
    cohort: str = typer.Option(None, "--cohort", help="Break down by the month or week the lead was first seen: "
                                                      "month or week"),
    html: Path = typer.Option(None, "--html", help="Also write the report as a standalone HTML file"),
    json: bool = JSON,
) -> None:
    """Conversion between consecutive stages, skipped stages, median and mean days between stages; by attribute
    and/or cohort."""
    from engine.reports.funnel import funnel_report

    with reading(config_of(ctx).database_url) as view:
        report = funnel_report(view.tx, view.rules(), by, cohort)
    if html is not None:
        from engine.reports.html import funnel_html

        html.write_text(funnel_html(report), encoding="utf-8")
    if json:
        print_json(report)
        return
    if report["overall"]:
        console.print(_funnel_table(f"Funnel: {report['overall']['leads']:,} leads", report["overall"]))
    durations = Table("from", "to", "leads", "median days", "mean days", title="Time between stages",
                      title_justify="left")
    for d in report["durations"]:
        durations.add_row(d["from"], d["to"], f"{d['leads']:,}", "-" if d["median_days"] is None else
                          str(d["median_days"]), "-" if d["mean_days"] is None else str(d["mean_days"]))
    console.print(durations)
    if report["groups"]:
        ladder = report["ladder"]
        name = " / ".join(x for x in (by, cohort) if x)
        table = Table(name, "leads", *(f"{s} entered" for s in ladder[1:]), *(f"{a}->{b}" for a, b in
                                                                               zip(ladder, ladder[1:], strict=False)),
                      title=f"By {name}", title_justify="left")
        for group in report["groups"]:
            table.add_row(escape(group["label"]), f"{group['leads']:,}",
                          *(f"{s['entered']:,}" + (f" (+{s['skipped']} skipped)" if s["skipped"] else "")
                            for s in group["stages"][1:]),
                          *(_pct(c["rate"]) for c in group["conversion"]))
        console.print(table)
    if html is not None:
        console.print(f"wrote {escape(str(html))}", highlight=False)


def report_emails(ctx: typer.Context,
                  journey: str = typer.Option(None, "--journey", help="Only this journey's emails"),
                  json: bool = JSON) -> None:
    """How each journey email does: sent, delivered, opened (prefetches excluded), clicked, unsubscribed,
    bounced, and rates."""
    from engine.reports.emails import email_report
    from engine.reports.funnel import ReportError

    with reading(config_of(ctx).database_url) as view:
        rules = view.rules()
        if journey is not None and journey not in rules.symbols.journeys:
            raise ReportError(f"--journey {journey!r}: the applied campaign has no such journey; choose one of "
                              f"{', '.join(sorted(rules.symbols.journeys))}")
        report = email_report(view.tx, journey)
    if json:
        print_json(report)
        return
    table = Table("journey / step", "template", "sent", "delivered", "opened", "clicked", "unsub", "bounced",
                  "open rate", "click rate", title="Emails", title_justify="left")
    for s in report["sends"]:
        table.add_row(escape(f"{s['journey'] or '-'} / {s['step'] or '-'}"), escape(s["template"]), f"{s['sent']:,}",
                      f"{s['delivered']:,}", f"{s['opened']:,}", f"{s['clicked']:,}", f"{s['unsubscribed']:,}",
                      f"{s['bounced']:,}", _pct(s["open_rate"]), _pct(s["click_rate"]))
    console.print(table)
    worst = report["loses_most_readers"]
    if worst:
        console.print(f"loses the most readers: {escape(worst['template'])} ({escape(str(worst['journey']))} / "
                      f"{escape(str(worst['step']))}), {worst['lost_share']:.1%} of delivered not opened or lost",
                      highlight=False)
