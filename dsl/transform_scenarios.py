"""Builds the AST of scenarios and invariants: a test lead, its events and what is expected of the campaign.
Mixed into `ToAst`, which supplies the helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from lark import Token, v_args

from . import ast as a
from .source import Span
from .tokens import keyword

_OFFSET_UNITS: dict[str, a.OffsetUnit] = {"w": "week", "d": "day", "h": "hour", "min": "minute"}
_COMPARE_OPS: tuple[a.CompareOp, ...] = get_args(a.CompareOp)


class ScenariosToAst:
    """One method per scenario grammar alias; ``ToAst`` inherits them. Each carries its own ``v_args``, as
    ``ToAst``'s class decorator wraps only the methods it defines itself."""

    path: str

    if TYPE_CHECKING:  # supplied by ToAst
        def _span(self, meta: Any) -> Span: ...
        def _name(self, token: Token) -> a.Name: ...
        def _string_name(self, token: Token) -> a.Name: ...
        def _int(self, token: Token, digits: str | None = None) -> int: ...
        def _time(self, token: Token) -> a.TimeOfDay: ...
        def _date(self, token: Token, span: Span) -> a.Value: ...


    @v_args(meta=True)
    def scenario(self, meta, c):
        return a.Scenario(name=self._string_name(c[0]), items=tuple(c[1:]), span=self._span(meta))

    @v_args(meta=True)
    def invariant_cap(self, meta, c):
        rule = a.EmailCap(self._int(c[0]), c[2], span=self._span(meta))
        return a.Invariant(rule, span=self._span(meta))

    @v_args(meta=True)
    def invariant_no_email(self, meta, c):
        return a.Invariant(a.NoEmailWhen(c[1], span=self._span(meta)), span=self._span(meta))

    @v_args(meta=True)
    def scenario_lead(self, meta, c):
        return a.ScenarioLead(self._string_name(c[0]), c[1] or (), span=self._span(meta))

    @v_args(meta=True)
    def scenario_start(self, meta, c):
        time = self._time(c[1]) if c[1] is not None else None
        return a.ScenarioStart(self._date(c[0], Span.of(self.path, c[0])), time, span=self._span(meta))

    @v_args(meta=True)
    def scenario_event(self, meta, c):
        return a.ScenarioEvent(c[0], self._name(c[1]), c[2] or (), span=self._span(meta))

    @v_args(meta=True)
    def expect(self, meta, c):
        return a.Expect(c[0], c[1], span=self._span(meta))

    @v_args(meta=True)
    def moment(self, meta, c):
        text = str(c[0])
        digits = text.rstrip("wdhmin")
        unit = _OFFSET_UNITS[text[len(digits):]]
        time = self._time(c[1]) if c[1] is not None else None
        return a.Moment(self._int(c[0], digits), unit, time, span=self._span(meta))

    @v_args(meta=True)
    def assignments(self, meta, c):
        return tuple(x for x in c if x is not None)

    @v_args(meta=True)
    def assignment(self, meta, c):
        return a.Assignment(self._name(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def expect_stage(self, meta, c):
        return a.ExpectStage(self._name(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def expect_value(self, meta, c):
        return a.ExpectValue(self._name(c[0]), keyword(c[1], _COMPARE_OPS), c[2], span=self._span(meta))

    @v_args(meta=True)
    def expect_between(self, meta, c):
        return a.ExpectBetween(self._name(c[0]), c[1], c[2], span=self._span(meta))

    def _email(self, kind: a.EmailKind, negated: bool, meta, c) -> a.ExpectEmail:
        journey, step = c[1] if len(c) > 1 and c[1] is not None else (None, None)
        return a.ExpectEmail(kind, self._string_name(c[0]), negated, journey, step,
                             span=self._span(meta))

    @v_args(meta=True)
    def expect_sent(self, meta, c):
        return self._email("sent", False, meta, c)

    @v_args(meta=True)
    def expect_not_sent(self, meta, c):
        return self._email("sent", True, meta, c)

    @v_args(meta=True)
    def expect_notified(self, meta, c):
        return self._email("notified", False, meta, c)

    @v_args(meta=True)
    def expect_not_notified(self, meta, c):
        return self._email("notified", True, meta, c)

    @v_args(meta=True)
    def email_source(self, meta, c):
        return self._name(c[0]), (self._name(c[1]) if c[1] is not None else None)

    def _journey_state(self, state: a.JourneyState, meta, c) -> a.ExpectJourney:
        return a.ExpectJourney(state, self._name(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def expect_in_journey(self, meta, c):
        return self._journey_state("in", meta, c)

    @v_args(meta=True)
    def expect_not_in_journey(self, meta, c):
        return self._journey_state("not in", meta, c)

    @v_args(meta=True)
    def expect_exited(self, meta, c):
        return self._journey_state("exited", meta, c)

    @v_args(meta=True)
    def expect_finished(self, meta, c):
        return self._journey_state("finished", meta, c)

    @v_args(meta=True)
    def expect_goal(self, meta, c):
        return self._journey_state("goal", meta, c)
