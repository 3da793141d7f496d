"""The tick's experiment phase: for each split step with a `pick winner` rule and no winner yet, measure the
arms and record the winner once the rule holds. Later leads that reach the split all go down its arm.

The winner is written with "insert unless one exists" on the split's name, so several daemons on one
PostgreSQL record it once, and the first recorded stands.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from engine.core.experiments import pick
from engine.experiments import measure, plans

if TYPE_CHECKING:
    from engine.daemon.tick import Campaign
    from engine.store import Store

#: how often (campaign time) a split's figures are measured again while no winner is recorded: measuring reads
#: every assignment of the split, too much to repeat each second
MEASURE_EVERY = dt.timedelta(minutes=15)


class ExperimentPhase:
    """Picks winners of split steps on the daemon's tick; ``now`` is passed in."""

    def __init__(self, store: Store, campaign: Campaign, worker: str, every: dt.timedelta = MEASURE_EVERY) -> None:
        self.store = store
        self.campaign = campaign
        self.worker = worker
        self.every = every
        #: when each split was last measured by this daemon
        self._measured: dict[str, dt.datetime] = {}

    def run(self, now: dt.datetime) -> int:
        """Measure the splits that are due; returns how many winners this call recorded."""
        _, rules = self.campaign.rules()
        recorded = 0
        for plan in plans(rules).values():
            if plan.confidence is None and plan.pick_on is None:
                continue
            last = self._measured.get(plan.name)
            date_came = plan.pick_on is not None and now.date() >= plan.pick_on
            if last is not None and now - last < self.every and not date_came:
                continue
            self._measured[plan.name] = now
            with self.store.transaction() as tx:
                if tx.experiments.winner(plan.name) is not None:
                    continue
                figures = measure(tx, plan, now)
                verdict = pick(plan, figures, now)
                if verdict is None:
                    continue
                shown = [{"arm": f.arm, "assigned": f.assigned, "measured": f.measured, "reached": f.reached}
                         for f in figures]
                recorded += tx.experiments.decide(
                    plan.name, verdict.winner, now, verdict.why,
                    {"arms": plan.signature, "figures": shown, "rule": plan.rule_text, "goal": plan.goal_text},
                    self.worker)
        return recorded
