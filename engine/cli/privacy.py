"""`nurture leads export|erase EMAIL`: data subject requests, answered from the store as it is.

Neither creates or upgrades a store. Export writes one JSON document; erase removes everything held
about the address in one transaction and keeps only its salted hash with the counts (the audit record).
"""

from __future__ import annotations

import getpass
import json as jsonlib
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from engine.cli.app import JSON, config_of, console, lead_address, print_json, reading
from engine.core.clock import SystemClock
from engine.errors import CampaignError, EngineError, LeadNotFound


def register(leads: typer.Typer) -> None:
    leads.command("export")(leads_export)
    leads.command("erase")(leads_erase)


def _who() -> str:
    """The user at the command line, as the audit record names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name known to the system (some containers)
        return "cli"


def leads_export(ctx: typer.Context, email: str = typer.Argument(..., help="The lead's email address"),
                 out: Path = typer.Option(None, "--out", help="Write the document to FILE instead of stdout"),
                 json: bool = JSON) -> None:
    """Everything held about one person as one JSON document (a data subject access request).

    The lead (attributes, stage, owner, scores as read now, consent), its events, score ledger, stage
    changes, pending actions, signals, journey enrolments, outbox messages with their bodies, quarantined
    rows that mention the address and suppression entries. JSON is the only format, so --json changes nothing.
    """
    address = lead_address(email)
    now = SystemClock().now()
    with reading(config_of(ctx).database_url) as view:
        try:
            rules = view.rules()
        except CampaignError:  # no campaign applied: scores cannot be read, everything else is exported
            rules = None
        document = view.tx.privacy.export(address, rules, now)
        erased = view.tx.privacy.erasure_of(address) if document is None else None
    if document is None:
        raise _not_found(address, erased)
    text = jsonlib.dumps(document, indent=2, default=str, ensure_ascii=False)
    if out is None:
        print(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"wrote everything held about {escape(address)} to {escape(str(out))}", highlight=False)


def leads_erase(ctx: typer.Context, email: str = typer.Argument(..., help="The lead's email address"),
                yes: bool = typer.Option(False, "--yes", help="Erase without asking (it cannot be undone)"),
                json: bool = JSON) -> None:
    """Erase one person (a data subject erasure request), in one transaction; it cannot be undone.

    Removes the lead, its events, ledger, stage changes, actions, signals, enrolments, outbox messages
    (sales notifications and webhooks about it too), quarantined rows that mention the address and its
    suppression entries. Only a salted hash of the address is kept, so imports and intake refuse it and
    it is never mailed again, with an audit record: when, by whom and how many rows per table.
    """
    address = lead_address(email)
    if not yes and not typer.confirm(f"Erase everything held about {address}? This cannot be undone"):
        raise typer.Exit(1)
    from engine.store.existing import open_existing  # the store is imported only by the commands using it

    store = open_existing(config_of(ctx).database_url)
    try:
        with store.transaction() as tx:
            counts = tx.privacy.erase(address, _who(), SystemClock().now())
            erased = tx.privacy.erasure_of(address) if counts is None else None
    finally:
        store.dispose()
    if counts is None:
        raise _not_found(address, erased)
    if json:
        print_json({"lead": address, "erased": counts})
        return
    removed = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    console.print(f"erased {escape(address)}: {removed}; only a salted hash of the address is kept, so it is "
                  "never added or mailed again", highlight=False)


def _not_found(address: str, erasure: dict[str, Any] | None) -> EngineError:
    if erasure is not None:
        return EngineError(f"{address!r} was erased on {erasure['erased_at']} (by {erasure['erased_by']}); "
                           "nothing is held about it any more")
    return LeadNotFound(address)
