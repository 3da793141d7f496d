"""Literal values: durations, times of day, weekday sets, typed values and type names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal as L

from .nodes import Node

TimeUnit = L["minute", "hour", "day", "week"]
UNIT_SECONDS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


@dataclass(frozen=True, slots=True)
class Duration(Node):
    amount: int
    unit: TimeUnit

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
TypeName = L["text", "number", "bool", "date", "timezone"]


@dataclass(frozen=True, slots=True)
class Value(Node):
    """A literal: text, number, bool, date, or a list of values."""

    kind: ValueKind
    value: str | int | float | bool | dt.date | tuple[Value, ...]

    @property
    def items(self) -> tuple[Value, ...]:
        """The values of a list; any other literal stands for a list holding just itself."""
        return self.value if isinstance(self.value, tuple) else (self,)

    def python(self) -> object:
        """The plain Python value (lists become lists of plain values)."""
        if self.kind == "list":
            return [v.python() for v in self.items]
        return self.value


@dataclass(frozen=True, slots=True)
class TypeRef(Node):
    name: TypeName
    is_list: bool = False

    def __str__(self) -> str:
        return f"list of {self.name}" if self.is_list else self.name
