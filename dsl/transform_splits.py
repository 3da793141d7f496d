"""Builds split steps (A/B experiments) and the `experiment seed` setting; a mixin of `ToAst`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import Token, Transformer, v_args

from . import ast as a
from .source import Span


@v_args(meta=True)
class SplitsToAst(Transformer):
    """One method per split grammar alias; `ToAst` supplies the helpers (`_span`, `_name`, `_int`, ...)."""

    path: str

    if TYPE_CHECKING:  # ToAst's helpers, as the methods below use them
        def _span(self, meta: Any) -> Span: ...
        def _name(self, token: Token) -> a.Name: ...
        def _string_name(self, token: Token) -> a.Name: ...
        def _int(self, token: Token, digits: str | None = None) -> int: ...
        def _setting(self, key: a.SettingKey, meta: Any, token: Token) -> a.Setting: ...
        def _date(self, token: Token, span: Span) -> a.Value: ...

    def experiment_seed(self, meta, c):
        return self._setting("experiment seed", meta, c[0])

    def split(self, meta, c):
        return a.Split(self._string_name(c[0]), tuple(c[1:]), span=self._span(meta))

    def _weight(self, token: Token) -> int:
        return self._int(token, str(token)[:-1])

    def split_arm_step(self, meta, c):
        weight, name, action = c
        if isinstance(action, a.Notify):  # the shared `notify` rule, as a journey step
            action = a.NotifyAction(action.recipient, action.template, span=action.span)
        step = a.Step(None, action, span=action.span)
        return a.Arm(self._weight(weight), self._name(name), (step,), span=self._span(meta))

    def split_arm_block(self, meta, c):
        weight, name, *steps = c
        return a.Arm(self._weight(weight), self._name(name), tuple(steps), span=self._span(meta))

    def split_goal_click(self, meta, c):
        return a.SplitGoal(None, c[0], span=self._span(meta))

    def split_goal_event(self, meta, c):
        return a.SplitGoal(c[0], c[1], span=self._span(meta))

    def pick_at_confidence(self, meta, c):
        return a.PickWinner(confidence=c[0], span=self._span(meta))

    def pick_on_date(self, meta, c):
        return a.PickWinner(on=self._date(c[0], Span.of(self.path, c[0])), span=self._span(meta))

    def expect_arm(self, meta, c):
        return a.ExpectArm(self._name(c[0]), self._name(c[1]), span=self._span(meta))

    def whole_confidence(self, meta, c):
        return float(self._int(c[0], str(c[0])[:-1]))

    def decimal_confidence(self, meta, c):
        return float(str(c[0]))
