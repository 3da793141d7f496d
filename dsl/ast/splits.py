"""Split steps: an A/B experiment inside a journey. Each lead goes down one arm, chosen by weight; a goal
measures the arms against each other, and an optional rule picks the winner that later leads all get."""

from __future__ import annotations

from dataclasses import dataclass

from .conditions import EventRef
from .journeys import Action, Branch, Step
from .literals import Duration, Value
from .nodes import Name, Node
from .scenarios import Check


@dataclass(frozen=True, slots=True)
class Arm(Node):
    """`50% plain: send "welcome_a"` or `50% story { ... }`: a share of the leads and the steps they run."""

    #: whole percent of the leads that go down this arm
    weight: int
    name: Name
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class SplitGoal(Node):
    """What counts as success, within ``within`` of the lead's assignment to an arm: an event, or
    (``event`` None) a click on any email the split's arms sent the lead."""

    event: EventRef | None
    within: Duration


@dataclass(frozen=True, slots=True)
class PickWinner(Node):
    """`pick winner at 95% confidence` (``confidence`` in percent) or `pick winner on 2027-01-15` (``on``)."""

    confidence: float | None = None
    on: Value | None = None


SplitItem = Arm | SplitGoal | PickWinner


@dataclass(frozen=True, slots=True)
class Split(Action):
    name: Name
    items: tuple[SplitItem, ...]

    @property
    def arms(self) -> tuple[Arm, ...]:
        return tuple(i for i in self.items if isinstance(i, Arm))

    @property
    def goals(self) -> tuple[SplitGoal, ...]:
        return tuple(i for i in self.items if isinstance(i, SplitGoal))

    @property
    def picks(self) -> tuple[PickWinner, ...]:
        return tuple(i for i in self.items if isinstance(i, PickWinner))


def inner_steps(action: Action) -> tuple[Step, ...]:
    """The steps nested in a step's action, in document order: a branch's two sides, a split's arms."""
    if isinstance(action, Branch):
        return (*action.then, *action.otherwise)
    if isinstance(action, Split):
        return tuple(step for arm in action.arms for step in arm.steps)
    return ()


@dataclass(frozen=True, slots=True)
class ExpectArm(Check):
    """``arm welcome_subject is plain``: a scenario's lead went down that arm of the split."""

    split: Name
    arm: Name
