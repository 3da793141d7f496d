"""Score blocks: points for who a lead is and what it does, with caps, decay and a floor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .conditions import Condition, EventRef
from .literals import Duration
from .nodes import Item, Name, Node


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
class PerUnit(Node):
    """``10 minutes of``: the rule's points for every whole ``amount`` of the event's number property ``prop``."""

    amount: int
    prop: Name


@dataclass(frozen=True, slots=True)
class EventRule(Node):
    """``+5 per email.opened max 25 per 30 days``: points for what the lead does; with ``per``,
    ``+1 per 10 minutes of webinar.attended``, points for every whole 10 of the event's ``minutes``."""

    points: int
    event: EventRef
    cap: Cap | None = None
    per: PerUnit | None = None


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
