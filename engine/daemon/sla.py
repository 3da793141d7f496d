"""The tick's follow-up SLA phase: deadlines that came without the follow-up are breached, and
their actions run once. Clocks start and are met as leads and events are stored (engine.ingest.follow_ups).

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
from engine.core.sla import SlaAction, SlaPlan, SlaRule
from engine.ingest.follow_ups import clock_row
from engine.store import Tx
from engine.store.sla import ClockRow

if TYPE_CHECKING:
    from engine.daemon.journeys import JourneyPhases, JourneyRunner


@dataclass
class SlaStats:
    met: int = 0
    breached: int = 0


def run_slas(phases: JourneyPhases, now: dt.datetime) -> SlaStats:
    """Deadlines that have come, a batch at a time, as the other phases work."""
    stats = SlaStats()
    version_id, rules = phases.nurture.rules()
    plan = rules.slas
    full = True
    while full and not phases.stopping():
        with phases.nurture.store.transaction() as tx:
            # a follow-up stored by a path that met no clock yet still counts, if it came in time
            stats.met += tx.sla.mark_met(now, due_by=now)
            due = tx.sla.due(now, phases.batch)
            full = len(due) == phases.batch
            if not due:
                break
            runner = phases._runner(tx, now)
            for clock in due:
                stats.breached += _deadline_came(tx, runner, plan, clock, now, version_id)
    return stats


def _deadline_came(tx: Tx, runner: JourneyRunner, plan: SlaPlan, clock: ClockRow, now: dt.datetime,
                   version_id: int | None) -> int:
    """Close a clock whose deadline has come: left (the lead moved on) or breached, with its actions run."""
    rule = plan.rules.get(clock.stage)
    if rule is None:
        tx.sla.close(clock.id, "left", now, "the follow-up was removed from the campaign")
        return 0
    if not tx.sla.still_in(clock.lead_id, clock.stage, clock.entered_at):
        tx.sla.close(clock.id, "left", now, f"the lead left `{clock.stage}` before the deadline")
        return 0
    if not tx.sla.close(clock.id, "breached", now):  # another daemon has it
        return 0
    done = [_act(tx, runner, plan, rule, clock, index, action, now, version_id)
            for index, action in enumerate(rule.actions)]
    tx.sla.set_outcome(clock.id, "; ".join(done) or "recorded")
    return 1


def _act(tx: Tx, runner: JourneyRunner, plan: SlaPlan, rule: SlaRule, clock: ClockRow, index: int, action: SlaAction,
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
            target = action.stage or "lead"
            if not tx.sla.move_back(lead.id, clock.stage, target, now, reason, version_id):
                return f"not moved back: the lead is no longer in {clock.stage}"
            entry = clock_row(plan, lead.id, target, now, lead.owner)  # the stage it goes back to may have one too
            tx.sla.open([entry] if entry is not None else [])
            return f"back to {target}"
    return ""
