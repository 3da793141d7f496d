"""The declaration blocks: settings, lead attributes and event types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Literal as L

from .literals import TimeOfDay, TypeRef, Value
from .nodes import Item, Name, Node
from .topics import UnsubscribeLeaves

SettingKey = L["sender name", "sender address", "reply to", "sales address", "default timezone", "experiment seed"]
CapPeriod = L["day", "week"]


@dataclass(frozen=True, slots=True)
class Setting(Node):
    key: SettingKey
    value: str


@dataclass(frozen=True, slots=True)
class QuietHours(Node):
    start: TimeOfDay
    end: TimeOfDay


@dataclass(frozen=True, slots=True)
class FrequencyCap(Node):
    count: int
    period: CapPeriod


@dataclass(frozen=True, slots=True)
class Settings(Item):
    kind: ClassVar[str] = "settings"
    items: tuple[Setting | QuietHours | FrequencyCap | UnsubscribeLeaves, ...]


@dataclass(frozen=True, slots=True)
class AttributeDecl(Node):
    """``job_title: text = "unknown" missing when "Select", "N/A"``: a lead attribute, its default, and the
    placeholder values that mean it was never given."""

    name: Name
    type: TypeRef
    default: Value | None = None
    placeholders: tuple[Value, ...] = ()


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
