"""Split steps (A/B experiments) as pure decisions: which arm a lead goes down, how the arms compare, and
when a winner is picked. Nothing here reads the store or the clock; time and figures are passed in.

Assignment is a hash of (seed, split name, the lead's email): the same lead always lands in the same arm
for a given seed, on every machine and in every run, and a scenario's lead is therefore in a fixed arm.
Once a winner is recorded, leads that reach the split later all go down the winner's arm; a lead that was
assigned before keeps its arm (the store remembers it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

from dsl import ast as a

#: the seed when the campaign's settings name none (`experiment seed "..."`)
DEFAULT_SEED = "nurture"
#: leads whose goal window has closed that each arm needs before significance can pick a winner
MIN_LEADS_PER_ARM = 100
#: how finely weights share out the leads: 10,000 slots, so whole percents are exact
_SLOTS = 10_000


@dataclass(frozen=True)
class Arm:
    name: str
    #: whole percent of the leads
    weight: int
    #: the first step of the arm (None: an empty arm goes straight on after the split)
    start: str | None


@dataclass(frozen=True)
class ExperimentPlan:
    """A split as compiled: its arms, its goal and its rule for picking a winner."""

    name: str
    journey: str
    label: str
    arms: tuple[Arm, ...]
    #: the goal event, or None for a click on any email the arms sent
    goal_event: str | None
    goal_filter: Callable[[dict[str, Any]], bool] | None
    #: seconds after the assignment within which the goal counts
    goal_window: float
    #: templates the arms send, by arm: what `goal click` counts clicks on
    templates: dict[str, frozenset[str]]
    #: `pick winner at N% confidence`, in percent (None: no such rule)
    confidence: float | None = None
    #: `pick winner on DATE` (None: no such rule)
    pick_on: dt.date | None = None
    goal_text: str = ""
    rule_text: str = ""

    @property
    def signature(self) -> list[list[Any]]:
        """The arms and weights, kept with a decision so a later edit of the split shows."""
        return [[arm.name, arm.weight] for arm in self.arms]


def assign(seed: str, split: str, lead_key: str, arms: Sequence[Arm]) -> str:
    """The arm a lead goes down by weight, fixed by the seed, the split's name and the lead's key."""
    digest = hashlib.sha256(f"{seed}\x1f{split}\x1f{lead_key.strip().lower()}".encode()).digest()
    slot = int.from_bytes(digest[:8], "big") % _SLOTS
    total = sum(arm.weight for arm in arms) or 1
    edge = 0
    for arm in arms:
        edge += arm.weight * _SLOTS // total
        if slot < edge:
            return arm.name
    return arms[-1].name


class ExperimentState(Protocol):
    """What journeys need to know about experiments beyond the campaign: earlier assignments and winners."""

    def arm_of(self, lead_id: int, split: str) -> str | None: ...

    def winner(self, split: str) -> str | None: ...


class NoHistory:
    """No assignment and no winner recorded yet: every lead goes by the hash."""

    def arm_of(self, lead_id: int, split: str) -> str | None:
        return None

    def winner(self, split: str) -> str | None:
        return None


def choose(plan: ExperimentPlan, seed: str, lead_id: int, email: str, state: ExperimentState) -> tuple[str, bool]:
    """(the lead's arm, whether it is assigned now): its earlier arm if it still exists, else the recorded
    winner if there is one, else the hash."""
    names = {arm.name for arm in plan.arms}
    earlier = state.arm_of(lead_id, plan.name)
    if earlier in names:
        return earlier, False
    winner = state.winner(plan.name)
    if winner in names:
        return winner, earlier is None
    return assign(seed, plan.name, email, plan.arms), earlier is None


# ----- comparing the arms ------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmFigures:
    arm: str
    #: leads assigned to the arm
    assigned: int
    #: of them, leads whose goal window has closed: the ones measured
    measured: int
    #: of the measured, leads that reached the goal within the window
    reached: int

    @property
    def rate(self) -> float | None:
        return self.reached / self.measured if self.measured else None


@dataclass(frozen=True)
class Comparison:
    """An arm against the first (the control): the difference of rates, its interval and p-value."""

    arm: str
    uplift: float | None  # relative: (rate - control) / control
    difference: float | None  # absolute: rate - control
    low: float | None  # 95% interval on the difference (Newcombe's hybrid Wilson score method)
    high: float | None
    p_value: float | None  # two-sided two-proportion z-test, pooled


_NORMAL = NormalDist()


def wilson(reached: int, measured: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for one proportion."""
    p = reached / measured
    centre = p + z * z / (2 * measured)
    spread = z * math.sqrt(p * (1 - p) / measured + z * z / (4 * measured * measured))
    scale = 1 + z * z / measured
    return (centre - spread) / scale, (centre + spread) / scale


def compare(control: ArmFigures, other: ArmFigures, level: float = 0.95) -> Comparison:
    """``other`` against ``control``. The interval on the difference is Newcombe's method 10 (the hybrid
    score interval from each arm's Wilson interval), which stays inside [-1, 1] and behaves with few leads
    or rates near 0 or 1; the p-value is the pooled two-proportion z-test's."""
    if not control.measured or not other.measured:
        return Comparison(other.arm, None, None, None, None, None)
    p1, p2 = control.reached / control.measured, other.reached / other.measured
    z = _NORMAL.inv_cdf(0.5 + level / 2)
    l1, u1 = wilson(control.reached, control.measured, z)
    l2, u2 = wilson(other.reached, other.measured, z)
    diff = p2 - p1
    low = diff - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = diff + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Comparison(other.arm, (diff / p1) if p1 else None, diff, low, high,
                      p_value(control.reached, control.measured, other.reached, other.measured))


def p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-sided p-value of the pooled two-proportion z-test (1.0 when nothing varies)."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / se
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def goal_of(plan: ExperimentPlan) -> tuple[str, Callable[[str, dict[str, Any]], bool]]:
    """The goal as (event type, test of (arm, event props)): a click counts only on an email its arm sends."""
    if plan.goal_event is None:
        return "email.clicked", lambda arm, props: props.get("template") in plan.templates.get(arm, frozenset())
    test = plan.goal_filter
    return plan.goal_event, lambda arm, props: test is None or bool(test(props))


# ----- picking a winner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A winner picked, with why; the figures go into the record as well."""

    winner: str
    why: str


def pick(plan: ExperimentPlan, figures: Sequence[ArmFigures], now: dt.datetime) -> Verdict | None:
    """The winner ``plan``'s rule picks from ``figures`` at ``now``, or None while it picks none.

    `at N% confidence`: every arm has at least MIN_LEADS_PER_ARM measured leads, and the best arm's rate
    beats every other's with a two-proportion z-test p-value below 1 - N/100. `on DATE`: from that date (UTC),
    the arm with the best rate so far wins; ties and arms with no measured lead go to the earlier arm.
    """
    if not figures:
        return None
    best = max(figures, key=lambda f: (f.rate if f.rate is not None else -1.0, -figures.index(f)))
    if plan.pick_on is not None and now.date() >= plan.pick_on:
        shown = "no measured lead" if best.rate is None else f"{best.reached}/{best.measured} = {best.rate:.1%}"
        return Verdict(best.arm, f"{plan.pick_on.isoformat()} came; `{best.arm}` had the best rate ({shown})")
    if plan.confidence is None:
        return None
    if any(f.measured < MIN_LEADS_PER_ARM for f in figures):
        return None
    alpha = 1 - plan.confidence / 100
    worst_p = 0.0
    for other in figures:
        if other is best:
            continue
        if other.rate is not None and best.rate is not None and other.rate >= best.rate:
            return None
        worst_p = max(worst_p, p_value(other.reached, other.measured, best.reached, best.measured))
    if worst_p >= alpha:
        return None
    return Verdict(best.arm, f"`{best.arm}` beats every other arm at {plan.confidence:g}% confidence "
                             f"(p = {worst_p:.4f} < {alpha:.4f}, at least {MIN_LEADS_PER_ARM} measured leads per arm)")


# ----- compiling a split ----------------------------------------------------------------------------


def experiment_plan(journey: str, label: str, split: a.Split, flatten: Callable[[tuple[a.Step, ...]], str | None],
                    compile_filter: Callable[[a.EventRef], Callable[[dict], bool] | None],
                    text: Callable[[a.Node], str]) -> ExperimentPlan:
    """A checked split as its plan; ``flatten`` adds an arm's steps to the journey's program and returns
    the first label."""
    goal = split.goals[0]
    pick_rule = split.picks[0] if split.picks else None
    on = pick_rule.on.value if pick_rule is not None and pick_rule.on is not None else None
    return ExperimentPlan(
        name=str(split.name), journey=journey, label=label,
        arms=tuple(Arm(str(arm.name), arm.weight, flatten(arm.steps)) for arm in split.arms),
        goal_event=str(goal.event.event) if goal.event is not None else None,
        goal_filter=compile_filter(goal.event) if goal.event is not None else None,
        goal_window=float(goal.within.seconds),
        templates={str(arm.name): frozenset(_sent(arm.steps)) for arm in split.arms},
        confidence=pick_rule.confidence if pick_rule is not None else None,
        pick_on=on if isinstance(on, dt.date) else None,
        goal_text=text(goal), rule_text=text(pick_rule) if pick_rule is not None else "")


def _sent(steps: tuple[a.Step, ...]) -> list[str]:
    found: list[str] = []
    for step in steps:
        if isinstance(step.action, a.Send):
            found.append(str(step.action.template))
        found += _sent(a.inner_steps(step.action))
    return found


@dataclass(frozen=True)
class AssignArm:
    """An effect: record that the lead went down ``arm`` of ``split`` at ``at`` (once; a lead never changes arm)."""

    lead_id: int
    split: str
    arm: str
    journey: str
    enrollment_id: int
    at: dt.datetime
