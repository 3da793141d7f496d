"""Lifecycle stage blocks: when a lead moves up or back, who is notified, who owns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias
from typing import Literal as L

from .conditions import Condition
from .nodes import Item, Name, Node

if TYPE_CHECKING:  # a stage's follow-up block
    from .sla import FollowUp


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


StageItem: TypeAlias = "Promote | Demote | Notify | AssignRoundRobin | AssignWhen | FollowUp"


@dataclass(frozen=True, slots=True)
class Stage(Item):
    kind: ClassVar[str] = "stage"
    name: Name
    title: str | None
    items: tuple[StageItem, ...]
