"""Builds the follow-up SLA nodes: a transformer mixin that `ToAst` inherits."""

from __future__ import annotations

from typing import Any

from lark import Transformer, v_args

from . import ast as a
from .tokens import unquote


@v_args(meta=True)
class SlaTransform(Transformer):
    """The follow-up SLA rules of the grammar; the helpers (`_span`, `_name`, `_int`, `_time`) are ToAst's."""

    path: str
    _span: Any
    _name: Any
    _int: Any
    _time: Any

    def business_hours(self, meta, c):
        return a.BusinessHours(self._time(c[0]), self._time(c[1]), c[2], span=self._span(meta))

    def owner_timezone(self, meta, c):
        return a.OwnerTimezone(unquote(c[0]), unquote(c[1]), span=self._span(meta))

    def follow_up(self, meta, c):
        (within, business), event, *actions = c
        return a.FollowUp(within, business, self._name(event), tuple(actions), span=self._span(meta))

    def clock_window(self, meta, c):
        return c[0], False

    def business_window(self, meta, c):
        unit = str(c[1]).rstrip("s")
        if unit not in a.UNIT_SECONDS:  # the grammar lets only time units through
            raise ValueError(f"the grammar let {unit!r} through as a time unit")
        duration = a.Duration(self._int(c[0]), unit, span=self._span(meta))  # type: ignore[arg-type]  # checked just above
        return duration, True

    def reassign_round_robin(self, meta, c):
        return a.Reassign(c[0], span=self._span(meta))

    def sla_back_to(self, meta, c):
        return a.BackTo(self._name(c[0]), span=self._span(meta))

    def expect_sla(self, meta, c):
        status = str(c[1])
        if status not in ("open", "met", "breached"):
            raise ValueError(f"the grammar let {status!r} through as an SLA status")
        return a.ExpectSla(self._name(c[0]), status, span=self._span(meta))  # type: ignore[arg-type]  # checked above

