"""The stage machine: which lifecycle stage a lead belongs in, and why.

Stages form a ladder in declaration order after the built-in `lead`. At each evaluation the
current stage's demotions are tried first ("back to lead when ..."); when none fires, the lead
moves up to the highest stage above it whose `when` holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

StageTest = Callable[..., bool]  # (A, S, H, stage) -> bool


@dataclass(frozen=True)
class Notification:
    #: "sales" or "owner"
    recipient: str
    address: str | None
    template: str


@dataclass
class StageRule:
    name: str
    title: str | None
    promote: StageTest | None = None
    promote_text: str = ""
    demotes: list[tuple[str, StageTest, str]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    round_robin: list[str] = field(default_factory=list)
    owner_rules: list[tuple[str, StageTest, str]] = field(default_factory=list)
    #: score names its conditions read, for the reason text
    reads: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Move:
    to: str
    rule: str
    reads: tuple[str, ...]


@dataclass
class StageMachine:
    stages: list[StageRule]
    #: (score name, threshold) pairs every stage condition compares against, for reviews
    thresholds: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.stages}
        self.rank = {s.name: i for i, s in enumerate(self.stages)}
        #: score -> the raw values where its whole-number score crosses a threshold, ascending
        self.edges: dict[str, list[float]] = {}
        for score, threshold in self.thresholds:
            self.edges.setdefault(score, []).extend((threshold - 0.5, threshold + 0.5))
        for edges in self.edges.values():
            edges.sort()

    def decide(self, stage: str, attrs: dict, scores: dict, hit: Callable[[int], bool]) -> Move | None:
        """The move a lead in ``stage`` makes now, if any."""
        current = self.by_name.get(stage)
        if current is None:  # a stage removed from the campaign: start again from the bottom
            current = self.stages[0]
        for target, test, text in current.demotes:
            if test(attrs, scores, hit, stage):
                return Move(target, f"back to {target} when {text}", tuple(current.reads))
        for rule in reversed(self.stages[self.rank[current.name] + 1:]):
            if rule.promote is not None and rule.promote(attrs, scores, hit, stage):
                return Move(rule.name, f"when {rule.promote_text}", tuple(rule.reads))
        if current.name != stage:
            return Move(current.name, f"stage `{stage}` is no longer in the campaign", ())
        return None

    def owner_for(self, stage: str, attrs: dict, scores: dict, hit: Callable[[int], bool],
                  counter: Callable[[str], int], keep: str | None = None) -> tuple[str, str] | None:
        """The owner a lead entering ``stage`` is assigned, and why (first matching rule wins).

        ``keep`` is the owner an earlier entry into the stage assigned (a replay making it again):
        a matching rule still decides, but the round robin keeps that owner instead of taking a turn.
        """
        rule = self.by_name[stage]
        for owner, test, text in rule.owner_rules:
            if test(attrs, scores, hit, stage):
                return owner, f"assign owner {owner!r} when {text}"
        if rule.round_robin and keep is not None:
            return keep, "assign owner round robin (kept from before)"
        if rule.round_robin:
            owner = rule.round_robin[counter(stage) % len(rule.round_robin)]
            return owner, "assign owner round robin"
        return None
