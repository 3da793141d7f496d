"""`nurture report experiment [NAME]`: how the arms of each split step (A/B experiment) compare, and the
winner if one is recorded. It reads the store as it is (nothing is created, upgraded or written)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.app import JSON, config_of, console, print_json, reading


def register(report: typer.Typer) -> None:
    report.command("experiment")(report_experiment)


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _interval(arm: dict[str, Any]) -> str:
    if arm["ci_low"] is None:
        return "-"
    return f"{arm['ci_low']:+.1%} to {arm['ci_high']:+.1%}"


def report_experiment(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Only this split (by the name in `split \"...\"`)"),
    json: bool = JSON,
) -> None:
    """Per arm of each split: leads assigned and measured (goal window closed), goal reached, rate, uplift and
    a 95% interval on the difference against the first arm, the p-value, and the recorded winner."""
    from engine.core.clock import SystemClock
    from engine.reports.experiments import experiment_report

    with reading(config_of(ctx).database_url) as view:
        report = experiment_report(view.tx, view.rules(), SystemClock().now(), name)
    if json:
        print_json(report)
        return
    if not report["experiments"]:
        console.print("the applied campaign has no split steps", highlight=False)
    for exp in report["experiments"]:
        title = f"Split {exp['split']} ({exp['journey']}.{exp['step']}): {exp['goal']}"
        if exp["rule"]:
            title += f"; {exp['rule']}"
        # short headings, so the table fits 80 columns: leads assigned, measured (window closed), goal reached
        table = Table("arm", "weight", "leads", "measured", "goal", "rate", "uplift", "diff (95% CI)", "p",
                      title=escape(title), title_justify="left")
        for arm in exp["arms"]:
            table.add_row(escape(arm["arm"]), f"{arm['weight']}%", f"{arm['assigned']:,}", f"{arm['measured']:,}",
                          f"{arm['reached']:,}", _pct(arm["rate"]), _pct(arm["uplift"], signed=True),
                          _interval(arm), "-" if arm["p_value"] is None else f"{arm['p_value']:.4f}")
        console.print(table)
        decision = exp["decision"]
        if decision is None:
            console.print("no winner recorded yet", highlight=False)
            continue
        console.print(f"winner: {escape(decision['winner'])}, decided {escape(decision['at'])}: "
                      f"{escape(decision['why'])}", highlight=False)
        if decision["split_changed"]:
            console.print("[bold yellow]the split's arms or weights changed since the winner was picked[/]")


def print_plan(splits: list[dict[str, Any]]) -> None:
    """`nurture plan`'s lines on split steps: each split's arms, goal and rule, and any recorded winner."""
    for split in splits:
        arms = ", ".join(f"{arm['weight']}% {arm['arm']}" for arm in split["arms"])
        rule = f"; {split['rule']}" if split["rule"] else ""
        console.print(f"split {escape(split['split'])} in {escape(split['journey'])}: {escape(arms)}; "
                      f"{escape(split['goal'])}{escape(rule)}", highlight=False)
        decision = split["decision"]
        if decision is None:
            continue
        console.print(f"  winner recorded: {escape(decision['winner'])} ({escape(decision['at'])}); every lead "
                      "reaching the split now goes down that arm", highlight=False)
        if decision["winner_removed"]:
            console.print(f"  [bold yellow]changed:[/] the winner `{escape(decision['winner'])}` is no longer an "
                          "arm; leads will be shared out by weight again", highlight=False)
        elif decision["split_changed"]:
            then = ", ".join(f"{w}% {a}" for a, w in decision["arms_then"])
            console.print(f"  [bold yellow]changed since the winner was picked:[/] the arms were {escape(then)}",
                          highlight=False)
