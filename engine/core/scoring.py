"""Score models and a lead's scoring state: points, caps per rolling window, continuous decay.

Event points decay continuously: p * exp(-rate * age). Because decay is linear, a lead only
keeps one decayed sum per score and the time it was taken, so a score read at any instant is
exact without a periodic job. Caps are judged in event-time order. A floor clamps the score
when it is read (never the stored sum), so the order events arrive in cannot change a score.

Scores are whole numbers: the decayed sum is rounded (half up) when read, so two +20 visits a
few hours apart still make 40, as a marketer writing `engagement >= 40` expects.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.core.conditions import HappenedAtom

#: the most points one event earns or takes through one rule, however many units it counts
MAX_AWARD = 1_000_000.0


@dataclass(frozen=True)
class AttributeRuleC:
    text: str
    points: int
    test: Callable[[dict], bool]


@dataclass(frozen=True)
class EventRuleC:
    key: str
    event: str
    text: str
    points: int
    filter: Callable[[dict], bool] | None
    cap: float | None = None
    cap_window: float | None = None
    #: points per unit: the number property counted, and how much of it makes one unit
    unit: str | None = None
    per: float = 1.0

    def units(self, props: dict) -> float:
        """How many times the rule's points an event earns: 1, or the whole units of its property.

        A property that is missing, not a number, or below zero counts no units, so earns nothing.
        """
        if self.unit is None:
            return 1.0
        value = props.get(self.unit)
        if isinstance(value, str):
            try:
                value = float(value)  # a number sent as text, as from a CSV file
            except ValueError:
                return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            return 0.0
        return float(math.floor(value / self.per))


@dataclass
class ScoreModel:
    name: str
    title: str | None
    attribute_rules: list[AttributeRuleC] = field(default_factory=list)
    event_rules: list[EventRuleC] = field(default_factory=list)
    #: continuous decay rate per second (0: no decay)
    decay_rate: float = 0.0
    floor: float | None = None

    def fit(self, attributes: dict) -> list[tuple[AttributeRuleC, int]]:
        """Attribute rules that hold for these attributes, with their points."""
        return [(r, r.points) for r in self.attribute_rules if r.test(attributes)]

    def clamp(self, raw: float) -> float:
        return raw if self.floor is None or raw >= self.floor else float(self.floor)


class LeadState:
    """What scoring remembers about one lead between events (stored as JSON on the lead)."""

    __slots__ = ("caps", "fit", "hits", "settled_at", "sums")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        #: score -> [decayed event points, epoch seconds they were taken at]
        self.sums: dict[str, list[float]] = data.get("sums", {})
        #: event rule key -> [[epoch, points], ...] awarded inside the rule's cap window
        self.caps: dict[str, list[list[float]]] = data.get("caps", {})
        #: event atom index -> most recent epoch times it happened (as many as the atom needs)
        self.hits: dict[int, list[float]] = {int(k): v for k, v in data.get("hits", {}).items()}
        #: score -> points from attribute rules for the lead's current attributes (None: not yet computed)
        self.fit: dict[str, float] | None = data.get("fit")
        #: the latest stage move: an event before it arrives late and the lead is replayed
        self.settled_at: float = data.get("settled", 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"sums": self.sums, "caps": self.caps, "fit": self.fit, "settled": self.settled_at,
                "hits": {str(k): v for k, v in self.hits.items()}}

    def event_points(self, model: ScoreModel, at: float) -> float:
        entry = self.sums.get(model.name)
        if entry is None:
            return 0.0
        value, taken = entry
        if model.decay_rate and at > taken:
            value *= math.exp(-model.decay_rate * (at - taken))
        return value

    def raw_score(self, model: ScoreModel, at: float) -> float:
        return model.clamp((self.fit or {}).get(model.name, 0.0) + self.event_points(model, at))

    def score(self, model: ScoreModel, at: float) -> int:
        """The score as rules and people see it: a whole number."""
        return math.floor(self.raw_score(model, at) + 0.5)

    def award(self, model: ScoreModel, rule: EventRuleC, at: float, units: float = 1.0) -> float:
        """Add ``rule``'s points (``units`` times) at ``at``, within its cap and `MAX_AWARD`; returns the points
        awarded."""
        if units <= 0:
            return 0.0
        points = max(-MAX_AWARD, min(MAX_AWARD, rule.points * units))
        if rule.cap is not None and rule.cap_window is not None and points > 0:  # the checker pairs cap and window
            window = [w for w in self.caps.get(rule.key, ()) if w[0] > at - rule.cap_window]
            points = min(points, rule.cap - sum(w[1] for w in window))
            if points > 0:
                window.append([at, points])
            self.caps[rule.key] = window
        if points <= 0 and rule.points > 0:
            return 0.0
        self.sums[model.name] = [self.event_points(model, at) + points, at]
        return points

    def record_hit(self, index: int, atom: HappenedAtom, at: float) -> None:
        times = self.hits.setdefault(index, [])
        times.append(at)
        times.sort()
        del times[: max(0, len(times) - atom.times)]

    def happened(self, index: int, atom: HappenedAtom, now: float) -> bool:
        times = self.hits.get(index, ())
        seen = bisect_right(times, now)  # the times are kept in order: those up to now come first
        if seen < atom.times:
            return False
        return atom.within is None or times[seen - atom.times] > now - atom.within

    def happened_until(self, index: int, atom: HappenedAtom, now: float) -> float | None:
        """When a currently true windowed event condition turns false by time alone."""
        if atom.within is None or not self.happened(index, atom, now):
            return None
        return self.hits[index][-atom.times] + atom.within


def crossing(state: LeadState, model: ScoreModel, threshold: float, now: float) -> float | None:
    """The instant, ``now`` or later, when decay carries ``model``'s raw score across ``threshold``, if ever.

    A score exactly at the threshold now leaves it at once. That matters where the threshold is a rounding
    edge: a raw 2.5 reads as 3, and decay makes it read 2 the instant after.
    """
    if not model.decay_rate or model.name not in state.sums:
        return None
    value, taken = state.sums[model.name]
    target = threshold - (state.fit or {}).get(model.name, 0.0)
    if value == 0 or target == 0 or (target / value) <= 0 or (target / value) > 1:
        return None  # decay moves toward zero and never reaches or passes this target
    at = taken + math.log(target / value) / -model.decay_rate
    return at if at >= now else None


@dataclass(frozen=True)
class SumEdge:
    """A sum of whole-number scores (each with its factor) that a stage condition compares with ``target``."""

    terms: tuple[tuple[str, float], ...]
    target: float


#: how many whole-number steps of its scores `sum_crossing` follows before it asks to be called again
SUM_STEPS = 1000


def sum_crossing(state: LeadState, models: dict[str, ScoreModel], edge: SumEdge, now: float) -> float | None:
    """The next instant after ``now`` when decay alone carries the sum across ``edge.target`` or onto it, if ever.

    Each decaying score changes its whole number one step at a time, at instants `crossing` finds exactly;
    walking those steps in time order gives the exact instant the sum's side of the target changes. After
    `SUM_STEPS` steps without a change it returns the instant reached, so the lead is looked at again then.
    """
    terms = [(models[name], factor) for name, factor in edge.terms if name in models]
    values = {model.name: state.score(model, now) for model, _ in terms}

    def side() -> int:
        total = sum(factor * values[model.name] for model, factor in terms)
        return (total > edge.target) - (total < edge.target)

    start, at = side(), now
    moving = [(model, factor) for model, factor in terms if _moves(state, model)]
    if len(moving) == 1:  # the usual case, as `fit` never decays: straight to the whole number that tips it
        model, factor = moving[0]
        rest = sum(f * values[m.name] for m, f in terms) - factor * values[model.name]
        return _tipping(state, model, factor, rest, values[model.name], start, edge.target, now)
    for _ in range(SUM_STEPS):
        steps = [(when, model.name, value) for model, _ in terms
                 if (step := _next_step(state, model, values[model.name], at)) is not None
                 for when, value in (step,)]
        if not steps:
            return None
        at, name, value = min(steps)
        values[name] = value
        if side() != start:
            return at
    return at


def _moves(state: LeadState, model: ScoreModel) -> bool:
    """Whether decay still moves ``model``'s score for this lead."""
    return bool(model.decay_rate) and model.name in state.sums and state.sums[model.name][0] != 0


def _tipping(state: LeadState, model: ScoreModel, factor: float, rest: float, whole: int, start: int,
             target: float, now: float) -> float | None:
    """`sum_crossing` when only ``model`` moves (from ``whole``; the other terms add up to ``rest``).

    The sum's side of the target is monotone in the score, so the whole number that tips it lies next to
    (target - rest) / factor; the answer is the instant decay brings the score to that number.
    """
    down = state.sums[model.name][0] > 0
    k = (target - rest) / factor
    candidates = sorted({math.floor(k) - 1, math.floor(k), math.ceil(k), math.ceil(k) + 1}, reverse=down)
    for number in candidates:
        if (number >= whole) if down else (number <= whole):
            continue
        total = factor * number + rest
        if (total > target) - (total < target) == start:
            continue
        edge = number + 0.5 if down else number - 0.5  # where the rounded score becomes `number`
        if down and model.floor is not None and model.floor >= edge:
            return None
        return crossing(state, model, edge, now)
    return None


def steady_until(state: LeadState, model: ScoreModel, whole: int, now: float) -> float:
    """Until when decay leaves ``model``'s whole-number score at ``whole`` (its value at ``now``): the instant it
    changes, or infinity when it never does."""
    step = _next_step(state, model, whole, now)
    return math.inf if step is None else step[0]


def _next_step(state: LeadState, model: ScoreModel, whole: int, now: float) -> tuple[float, int] | None:
    """When decay next changes ``model``'s whole-number score (``whole`` at ``now``), and to what."""
    if not model.decay_rate or model.name not in state.sums:
        return None
    value = state.sums[model.name][0]
    if value > 0:  # points fade: down to the next half, unless the floor holds the score there
        edge, after = whole - 0.5, whole - 1
        if model.floor is not None and model.floor >= edge:
            return None
    elif value < 0:  # points taken away fade: up to the next half
        edge, after = whole + 0.5, whole + 1
    else:
        return None
    when = crossing(state, model, edge, now)
    return None if when is None else (when, after)
