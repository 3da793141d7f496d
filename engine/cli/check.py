"""`nurture check`: report every problem in a campaign, like a compiler."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from engine.cli.app import console


def register(app: typer.Typer) -> None:
    app.command()(check)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def check(
    paths: list[Path] = typer.Argument(None, help="Campaign files or directories [default: journeys]"),
    templates: Path = typer.Option(None, "--templates", help="Template directory [default: templates/ "
                                   "beside the campaign]"),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", help="text for people, json for CI"),
) -> None:
    """Check a campaign: names, types, templates and logic. Exit 1 when there are errors."""
    from dsl.campaign import load_campaign
    from dsl.diagnostics import render, summary, to_json

    campaign = load_campaign(paths or [Path("journeys")], templates)
    diags = sorted(campaign.diagnostics, key=lambda d: (d.span.path, d.span.line, d.span.column))
    files = len(campaign.paths)  # unreadable files count too: each was looked at and reported
    if format is OutputFormat.json:
        print(to_json(diags, files))
    else:
        for diag in diags:
            console.print(render(diag, campaign.sources), markup=False, highlight=False, soft_wrap=True)
            console.print()
        console.print(summary(diags, files), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1 if campaign.has_errors else 0)
