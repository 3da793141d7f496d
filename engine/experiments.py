"""Split steps (A/B experiments) between the rules and the store: the campaign's splits, and each arm's
figures measured from the store. Shared by the daemon (picking winners) and the reports."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from engine.core.experiments import ArmFigures, ExperimentPlan, goal_of

if TYPE_CHECKING:
    from engine.core.rules import Rules
    from engine.store import Tx


def plans(rules: Rules) -> dict[str, ExperimentPlan]:
    """Every split step of the campaign, by name, in journey order."""
    return {name: plan for journey in rules.journeys.values() for name, plan in journey.experiments.items()}


def measure(tx: Tx, plan: ExperimentPlan, now: dt.datetime) -> list[ArmFigures]:
    """Each arm's figures at ``now``, in the split's order (a lead counts once its goal window has closed)."""
    event, test = goal_of(plan)
    tallies = tx.experiments.tally(plan.name, [arm.name for arm in plan.arms], event, test,
                                   dt.timedelta(seconds=plan.goal_window), now)
    return [ArmFigures(arm, *tally) for arm, tally in tallies.items()]


def plan_summary(tx: Tx, rules: Rules) -> list[dict[str, Any]]:
    """What `nurture plan` shows of each split in ``rules`` (the campaign on disk): arms and weights, goal,
    rule, and the winner recorded in the store, flagged when the split's arms or weights changed since."""
    decisions = tx.experiments.decisions()
    shown = []
    for plan in plans(rules).values():
        decision = decisions.get(plan.name)
        recorded = None
        if decision is not None:
            then = decision.figures.get("arms")
            recorded = {"winner": decision.winner, "at": decision.decided_at.isoformat(), "why": decision.reason,
                        "arms_then": then, "split_changed": then is not None and then != plan.signature,
                        "winner_removed": decision.winner not in {arm.name for arm in plan.arms}}
        shown.append({"split": plan.name, "journey": plan.journey, "step": plan.label,
                      "arms": [{"arm": arm.name, "weight": arm.weight} for arm in plan.arms],
                      "goal": plan.goal_text, "rule": plan.rule_text or None, "decision": recorded})
    return shown
