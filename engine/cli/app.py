"""The root Typer application, and what commands share: configuration, the engine, reading the store, output."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from engine.config import Config, load_config
from engine.errors import CampaignError, LeadNotFound

# The store, the service and the rules are imported by the commands that use them, inside the call: `nurture
# --help` and `nurture check` never pay for SQLAlchemy, Jinja or FastAPI (tests/test_startup.py holds this).
if TYPE_CHECKING:
    from rich.progress import Progress

    from engine.core.rules import Rules
    from engine.service import Nurture
    from engine.store import Tx

app = typer.Typer(
    name="nurture",
    help="Nurture: lead scoring, lifecycle stages and drip journeys as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Paths, lines and user text are printed as they are: no `:100:` turned into an emoji, no guessing at colours
# for numbers and URLs. Markup is only what the commands write themselves (user text in it is escaped).
console = Console(emoji=False, highlight=False)
err_console = Console(stderr=True, emoji=False, highlight=False)
JSON = typer.Option(False, "--json", help="Machine-readable output")


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version  # `nurture --version` alone is answered in engine/__main__.py

        console.print(f"nurture {version('nurture')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", help="Configuration file [default: ./nurture.toml if present]"),
    version: bool = typer.Option(False, "--version", help="Print the version and exit", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Nurture: lead scoring, lifecycle stages and drip journeys as code.

    Settings come from nurture.toml and NURTURE_* environment variables
    (NURTURE_DATABASE_URL, NURTURE_CAMPAIGN_DIR, NURTURE_TEMPLATE_DIR, ...).
    """
    ctx.obj = {"config": config}


def config_of(ctx: typer.Context) -> Config:
    """The configuration of this invocation (config file, then environment)."""
    root = ctx.find_root()
    return load_config((root.obj or {}).get("config"))


def service(ctx: typer.Context) -> Nurture:
    """The engine configured for this invocation; commands that write start here."""
    from engine.service import Nurture

    return Nurture(config_of(ctx))


@dataclass
class Reading:
    """A look at the store as it is, for commands that only read."""

    tx: Tx
    where: str

    def rules(self) -> Rules:
        """The rules of the campaign version applied last; reading them applies nothing."""
        from dsl.campaign import parse_sources
        from engine.core.rules import compile_rules

        version_id = self.tx.reports.applied_version()
        if version_id is None:
            raise CampaignError(f"no campaign version has been applied to the store at {self.where} - run "
                                "`nurture apply` first")
        return compile_rules(parse_sources(self.tx.reports.campaign_files(version_id)))


@contextlib.contextmanager
def reading(url: str) -> Iterator[Reading]:
    """The existing store at ``url`` (StoreNotReady when there is none): nothing is created, upgraded or kept."""
    from engine.store.existing import location, open_existing

    store = open_existing(url)
    try:
        with store.transaction(dry_run=True) as tx:
            yield Reading(tx, location(store))
    finally:
        store.dispose()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def progress_bar(description: str, total: int | None, enabled: bool = True) -> Progress:
    """A rich progress bar on stderr (so `--json` output on stdout stays clean)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True, disable=not enabled)


def lead_address(email: str) -> str:
    """``email`` as leads are keyed by; LeadNotFound when it cannot be any lead's address."""
    from engine.core.addresses import InvalidAddress, normalise_address

    try:
        return normalise_address(email)
    except InvalidAddress as err:
        raise LeadNotFound(email) from err
