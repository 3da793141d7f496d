"""Turns Lark's parse tree into the typed AST. It only builds nodes: no checks, no errors."""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

from lark import Token, v_args

from . import ast as a
from .source import Span
from .tokens import keyword, unquote
from .transform_accounts import AccountsToAst
from .transform_scenarios import ScenariosToAst
from .transform_sla import SlaTransform
from .transform_splits import SplitsToAst
from .transform_topics import TopicsToAst

_DAY_SETS = {"weekdays": (0, 1, 2, 3, 4), "weekends": (5, 6), "every day": tuple(range(7))}

# The words each keyword token may be, typed as the AST's literal choices.
_COMPARE_OPS: tuple[a.CompareOp, ...] = get_args(a.CompareOp)
_TYPE_NAMES: tuple[a.TypeName, ...] = get_args(a.TypeName)
_TIME_UNITS: tuple[a.TimeUnit, ...] = get_args(a.TimeUnit)
_CAP_PERIODS: tuple[a.CapPeriod, ...] = get_args(a.CapPeriod)

#: Python reads at most about this many digits into a whole number; every bound the checker puts on numbers
#: is far below it, so a longer number is reported where it is written instead of crashing the reader.
MAX_DIGITS = 4000


class NumberTooLong(Exception):
    """A number with more digits than can be read; the parser reports it at ``span``."""

    def __init__(self, span: Span) -> None:
        super().__init__(f"{span}: number too long")
        self.span = span


@v_args(meta=True)
class ToAst(AccountsToAst, ScenariosToAst, SplitsToAst, TopicsToAst, SlaTransform):
    """One method per grammar alias; each returns an AST node with its span."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    # --- helpers -------------------------------------------------------------------------------

    def _span(self, meta: Any) -> Span:
        if type(meta) is Span:  # the parser hands each method the span of its text (see `parser._reduction`)
            return meta
        if getattr(meta, "empty", False):  # Lark's own meta
            return Span(self.path, 1, 1, 1, 1)
        return Span.of(self.path, meta)

    def _name(self, token: Token) -> a.Name:
        return a.Name(str(token), Span.of(self.path, token))

    def _int(self, token: Token, digits: str | None = None) -> int:
        """A whole number written as ``token`` (or its leading ``digits``)."""
        text = str(token) if digits is None else digits
        if len(text) > MAX_DIGITS:
            raise NumberTooLong(Span.of(self.path, token))
        return int(text)

    def _string_name(self, token: Token) -> a.Name:
        return a.Name(unquote(token), Span.of(self.path, token))

    # --- file and blocks ----------------------------------------------------------------------

    def start(self, meta, items):
        return list(items)

    def settings(self, meta, items):
        return a.Settings(items=tuple(items), span=self._span(meta))

    def _setting(self, key: a.SettingKey, meta, token: Token) -> a.Setting:
        return a.Setting(key, unquote(token), span=self._span(meta))

    def sender_name(self, meta, c):
        return self._setting("sender name", meta, c[0])

    def sender_address(self, meta, c):
        return self._setting("sender address", meta, c[0])

    def reply_to(self, meta, c):
        return self._setting("reply to", meta, c[0])

    def sales_address(self, meta, c):
        return self._setting("sales address", meta, c[0])

    def default_timezone(self, meta, c):
        return self._setting("default timezone", meta, c[0])

    def quiet_hours(self, meta, c):
        return a.QuietHours(self._time(c[0]), self._time(c[1]), span=self._span(meta))

    def frequency_cap(self, meta, c):
        return a.FrequencyCap(self._int(c[0]), keyword(c[2], _CAP_PERIODS), span=self._span(meta))

    def attributes(self, meta, items):
        return a.Attributes(decls=tuple(items), span=self._span(meta))

    def attribute(self, meta, c):
        return a.AttributeDecl(self._name(c[0]), c[1], c[2], c[3] or (), span=self._span(meta))

    def placeholders(self, meta, c):
        return tuple(c)

    def simple_type(self, meta, c):
        return a.TypeRef(keyword(c[0], _TYPE_NAMES), span=self._span(meta))

    def list_type(self, meta, c):
        return a.TypeRef(keyword(c[0], _TYPE_NAMES), is_list=True, span=self._span(meta))

    def events(self, meta, items):
        return a.Events(decls=tuple(items), span=self._span(meta))

    def event_decl(self, meta, c):
        props = tuple(p for p in c[1:] if p is not None)
        return a.EventDecl(self._name(c[0]), props, span=self._span(meta))

    def prop_decl(self, meta, c):
        return a.PropDecl(self._name(c[0]), c[1], span=self._span(meta))

    # --- scores --------------------------------------------------------------------------------

    def score(self, meta, c):
        title = unquote(c[1]) if c[1] is not None else None
        return a.Score(name=self._name(c[0]), title=title, items=tuple(c[2:]), span=self._span(meta))

    def attribute_rule(self, meta, c):
        return a.AttributeRule(self._int(c[0]), c[1], span=self._span(meta))

    def event_rule(self, meta, c):
        return a.EventRule(self._int(c[0]), c[1], c[2], span=self._span(meta))

    def unit_rule(self, meta, c):
        points, amount, prop, event, cap = c
        name = self._name(prop)
        count = self._int(amount) if amount is not None else 1
        start = Span.of(self.path, amount) if amount is not None else name.span
        span = Span(self.path, start.line, start.column, name.span.end_line, name.span.end_column)
        return a.EventRule(self._int(points), event, cap, a.PerUnit(count, name, span=span), span=self._span(meta))

    def cap(self, meta, c):
        return a.Cap(self._int(c[0]), c[1], span=self._span(meta))

    def decay_percent(self, meta, c):
        return a.Decay(self._int(c[0], str(c[0])[:-1]), c[1], span=self._span(meta))

    def decay_half_life(self, meta, c):
        return a.Decay(50, c[0], half_life=True, span=self._span(meta))

    def floor(self, meta, c):
        return a.Floor(c[0].value, span=self._span(meta))

    # --- stages --------------------------------------------------------------------------------

    def stage(self, meta, c):
        title = unquote(c[1]) if c[1] is not None else None
        return a.Stage(name=self._name(c[0]), title=title, items=tuple(c[2:]), span=self._span(meta))

    def promote(self, meta, c):
        return a.Promote(c[0], span=self._span(meta))

    def demote(self, meta, c):
        return a.Demote(self._name(c[0]), c[1], span=self._span(meta))

    def notify(self, meta, c):
        # Shared by the stage action and the journey step; the parent decides which it is.
        return a.Notify(c[0], self._string_name(c[1]), span=self._span(meta))

    def sales_recipient(self, meta, c):
        address = unquote(c[0]) if c[0] is not None else None
        return a.Recipient("sales", address, span=self._span(meta))

    def owner_recipient(self, meta, c):
        return a.Recipient("owner", span=self._span(meta))

    def assign_round_robin(self, meta, c):
        return a.AssignRoundRobin(c[0], span=self._span(meta))

    def assign_when(self, meta, c):
        return a.AssignWhen(unquote(c[0]), c[1], span=self._span(meta))

    # --- journeys ------------------------------------------------------------------------------

    def journey(self, meta, c):
        title = unquote(c[1]) if c[1] is not None else None
        return a.Journey(name=self._name(c[0]), title=title, items=tuple(c[2:]), span=self._span(meta))

    def entry(self, meta, c):
        return a.Entry(c[0], span=self._span(meta))

    def exit_rule(self, meta, c):
        return a.ExitRule(c[0], span=self._span(meta))

    def goal(self, meta, c):
        return a.Goal(c[0], span=self._span(meta))

    def reentry(self, meta, c):
        return c[0]

    def reentry_never(self, meta, c):
        return a.Reentry("never", span=self._span(meta))

    def reentry_always(self, meta, c):
        return a.Reentry("always", span=self._span(meta))

    def reentry_after(self, meta, c):
        return a.Reentry("after", c[0], span=self._span(meta))

    def stage_trigger(self, meta, c):
        return a.StageBecomes(self._name(c[0]), span=self._span(meta))

    def condition_trigger(self, meta, c):
        return c[0]

    def step(self, meta, c):
        label = self._name(c[0]) if c[0] is not None else None
        action = c[1]
        if isinstance(action, a.Notify):
            action = a.NotifyAction(action.recipient, action.template, span=action.span)
        return a.Step(label, action, span=self._span(meta))

    def send(self, meta, c):
        return a.Send(self._string_name(c[0]), c[1], span=self._span(meta))

    def send_window(self, meta, c):
        return a.SendWindow(self._time(c[0]), c[1], span=self._span(meta))

    def wait(self, meta, c):
        return a.Wait(c[0], span=self._span(meta))

    def wait_event(self, meta, c):
        return a.WaitEvent(c[1], c[0], span=self._span(meta))

    def wait_event_forever(self, meta, c):
        return a.WaitEvent(c[0], None, span=self._span(meta))

    def wait_time(self, meta, c):
        return a.WaitTime(self._time(c[0]), c[1], span=self._span(meta))

    def branch(self, meta, c):
        *then, otherwise = c[1:]
        return a.Branch(c[0], tuple(then), otherwise or (), span=self._span(meta))

    def else_block(self, meta, c):
        return tuple(c)

    def else_step(self, meta, c):
        return (c[0],)

    def set_attribute(self, meta, c):
        return a.SetAttribute(self._name(c[0]), c[1], span=self._span(meta))

    def day_set(self, meta, c):
        return a.Days(_DAY_SETS[" ".join(str(c[0]).split())], span=self._span(meta))

    def day_list(self, meta, c):
        days = sorted({a.WEEKDAY_NAMES.index(str(t)) for t in c})
        return a.Days(tuple(days), span=self._span(meta))

    # --- conditions ----------------------------------------------------------------------------

    def any_of(self, meta, c):
        return a.AnyOf(tuple(c), span=self._span(meta))

    def all_of(self, meta, c):
        return a.AllOf(tuple(c), span=self._span(meta))

    def negation(self, meta, c):
        return a.Not(c[0], span=self._span(meta))

    def compare(self, meta, c):
        return a.Compare(self._name(c[0]), keyword(c[1], _COMPARE_OPS), c[2], span=self._span(meta))

    def between(self, meta, c):
        return a.Between(self._name(c[0]), c[1], c[2], span=self._span(meta))

    def sum_compare(self, meta, c):
        return a.SumCompare(c[0], keyword(c[1], _COMPARE_OPS), c[2], span=self._span(meta))

    def sum_between(self, meta, c):
        return a.SumBetween(c[0], c[1], c[2], span=self._span(meta))

    def score_sum(self, meta, c):
        first = self._name(c[0])
        return a.Sum((a.Term(False, first, span=first.span), *c[1:]), span=self._span(meta))

    def plus_name(self, meta, c):
        return a.Term(False, self._name(c[0]), span=self._span(meta))

    def minus_name(self, meta, c):
        return a.Term(True, self._name(c[0]), span=self._span(meta))

    def plus_number(self, meta, c):
        return a.Term(False, value=self.number(meta, c), span=self._span(meta))

    def minus_number(self, meta, c):
        return a.Term(True, value=self.number(meta, c), span=self._span(meta))

    def member(self, meta, c):
        return a.Member(self._name(c[0]), c[1], span=self._span(meta))

    def not_member(self, meta, c):
        return a.Member(self._name(c[0]), c[1], negated=True, span=self._span(meta))

    def _text_test(self, op: a.TextOp, meta, c) -> a.TextTest:
        return a.TextTest(self._name(c[0]), op, unquote(c[1]), span=self._span(meta))

    def contains(self, meta, c):
        return self._text_test("contains", meta, c)

    def starts_with(self, meta, c):
        return self._text_test("starts with", meta, c)

    def ends_with(self, meta, c):
        return self._text_test("ends with", meta, c)

    def matches(self, meta, c):
        literal = str(c[1])
        end = literal.rindex("/")
        pattern, flags = literal[1:end], literal[end + 1 :]
        return a.Matches(self._name(c[0]), pattern, flags, literal, span=self._span(meta))

    def is_set(self, meta, c):
        return a.Presence(self._name(c[0]), True, span=self._span(meta))

    def is_missing(self, meta, c):
        return a.Presence(self._name(c[0]), False, span=self._span(meta))

    def stage_is(self, meta, c):
        return a.StageIs(self._name(c[0]), span=self._span(meta))

    def happened(self, meta, c):
        event, times, window = c
        within = window if isinstance(window, a.Duration) else None
        since = window if isinstance(window, a.Name) else None
        return a.Happened(event, times, within, since, span=self._span(meta))

    def event_ref(self, meta, c):
        return a.EventRef(self._name(c[0]), c[1], span=self._span(meta))

    def times(self, meta, c):
        return self._int(c[0])

    def within(self, meta, c):
        return c[0]

    def since(self, meta, c):
        return self._name(c[0])

    # --- values --------------------------------------------------------------------------------

    def string(self, meta, c):
        return a.Value("text", unquote(c[0]), span=self._span(meta))

    def number(self, meta, c):
        text = str(c[0])
        return a.Value("number", float(text) if "." in text else self._int(c[0]), span=self._span(meta))

    def negative_number(self, meta, c):
        text = str(c[0])
        return a.Value("number", -(float(text) if "." in text else self._int(c[0])), span=self._span(meta))

    def true(self, meta, c):
        return a.Value("bool", True, span=self._span(meta))

    def false(self, meta, c):
        return a.Value("bool", False, span=self._span(meta))

    def date(self, meta, c):
        return self._date(c[0], self._span(meta))

    def _date(self, token: Token, span: Span) -> a.Value:
        # An impossible date (2026-02-30) is kept as text so the checker can report it.
        try:
            return a.Value("date", dt.date.fromisoformat(str(token)), span=span)
        except ValueError:
            return a.Value("text", str(token), span=span)

    def value_list(self, meta, c):
        return a.Value("list", tuple(v for v in c if v is not None), span=self._span(meta))

    def string_list(self, meta, c):
        return tuple(unquote(t) for t in c if t is not None)

    def duration(self, meta, c):
        return a.Duration(self._int(c[0]), keyword(str(c[1]).rstrip("s"), _TIME_UNITS), span=self._span(meta))

    def _time(self, token: Token) -> a.TimeOfDay:
        hour, minute = (int(p) for p in str(token).split(":"))
        return a.TimeOfDay(hour, minute, span=Span.of(self.path, token))
