"""The tick's follow-up SLA phase (stage-sla): clocks start for new stage entries, follow-ups that happened
meet them, and deadlines that came without one are breached, their actions run once.

Once only, even with several daemons: a clock is one row per entry (a unique key), and a breach is claimed
by moving its row from `open` in the same transaction as the actions it runs; a daemon that loses the claim
does nothing. The messages a breach sends have keys of their own in the outbox, so a crash between claim
and commit leaves both undone, and the next tick does both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.journeys import Enqueue, MessageKind
from engine.core.sla import SlaAction, SlaRule
from engine.store import Tx
from engine.store.sla import ClockRow

if TYPE_CHECKING:
    from engine.daemon.journeys import JourneyPhases, JourneyRunner


@dataclass
class SlaStats:
    opened: int = 0
    met: int = 0
    breached: int = 0


def run_slas(phases: JourneyPhases, now: dt.datetime) -> SlaStats:
    """One tick of follow-up SLAs: a batch at a time, as the other phases work."""
    stats = SlaStats()
    version_id, rules = phases.nurture.rules()
    plan = rules.slas
    with phases.nurture.store.transaction() as tx:
        # clocks may be open from an earlier version whose follow-up is gone: they still close
        if plan.rules:
            since = tx.sla.watching_since(sorted(plan.rules), now)
            entries = tx.sla.unclocked(since, phases.batch)
            tx.sla.open([{"key": f"{e.lead_id}:{e.stage}:{round(e.since.timestamp() * 1000)}", "lead_id": e.lead_id,
                          "stage": e.stage, "event": plan.rules[e.stage].event, "owner": e.owner,
                          "entered_at": e.since, "deadline": plan.deadline(e.stage, e.since, e.owner),
                          "status": "open"} for e in entries])
            stats.opened = len(entries)
        stats.met = tx.sla.mark_met(now)
    full = True
    while full and not phases.stopping():
        with phases.nurture.store.transaction() as tx:
            due = tx.sla.due(now, phases.batch)
            full = len(due) == phases.batch
            if not due:
                break
            runner = phases._runner(tx, now)
            for clock in due:
                stats.breached += _deadline_came(tx, runner, plan.rules.get(clock.stage), clock, now, version_id)
    return stats


def _deadline_came(tx: Tx, runner: JourneyRunner, rule: SlaRule | None, clock: ClockRow, now: dt.datetime,
                   version_id: int | None) -> int:
    """Close a clock whose deadline has come: left (the lead moved on) or breached, with its actions run."""
    if rule is None:
        tx.sla.close(clock.id, "left", now, "the follow-up was removed from the campaign")
        return 0
    if not tx.sla.still_in(clock.lead_id, clock.stage, clock.entered_at):
        tx.sla.close(clock.id, "left", now, f"the lead left `{clock.stage}` before the deadline")
        return 0
    if not tx.sla.close(clock.id, "breached", now):  # another daemon has it
        return 0
    done = [_act(tx, runner, rule, clock, index, action, now, version_id) for index, action in enumerate(rule.actions)]
    tx.sla.set_outcome(clock.id, "; ".join(done) or "recorded")
    return 1


def _act(tx: Tx, runner: JourneyRunner, rule: SlaRule, clock: ClockRow, index: int, action: SlaAction,
         now: dt.datetime, version_id: int | None) -> str:
    lead = runner.leads([clock.lead_id])[clock.lead_id]  # afresh: an earlier action may have changed the owner
    match action.kind:
        case "notify":
            to = runner.decisions.recipient(action.recipient or "sales", action.address, lead)
            runner.enqueue(Enqueue(f"sla:{clock.key}:{index}", lead.id, MessageKind.SALES, to, action.template or "",
                                   now, None, f"sla {clock.stage}", None))
            return f"notified {to} with \"{action.template}\""
        case "reassign":
            # the owner who missed the follow-up is passed over when someone else is on the list
            owner = action.owners[tx.actions.next_turn(f"sla:{clock.stage}") % len(action.owners)]
            if owner == lead.owner and len(set(action.owners)) > 1:
                owner = action.owners[tx.actions.next_turn(f"sla:{clock.stage}") % len(action.owners)]
            tx.sla.set_owner(lead.id, owner)
            return f"reassigned to {owner}"
        case "back_to":
            reason = f"follow up within {rule.text} by {rule.event} missed: back to {action.stage}"
            moved = tx.sla.move_back(lead.id, clock.stage, action.stage or "lead", now, reason, version_id)
            return f"back to {action.stage}" if moved else f"not moved back: the lead is no longer in {clock.stage}"
    return ""
