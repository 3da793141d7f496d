"""A lead's subscription topics as the console's lead page shows them: each declared topic, and when the
lead left it (None: it still gets that topic's emails)."""

from __future__ import annotations

from typing import Any

from engine.core.rules import Rules
from engine.store import Tx


def topic_states(tx: Tx, rules: Rules, lead_id: int) -> list[dict[str, Any]]:
    left = tx.topics.left_at(lead_id)
    return [{"name": name, "title": decl.title or name, "left_at": left.get(name)}
            for name, decl in rules.symbols.topics.items()]
