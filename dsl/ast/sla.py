"""Follow-up SLAs on stages: the deadline sales has to follow up a lead entering a stage, what happens when
it is missed, and the settings that decide what "business hours" are and in which timezone an owner works."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as L

from .literals import Days, Duration, TimeOfDay
from .nodes import Name, Node
from .scenarios import Check
from .stages import Notify

SlaStatus = L["open", "met", "breached"]


@dataclass(frozen=True, slots=True)
class BusinessHours(Node):
    """``business hours 09:00 to 17:00 on weekdays``: the working time `business` deadlines count."""

    start: TimeOfDay
    end: TimeOfDay
    #: None: weekdays
    days: Days | None = None


@dataclass(frozen=True, slots=True)
class OwnerTimezone(Node):
    """``owner "ana@acme.example" timezone "Europe/Berlin"``: whose business hours are counted where."""

    owner: str
    zone: str


@dataclass(frozen=True, slots=True)
class Reassign(Node):
    """``reassign round robin [...]``: a missed follow-up hands the lead to the next of these owners."""

    owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BackTo(Node):
    """``back to mql``: a missed follow-up recycles the lead to an earlier stage."""

    target: Name


SlaAction = Notify | Reassign | BackTo


@dataclass(frozen=True, slots=True)
class FollowUp(Node):
    """``follow up within 4 business hours by sales.contacted { ... }`` inside a stage."""

    within: Duration
    #: counted in business hours (True) or on the clock (False)
    business: bool
    event: Name
    actions: tuple[SlaAction, ...]


@dataclass(frozen=True, slots=True)
class ExpectSla(Check):
    """``expect at 5h: sla sql breached``: the state of the follow-up clock of the lead's last entry into a stage."""

    stage: Name
    status: SlaStatus
