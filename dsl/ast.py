"""The typed syntax tree of a campaign: frozen dataclasses, each carrying its source span.

Spans never take part in equality, so a campaign and its formatted copy compare equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import ClassVar
from typing import Literal as L

from .source import UNKNOWN, Span


class Name(str):
    """An identifier or quoted reference that remembers where it was written."""

    span: Span

    def __new__(cls, text: str, span: Span = UNKNOWN) -> Name:
        obj = super().__new__(cls, text)
        obj.span = span
        return obj

    def __reduce__(self):  # keep the span when pickled (parallel checks, caches)
        return (Name, (str(self), self.span))


def _span() -> Span:
    return field(default=UNKNOWN, compare=False, repr=False, kw_only=True)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every node; never instantiated itself."""

    span: Span = _span()

    def children(self) -> Iterator[Node]:
        """Direct child nodes, in source order."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                yield from (v for v in value if isinstance(v, Node))

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()


# ----- small values ----------------------------------------------------------------------------

UNIT_SECONDS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


@dataclass(frozen=True, slots=True)
class Duration(Node):
    amount: int
    unit: L["minute", "hour", "day", "week"]

    @property
    def seconds(self) -> int:
        return self.amount * UNIT_SECONDS[self.unit]

    @property
    def timedelta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}{'' if self.amount == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class TimeOfDay(Node):
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Days(Node):
    """A set of weekdays, Monday = 0."""

    days: tuple[int, ...]

    def __str__(self) -> str:
        if self.days == (0, 1, 2, 3, 4):
            return "weekdays"
        if self.days == (5, 6):
            return "weekends"
        if self.days == tuple(range(7)):
            return "every day"
        return ", ".join(WEEKDAY_NAMES[d] for d in self.days)


ValueKind = L["text", "number", "bool", "date", "list"]


@dataclass(frozen=True, slots=True)
class Value(Node):
    """A literal: text, number, bool, date, or a list of values."""

    kind: ValueKind
    value: str | int | float | bool | dt.date | tuple[Value, ...]

    def python(self) -> object:
        """The plain Python value (lists become lists of plain values)."""
        if self.kind == "list":
            return [v.python() for v in self.value]  # type: ignore[union-attr]
        return self.value


@dataclass(frozen=True, slots=True)
class TypeRef(Node):
    name: L["text", "number", "bool", "date", "timezone"]
    is_list: bool = False

    def __str__(self) -> str:
        return f"list of {self.name}" if self.is_list else self.name


# ----- conditions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition(Node):
    """Base of boolean conditions."""


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not(Condition):
    item: Condition


@dataclass(frozen=True, slots=True)
class Compare(Condition):
    """``name OP value``: an attribute, score or event property compared with a literal."""

    name: Name
    op: L[">=", "<=", "!=", ">", "<", "="]
    value: Value


@dataclass(frozen=True, slots=True)
class Member(Condition):
    name: Name
    values: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class TextTest(Condition):
    name: Name
    op: L["contains", "starts with", "ends with"]
    text: str


@dataclass(frozen=True, slots=True)
class Matches(Condition):
    name: Name
    pattern: str
    flags: str
    #: the literal as written, for diagnostics and formatting
    literal: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Presence(Condition):
    name: Name
    present: bool


@dataclass(frozen=True, slots=True)
class StageIs(Condition):
    stage: Name


@dataclass(frozen=True, slots=True)
class EventRef(Node):
    """An event type with an optional filter on its properties."""

    event: Name
    where: Condition | None = None


@dataclass(frozen=True, slots=True)
class Happened(Condition):
    """The lead did ``event`` (at least ``times``), optionally within a window or since a step."""

    event: EventRef
    times: int | None = None
    within: Duration | None = None
    since: Name | None = None


# ----- top-level items -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item(Node):
    """A top-level block of a file."""

    kind: ClassVar[str] = "item"


@dataclass(frozen=True, slots=True)
class Setting(Node):
    key: L["sender name", "sender address", "reply to", "sales address", "default timezone"]
    value: str


@dataclass(frozen=True, slots=True)
class QuietHours(Node):
    start: TimeOfDay
    end: TimeOfDay


@dataclass(frozen=True, slots=True)
class FrequencyCap(Node):
    count: int
    period: L["day", "week"]


@dataclass(frozen=True, slots=True)
class Settings(Item):
    kind: ClassVar[str] = "settings"
    items: tuple[Setting | QuietHours | FrequencyCap, ...]


@dataclass(frozen=True, slots=True)
class AttributeDecl(Node):
    name: Name
    type: TypeRef
    default: Value | None = None


@dataclass(frozen=True, slots=True)
class Attributes(Item):
    kind: ClassVar[str] = "attributes"
    decls: tuple[AttributeDecl, ...]


@dataclass(frozen=True, slots=True)
class PropDecl(Node):
    name: Name
    type: TypeRef


@dataclass(frozen=True, slots=True)
class EventDecl(Node):
    name: Name
    props: tuple[PropDecl, ...] = ()


@dataclass(frozen=True, slots=True)
class Events(Item):
    kind: ClassVar[str] = "events"
    decls: tuple[EventDecl, ...]


# scores


@dataclass(frozen=True, slots=True)
class AttributeRule(Node):
    """``+15 if job_title matches /VP/``: points for who the lead is; never decays."""

    points: int
    condition: Condition


@dataclass(frozen=True, slots=True)
class Cap(Node):
    """At most ``points`` from one rule in any rolling window of ``window``."""

    points: int
    window: Duration


@dataclass(frozen=True, slots=True)
class EventRule(Node):
    """``+5 per email.opened max 25 per 30 days``: points for what the lead does."""

    points: int
    event: EventRef
    cap: Cap | None = None


@dataclass(frozen=True, slots=True)
class Decay(Node):
    """Event points lose ``percent`` every ``every`` (a half-life is 50% every period)."""

    percent: int
    every: Duration
    half_life: bool = False


@dataclass(frozen=True, slots=True)
class Floor(Node):
    value: int | float


ScoreItem = AttributeRule | EventRule | Decay | Floor


@dataclass(frozen=True, slots=True)
class Score(Item):
    kind: ClassVar[str] = "score"
    name: Name
    title: str | None
    items: tuple[ScoreItem, ...]


# stages


@dataclass(frozen=True, slots=True)
class Recipient(Node):
    """``sales "addr"``, ``sales`` (the settings' sales address) or ``owner``."""

    kind: L["sales", "owner"]
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Promote(Node):
    condition: Condition


@dataclass(frozen=True, slots=True)
class Demote(Node):
    target: Name
    condition: Condition


@dataclass(frozen=True, slots=True)
class Notify(Node):
    recipient: Recipient
    template: Name


@dataclass(frozen=True, slots=True)
class AssignRoundRobin(Node):
    owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AssignWhen(Node):
    owner: str
    condition: Condition


StageItem = Promote | Demote | Notify | AssignRoundRobin | AssignWhen


@dataclass(frozen=True, slots=True)
class Stage(Item):
    kind: ClassVar[str] = "stage"
    name: Name
    title: str | None
    items: tuple[StageItem, ...]


# journeys


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


JourneyItem = Entry | Reentry | ExitRule | Goal | Step


@dataclass(frozen=True, slots=True)
class Journey(Item):
    kind: ClassVar[str] = "journey"
    name: Name
    title: str | None
    items: tuple[JourneyItem, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(i for i in self.items if isinstance(i, Step))


# scenarios

#: how each unit of a scenario offset is written
OFFSET_UNITS: dict[str, str] = {"week": "w", "day": "d", "hour": "h", "minute": "min"}


@dataclass(frozen=True, slots=True)
class Moment(Node):
    """``2d 10:00``: an offset from the scenario's start, then a time of day (the lead's) on that day."""

    amount: int
    unit: L["week", "day", "hour", "minute"]
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
    """``at 2d 10:00: demo.requested``: something the lead does."""

    at: Moment
    event: Name
    props: tuple[Assignment, ...] = ()


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
    op: L[">=", "<=", "!=", ">", "<", "="]
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

    kind: L["sent", "notified"]
    template: Name
    negated: bool = False
    journey: Name | None = None
    step: Name | None = None


@dataclass(frozen=True, slots=True)
class ExpectJourney(Check):
    state: L["in", "not in", "exited", "finished", "goal"]
    journey: Name


@dataclass(frozen=True, slots=True)
class Expect(Node):
    at: Moment
    check: Check


ScenarioItem = ScenarioLead | ScenarioStart | ScenarioEvent | Expect


@dataclass(frozen=True, slots=True)
class Scenario(Item):
    """A test of the campaign: a lead, what it does when, and what should follow. The engine's rules ignore it."""

    kind: ClassVar[str] = "scenario"
    name: Name
    items: tuple[ScenarioItem, ...]

    @property
    def lead(self) -> ScenarioLead | None:
        return next((i for i in self.items if isinstance(i, ScenarioLead)), None)

    @property
    def start(self) -> ScenarioStart | None:
        return next((i for i in self.items if isinstance(i, ScenarioStart)), None)

    @property
    def timeline(self) -> tuple[ScenarioEvent | Expect, ...]:
        """Events and expectations in the order written."""
        return tuple(i for i in self.items if isinstance(i, ScenarioEvent | Expect))


@dataclass(frozen=True, slots=True)
class File(Node):
    """One parsed `.nurture` file."""

    path: str
    items: tuple[Item, ...]
    #: comments as (line, column, text), for the formatter
    comments: tuple[tuple[int, int, str], ...] = field(default=(), compare=False, repr=False)
