"""Builds the account nodes: the `accounts` block, `account alert`, `account.NAME` in conditions and scenario
expectations. A mixin of `ToAst`, which provides the helpers it uses."""

from __future__ import annotations

from typing import Any, get_args

from lark import Token, Transformer, v_args

from . import ast as a

_COMPARE_OPS: tuple[a.CompareOp, ...] = get_args(a.CompareOp)


def _op(token: Token) -> a.CompareOp:
    text = str(token)
    for op in _COMPARE_OPS:
        if op == text:
            return op
    raise ValueError(f"the grammar let {text!r} through, which is no comparison")


@v_args(meta=True)
class AccountsToAst(Transformer):
    """One method per account grammar alias; each returns an AST node with its span."""

    # provided by ToAst
    _span: Any
    _name: Any
    _string_name: Any

    def accounts(self, meta, c):
        return a.Accounts(items=tuple(c), span=self._span(meta))

    def account_by_email(self, meta, c):
        return a.AccountBy(None, span=self._span(meta))

    def account_by_attribute(self, meta, c):
        return a.AccountBy(self._name(c[0]), span=self._span(meta))

    def account_free_mail(self, meta, c):
        return a.FreeMail(tuple(c[0]), span=self._span(meta))

    def account_score(self, meta, c):
        return a.AccountScore(self._name(c[0]), c[1], span=self._span(meta))

    def _rollup_of(self, kind: a.RollupKind, meta, c) -> a.Rollup:
        return a.Rollup(kind, self._name(c[0]), span=self._span(meta))

    def rollup_sum(self, meta, c):
        return self._rollup_of("sum", meta, c)

    def rollup_max(self, meta, c):
        return self._rollup_of("max", meta, c)

    def rollup_min(self, meta, c):
        return self._rollup_of("min", meta, c)

    def rollup_count(self, meta, c):
        return a.Rollup("count", None, c[1], c[0], span=self._span(meta))

    def active(self, meta, c):
        return c[0]

    def account_alert(self, meta, c):
        return a.AccountAlert(self._name(c[0]), c[1], tuple(c[2:]), span=self._span(meta))

    def account_compare(self, meta, c):
        return a.AccountCompare(self._name(c[0]), _op(c[1]), c[2], span=self._span(meta))

    def expect_account_value(self, meta, c):
        return a.ExpectAccountValue(self._name(c[0]), _op(c[1]), c[2], span=self._span(meta))

    def scenario_event_by(self, meta, c):
        return a.ScenarioEvent(c[0], self._name(c[1]), c[3] or (), by=self._string_name(c[2]), span=self._span(meta))
