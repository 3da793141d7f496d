"""Split steps (A/B experiments) for people: per arm, the leads assigned and measured, the goal reached, the
rate, the uplift and a 95% interval on the difference against the first arm, a p-value, and the winner
if one is recorded (with whether the split changed since)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from engine.core.experiments import ExperimentPlan, compare
from engine.experiments import measure, plans
from engine.reports.funnel import ReportError

if TYPE_CHECKING:
    from engine.core.rules import Rules
    from engine.store import Tx


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def experiment(tx: Tx, plan: ExperimentPlan, now: dt.datetime) -> dict[str, Any]:
    figures = measure(tx, plan, now)
    control = figures[0]
    arms = []
    for arm, fig in zip(plan.arms, figures, strict=True):
        row: dict[str, Any] = {"arm": arm.name, "weight": arm.weight, "assigned": fig.assigned,
                               "measured": fig.measured, "reached": fig.reached, "rate": _round(fig.rate)}
        if fig is not control:
            c = compare(control, fig)
            row.update(uplift=_round(c.uplift), difference=_round(c.difference), ci_low=_round(c.low),
                       ci_high=_round(c.high), p_value=_round(c.p_value))
        else:
            row.update(uplift=None, difference=None, ci_low=None, ci_high=None, p_value=None)
        arms.append(row)
    decision = tx.experiments.decision(plan.name)
    recorded = None
    if decision is not None:
        then = decision.figures.get("arms")
        recorded = {"winner": decision.winner, "at": decision.decided_at.isoformat(), "why": decision.reason,
                    "by": decision.decided_by, "figures": decision.figures.get("figures"),
                    "split_changed": then is not None and then != plan.signature}
    return {"split": plan.name, "journey": plan.journey, "step": plan.label, "goal": plan.goal_text,
            "rule": plan.rule_text or None, "arms": arms, "decision": recorded}


def experiment_report(tx: Tx, rules: Rules, now: dt.datetime, name: str | None = None) -> dict[str, Any]:
    """Every split of the applied campaign (or the one named) as of ``now``."""
    found = plans(rules)
    if name is not None and name not in found:
        listed = ", ".join(sorted(found)) or "none"
        raise ReportError(f"the applied campaign has no split {name!r}; its splits: {listed}")
    chosen = [found[name]] if name is not None else list(found.values())
    return {"at": now.isoformat(), "experiments": [experiment(tx, plan, now) for plan in chosen]}
