"""A lead's account for people: its key, its values as last computed, the alerts holding, and its contacts."""

from __future__ import annotations

from typing import Any

from engine.core.rules import Rules
from engine.store import Tx

#: contacts listed on a lead's page (the first, by when they became leads)
CONTACTS_SHOWN = 50


def account_of_lead(tx: Tx, rules: Rules, lead_id: int) -> dict[str, Any] | None:
    """The account a lead belongs to, for its page; None when the campaign has no accounts or the lead has none
    (free mail, or no domain to go by)."""
    if rules.accounts is None:
        return None
    account = tx.accounts.of_lead(lead_id)
    if account is None:
        return None
    contacts = tx.accounts.members([account.key], limit=CONTACTS_SHOWN).get(account.key, [])
    declared = [r.name for r in rules.accounts.rollups]
    values = {name: account.scores[name] for name in declared if name in account.scores}
    return {"key": account.key, "values": values, "alerts": account.alerts, "computed_at": account.computed_at,
            "contacts": [{"email": c.email, "stage": c.stage} for c in contacts]}
