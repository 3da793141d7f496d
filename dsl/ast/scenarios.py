"""Scenario blocks: a test lead, what it does when, and what the campaign should have done by then."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Literal as L

from .conditions import CompareOp, Condition
from .literals import Duration, TimeOfDay, Value
from .nodes import Item, Name, Node
from .topics import LeaveTopic

OffsetUnit = L["week", "day", "hour", "minute"]
EmailKind = L["sent", "notified"]
JourneyState = L["in", "not in", "exited", "finished", "goal"]

#: how each unit of a scenario offset is written
OFFSET_UNITS: dict[OffsetUnit, str] = {"week": "w", "day": "d", "hour": "h", "minute": "min"}


@dataclass(frozen=True, slots=True)
class Moment(Node):
    """``2d 10:00``: an offset from the scenario's start, then a time of day (the lead's) on that day."""

    amount: int
    unit: OffsetUnit
    time: TimeOfDay | None = None

    def __str__(self) -> str:
        offset = f"{self.amount}{OFFSET_UNITS[self.unit]}"
        return offset if self.time is None else f"{offset} {self.time}"


@dataclass(frozen=True, slots=True)
class Assignment(Node):
    """``name = value``: a lead's attribute or an event's property in a scenario."""

    name: Name
    value: Value


@dataclass(frozen=True, slots=True)
class ScenarioLead(Node):
    email: Name
    attributes: tuple[Assignment, ...] = ()


@dataclass(frozen=True, slots=True)
class ScenarioStart(Node):
    """When day 0 begins, in the lead's timezone."""

    date: Value
    time: TimeOfDay | None = None


@dataclass(frozen=True, slots=True)
class ScenarioEvent(Node):
    """``at 2d 10:00: demo.requested``: something the lead does; with ``by "bo@acme.example"``, which of the
    scenario's leads does it."""

    at: Moment
    event: Name
    props: tuple[Assignment, ...] = ()
    by: Name | None = None


@dataclass(frozen=True, slots=True)
class Check(Node):
    """Base of what an expectation checks."""


@dataclass(frozen=True, slots=True)
class ExpectStage(Check):
    stage: Name


@dataclass(frozen=True, slots=True)
class ExpectValue(Check):
    """``fit >= 20``, ``nurture_status = "dormant"``: a score or an attribute."""

    name: Name
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class ExpectBetween(Check):
    """``engagement between 40 and 80``: both ends included."""

    name: Name
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class ExpectEmail(Check):
    """An email sent to the lead (``sent``) or a sales notification (``notified``), or none."""

    kind: EmailKind
    template: Name
    negated: bool = False
    journey: Name | None = None
    step: Name | None = None


@dataclass(frozen=True, slots=True)
class ExpectJourney(Check):
    state: JourneyState
    journey: Name


@dataclass(frozen=True, slots=True)
class Expect(Node):
    at: Moment
    check: Check


ScenarioItem = ScenarioLead | ScenarioStart | ScenarioEvent | Expect | LeaveTopic


@dataclass(frozen=True, slots=True)
class Scenario(Item):
    """A test of the campaign: a lead, what it does when, and what should follow. The engine's rules ignore it."""

    kind: ClassVar[str] = "scenario"
    name: Name
    items: tuple[ScenarioItem, ...]

    @property
    def lead(self) -> ScenarioLead | None:
        """The first lead: the one expectations are about, and who does events that name no lead."""
        return next((i for i in self.items if isinstance(i, ScenarioLead)), None)

    @property
    def leads(self) -> tuple[ScenarioLead, ...]:
        return tuple(i for i in self.items if isinstance(i, ScenarioLead))

    @property
    def start(self) -> ScenarioStart | None:
        return next((i for i in self.items if isinstance(i, ScenarioStart)), None)

    @property
    def timeline(self) -> tuple[ScenarioEvent | Expect | LeaveTopic, ...]:
        """Events, topics left and expectations in the order written."""
        return tuple(i for i in self.items if isinstance(i, ScenarioEvent | Expect | LeaveTopic))


@dataclass(frozen=True, slots=True)
class EmailCap(Node):
    """``at most 3 emails per 7 days``: marketing emails to one lead in any rolling window."""

    count: int
    window: Duration


@dataclass(frozen=True, slots=True)
class NoEmailWhen(Node):
    """``no email when owner is set``: no marketing email goes to a lead while the condition holds."""

    condition: Condition


@dataclass(frozen=True, slots=True)
class Invariant(Item):
    """What must hold in every scenario of the campaign, across all journeys. The engine's rules ignore it."""

    kind: ClassVar[str] = "invariant"
    rule: EmailCap | NoEmailWhen
