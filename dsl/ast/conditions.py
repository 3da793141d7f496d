"""Boolean conditions on a lead: comparisons, ranges, sums of scores, membership, text tests, its stage, and
events it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as L

from .literals import Duration, Value
from .nodes import Name, Node

CompareOp = L[">=", "<=", "!=", ">", "<", "="]
TextOp = L["contains", "starts with", "ends with"]


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
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class Between(Condition):
    """``name between low and high``: both ends included."""

    name: Name
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class Term(Node):
    """One part of a sum: a score (``name``) or a number (``value``), added or, when ``negative``, taken away."""

    negative: bool
    name: Name | None = None
    value: Value | None = None


@dataclass(frozen=True, slots=True)
class Sum(Node):
    """``fit + engagement - 10``: scores and numbers added up; the first term is a name, added."""

    terms: tuple[Term, ...]

    @property
    def names(self) -> tuple[Name, ...]:
        """The names the sum reads, in the order written."""
        return tuple(t.name for t in self.terms if t.name is not None)


@dataclass(frozen=True, slots=True)
class SumCompare(Condition):
    """``fit + engagement >= 60``: a sum of scores compared with a number."""

    total: Sum
    op: CompareOp
    value: Value


@dataclass(frozen=True, slots=True)
class SumBetween(Condition):
    """``fit + engagement between 40 and 80``: a sum of scores in a range, both ends included."""

    total: Sum
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class Member(Condition):
    name: Name
    values: Value
    negated: bool = False


@dataclass(frozen=True, slots=True)
class TextTest(Condition):
    name: Name
    op: TextOp
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


#: the conditions that test one named field: an attribute, a score or an event property
FieldTest = Compare | Between | Member | TextTest | Matches | Presence


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
