"""Follow-up SLA clocks kept in step with ingestion: a clock starts in the transaction that records
a lead's entry into a stage with a follow-up, and the follow-up event meets it in the transaction that
stores the event. The daemon's tick only acts on deadlines (engine.daemon.sla).

An entry recorded after its deadline had already passed (history imported late, a replay that moves an old
entry) starts no clock: a follow-up can only be missed once the engine knew the lead was waiting for one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from engine.core.clock import as_utc
from engine.core.evaluator import LeadRecord
from engine.core.sla import SlaPlan
from engine.store import Tx


def clock_row(plan: SlaPlan, lead_id: int, stage: str, entered_at: dt.datetime,
              owner: str | None) -> dict[str, Any] | None:
    """The clock of one entry into ``stage`` (None: the stage has no follow-up)."""
    due = plan.deadline(stage, entered_at, owner)
    if due is None:
        return None
    return {"key": f"{lead_id}:{stage}:{round(entered_at.timestamp() * 1000)}", "lead_id": lead_id, "stage": stage,
            "event": plan.rules[stage].event, "owner": owner, "entered_at": entered_at, "deadline": due,
            "status": "open"}


def keep_follow_ups(tx: Tx, plan: SlaPlan, leads: Iterable[LeadRecord], now: dt.datetime,
                    earlier: Mapping[int, set[tuple[Any, str, str]]], followed_up: Collection[int] = ()) -> None:
    """Start clocks for the entries these leads just made, and meet open clocks their new events follow up.

    ``earlier``: replayed leads' stage history before the replay; entries it already held are not new.
    ``followed_up``: the leads among them with a follow-up event (of any stage's rule) just stored. Only those
    and the leads whose clocks start here can have a clock met now: any other clock's follow-up was stored
    before, and met the clock then.
    """
    if not plan.rules:
        return
    leads = list(leads)
    rows = []
    for lead in leads:
        before = {(as_utc(at), to) for at, _, to in earlier.get(lead.id, set())}
        for change in lead.changes:
            at = as_utc(change["at"])
            if (at, change["to_stage"]) in before:
                continue
            row = clock_row(plan, lead.id, change["to_stage"], at, lead.owner)
            if row is not None and row["deadline"] > now:
                rows.append(row)
    tx.sla.open(rows)
    meeting = {row["lead_id"] for row in rows} | set(followed_up)
    if meeting:  # one statement for the batch: its open clocks whose event is now stored
        tx.sla.mark_met(now, sorted(meeting))
