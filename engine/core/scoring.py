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

    def award(self, model: ScoreModel, rule: EventRuleC, at: float) -> float:
        """Add ``rule``'s points at ``at``, within its cap; returns the points awarded."""
        points = float(rule.points)
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
    """The future instant when decay carries ``model``'s raw score across ``threshold``, if ever."""
    if not model.decay_rate or model.name not in state.sums:
        return None
    value, taken = state.sums[model.name]
    target = threshold - (state.fit or {}).get(model.name, 0.0)
    if value == 0 or target == 0 or (target / value) <= 0 or (target / value) >= 1:
        return None  # decay moves toward zero and never reaches or passes this target
    at = taken + math.log(target / value) / -model.decay_rate
    return at if at > now else None
