"""Journey blocks: when a lead enters, leaves or reaches the goal, and the steps it goes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Literal as L

from .conditions import Condition, EventRef
from .literals import Days, Duration, TimeOfDay, Value
from .nodes import Item, Name, Node
from .stages import Recipient
from .topics import JourneyTopic


@dataclass(frozen=True, slots=True)
class StageBecomes(Node):
    stage: Name


Trigger = StageBecomes | Condition


@dataclass(frozen=True, slots=True)
class Entry(Node):
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class Reentry(Node):
    policy: L["never", "always", "after"]
    after: Duration | None = None


@dataclass(frozen=True, slots=True)
class ExitRule(Node):
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class Goal(Node):
    trigger: Trigger


@dataclass(frozen=True, slots=True)
class Action(Node):
    """Base of step actions."""


@dataclass(frozen=True, slots=True)
class SendWindow(Node):
    time: TimeOfDay
    days: Days | None = None


@dataclass(frozen=True, slots=True)
class Send(Action):
    template: Name
    window: SendWindow | None = None
    #: the topic this one email belongs to (`send "x" topic product`), over its journey's topic
    topic: Name | None = None


@dataclass(frozen=True, slots=True)
class Wait(Action):
    duration: Duration


@dataclass(frozen=True, slots=True)
class WaitEvent(Action):
    """Wait for an event, giving up after ``timeout`` (None: wait for ever)."""

    event: EventRef
    timeout: Duration | None = None


@dataclass(frozen=True, slots=True)
class WaitTime(Action):
    """Wait until a time of day in the lead's timezone, on the given days."""

    time: TimeOfDay
    days: Days | None = None


@dataclass(frozen=True, slots=True)
class SetAttribute(Action):
    name: Name
    value: Value


@dataclass(frozen=True, slots=True)
class NotifyAction(Action):
    recipient: Recipient
    template: Name


@dataclass(frozen=True, slots=True)
class Step(Node):
    """One step of a journey; ``label`` is None when the author did not write one."""

    label: Name | None
    action: Action


@dataclass(frozen=True, slots=True)
class Branch(Action):
    condition: Condition
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...] = ()


JourneyItem = Entry | Reentry | ExitRule | Goal | Step | JourneyTopic


@dataclass(frozen=True, slots=True)
class Journey(Item):
    kind: ClassVar[str] = "journey"
    name: Name
    title: str | None
    items: tuple[JourneyItem, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(i for i in self.items if isinstance(i, Step))
