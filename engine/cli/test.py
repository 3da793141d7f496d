"""`nurture test`: play a campaign's scenarios on a virtual clock and report like pytest."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from dsl.diagnostics import render
from engine.cli.app import config_of, console, err_console, print_json

if TYPE_CHECKING:
    from engine.lab.scenarios import Outcome, Suite

RULE = 78


def register(app: typer.Typer) -> None:
    app.command("test")(test_scenarios)


def _rule(text: str, fill: str = "=") -> str:
    side = max(3, (RULE - len(text) - 2) // 2)
    return f"{fill * side} {text} {fill * side}"


def failure_text(outcome: Outcome) -> str:
    """One failure as the command prints it: the expectation with `path:line`, what happened instead, the
    timeline that led there."""
    failure = outcome.failure
    assert failure is not None
    ref = outcome.ref
    where = f"{failure.path}:{failure.line}" if failure.line is not None else failure.path
    lines = [_rule(ref.id, "_"), f"{where}: {failure.expectation}"]
    lines.append(f"but at {failure.at}:" if failure.at else "but:")
    lines += [f"  {sentence}" for sentence in failure.instead]
    if failure.timeline:
        lines.append(f"timeline (the lead's time, {failure.zone}; day 0 is {failure.day0}):")
        width = max(len(e.at) for e in failure.timeline)
        lines += [f"  {e.at:<{width}}  {e.kind:<7}  {e.text}" for e in failure.timeline]
    return "\n".join(lines)


def summary_text(outcomes: list[Outcome], seconds: float) -> str:
    failed = sum(not o.passed for o in outcomes)
    passed = len(outcomes) - failed
    parts = ([f"{failed} failed"] if failed else []) + ([f"{passed} passed"] if passed or not failed else [])
    return _rule(f"{', '.join(parts)} in {seconds:.2f}s")


def test_scenarios(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="Scenario files or directories [default: the campaign directory]"),
    json: bool = typer.Option(False, "--json", help="Machine-readable output"),
    jobs: int = typer.Option(0, "-j", "--jobs", help="Scenarios played at once [default: the number of CPUs]"),
    campaign: Path = typer.Option(None, "--campaign", help="The campaign under test [default: the directory "
                                  "beside templates/ that holds each path]"),
    templates: Path = typer.Option(None, "--templates", help="Template directory [default: templates/ beside "
                                   "the campaign]"),
) -> None:
    """Play every scenario on a virtual clock through the daemon's own code. Exit 0 all pass, 1 a failure, 2 usage."""
    from engine.lab.scenarios import UsageError, collect_suite, run_suite

    config = config_of(ctx)
    started = time.perf_counter()
    try:
        suite = collect_suite(paths or [config.campaign_dir], campaign or config.campaign_dir,
                              templates or config.template_dir, explicit_campaign=campaign is not None,
                              explicit_templates=templates is not None)
    except UsageError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise typer.Exit(2) from None
    if suite.errors:
        _campaign_errors(suite, json)
        raise typer.Exit(1)
    if not suite.scenarios:
        where = ", ".join(map(str, paths or [config.campaign_dir]))
        err_console.print(f"[bold red]error:[/] no scenarios in {escape(where)}; write them in `.nurture` files "
                          'as `scenario "name" { ... }`')
        raise typer.Exit(2)
    outcomes = []
    for outcome in run_suite(suite, jobs or os.cpu_count() or 1):
        outcomes.append(outcome)
        if not json:
            mark = "[green]PASS[/]" if outcome.passed else "[bold red]FAIL[/]"
            console.print(f"{mark} {escape(outcome.ref.id)}", highlight=False, soft_wrap=True)
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if not o.passed]
    if json:
        print_json({"passed": len(outcomes) - len(failed), "failed": len(failed), "seconds": round(seconds, 3),
                    "scenarios": [o.to_json() for o in outcomes]})
    else:
        if failed:
            console.print()
            console.print(_rule("FAILURES"), highlight=False, soft_wrap=True)
            for outcome in failed:
                console.print(failure_text(outcome), markup=False, highlight=False, soft_wrap=True)
        console.print(summary_text(outcomes, seconds), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed else 0)


def _campaign_errors(suite: Suite, json: bool) -> None:
    errors = suite.errors
    if json:
        print_json({"passed": 0, "failed": 0, "errors": [d.to_json() for d in errors], "scenarios": []})
        return
    for diag in errors:
        console.print(render(diag, suite.sources), markup=False, highlight=False, soft_wrap=True)
        console.print()
    console.print(f"the campaign has {len(errors)} error{'s' if len(errors) != 1 else ''}: no scenario was run "
                  "(see `nurture check`)", markup=False, highlight=False, soft_wrap=True)
