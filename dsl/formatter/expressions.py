"""The one-line text of expressions and simple statements: values, conditions, rules, steps, expectations."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from functools import singledispatch

from .. import ast as a

# ===== values ===================================================================================


def quote(text: str) -> str:
    """A string literal: only `"` and `\\` need escaping in the language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def number(value: int | float) -> str:
    """A number as the grammar accepts it: digits, a float keeps its `.`, never an exponent."""
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):  # only a literal too long for a float gets here; print one that is as long
        return ("-" if value < 0 else "") + "1" + "0" * 309 + ".0"
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


@singledispatch
def text_of(node: a.Node) -> str:
    """The one-line text of an expression or a simple statement."""
    raise TypeError(f"the formatter cannot print a {type(node).__name__}")


@text_of.register
def _value(node: a.Value) -> str:
    match node.kind, node.value:
        case "list", _:
            return "[" + ", ".join(text_of(v) for v in node.items) + "]"
        case "text", str(text):
            return quote(text)
        case "bool", flag:
            return "true" if flag else "false"
        case "date", dt.date() as day:
            return day.isoformat()
        case "number", int() | float() as amount:
            return number(amount)
    raise TypeError(f"a {node.kind} literal cannot hold {node.value!r}")


@text_of.register
def _duration(node: a.Duration) -> str:
    return str(node)


@text_of.register
def _time_of_day(node: a.TimeOfDay) -> str:
    return str(node)


@text_of.register
def _days(node: a.Days) -> str:
    return f"on {node}"


@text_of.register
def _type_ref(node: a.TypeRef) -> str:
    return str(node)


# ===== conditions ===============================================================================

# Binding strength: `or` < `and` < `not` < atoms. An operand weaker than its context needs parentheses.
_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4

# The filter after `where` may be one of these atoms bare; anything else needs parentheses (grammar: filter).
_BARE_FILTERS = (a.Compare, a.Between, a.Member, a.TextTest, a.Matches, a.Presence)


def _strength(node: a.Condition) -> int:
    if isinstance(node, a.AnyOf):
        return _OR
    if isinstance(node, a.AllOf):
        return _AND
    return _NOT if isinstance(node, a.Not) else _ATOM


def _operand(node: a.Condition, context: int) -> str:
    text = text_of(node)
    return f"({text})" if _strength(node) < context else text


def _bare_filter(node: a.Condition) -> bool:
    """Whether a `where` filter may be written without parentheses: one test, or `not` before one."""
    if isinstance(node, a.Not):
        return _bare_filter(node.item)
    return isinstance(node, _BARE_FILTERS)


def _filter(node: a.Condition) -> str:
    return text_of(node) if _bare_filter(node) else f"({text_of(node)})"


@text_of.register
def _any_of(node: a.AnyOf) -> str:
    # A nested `or` keeps its parentheses: without them it would parse as one flat AnyOf.
    return " or ".join(_operand(item, _AND) for item in node.items)


@text_of.register
def _all_of(node: a.AllOf) -> str:
    return " and ".join(_operand(item, _NOT) for item in node.items)


@text_of.register
def _not(node: a.Not) -> str:
    return "not " + _operand(node.item, _NOT)


@text_of.register
def _compare(node: a.Compare) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"


@text_of.register
def _between(node: a.Between) -> str:
    return f"{node.name} between {text_of(node.low)} and {text_of(node.high)}"


@text_of.register
def _sum(node: a.Sum) -> str:
    parts = []
    for index, term in enumerate(node.terms):
        part = str(term.name) if term.name is not None else text_of(term.value) if term.value is not None else "0"
        parts.append(part if index == 0 else f"{'-' if term.negative else '+'} {part}")
    return " ".join(parts)


@text_of.register
def _sum_compare(node: a.SumCompare) -> str:
    return f"{text_of(node.total)} {node.op} {text_of(node.value)}"


@text_of.register
def _sum_between(node: a.SumBetween) -> str:
    return f"{text_of(node.total)} between {text_of(node.low)} and {text_of(node.high)}"


@text_of.register
def _member(node: a.Member) -> str:
    return f"{node.name} {'not in' if node.negated else 'in'} {text_of(node.values)}"


@text_of.register
def _text_test(node: a.TextTest) -> str:
    return f"{node.name} {node.op} {quote(node.text)}"


@text_of.register
def _matches(node: a.Matches) -> str:
    return f"{node.name} matches {node.literal or f'/{node.pattern}/{node.flags}'}"


@text_of.register
def _presence(node: a.Presence) -> str:
    return f"{node.name} is {'set' if node.present else 'missing'}"


@text_of.register
def _stage_is(node: a.StageIs) -> str:
    return f"stage is {node.stage}"


@text_of.register
def _event_ref(node: a.EventRef) -> str:
    return node.event if node.where is None else f"{node.event} where {_filter(node.where)}"


@text_of.register
def _happened(node: a.Happened) -> str:
    parts = [text_of(node.event)]
    if node.times is not None:
        parts.append(f"at least {node.times} times")
    if node.within is not None:
        parts.append(f"within {node.within}")
    elif node.since is not None:
        parts.append(f"since {node.since}")
    return " ".join(parts)


# ===== simple statements ========================================================================


@text_of.register
def _setting(node: a.Setting) -> str:
    return f"{node.key} {quote(node.value)}"


@text_of.register
def _quiet_hours(node: a.QuietHours) -> str:
    return f"quiet hours {node.start} to {node.end}"


@text_of.register
def _frequency_cap(node: a.FrequencyCap) -> str:
    return f"max {node.count} email{'' if node.count == 1 else 's'} per {node.period}"


@text_of.register
def _attribute_decl(node: a.AttributeDecl) -> str:
    default = "" if node.default is None else f" = {text_of(node.default)}"
    missing = "" if not node.placeholders else " missing when " + ", ".join(text_of(v) for v in node.placeholders)
    return f"{node.name}: {node.type}{default}{missing}"


@text_of.register
def _prop_decl(node: a.PropDecl) -> str:
    return f"{node.name}: {node.type}"


@text_of.register
def _event_decl(node: a.EventDecl) -> str:
    if not node.props:
        return node.name
    return f"{node.name} {{ {', '.join(text_of(p) for p in node.props)} }}"


@text_of.register
def _attribute_rule(node: a.AttributeRule) -> str:
    return f"{node.points:+d} if {text_of(node.condition)}"


@text_of.register
def _event_rule(node: a.EventRule) -> str:
    cap = "" if node.cap is None else f" max {node.cap.points} per {node.cap.window}"
    per = "" if node.per is None else f"{'' if node.per.amount == 1 else f'{node.per.amount} '}{node.per.prop} of "
    return f"{node.points:+d} per {per}{text_of(node.event)}{cap}"


@text_of.register
def _decay(node: a.Decay) -> str:
    if node.half_life:
        return f"decay half-life {node.every}"
    return f"decay {node.percent}% every {node.every}"


@text_of.register
def _floor(node: a.Floor) -> str:
    return f"floor {number(node.value)}"


@text_of.register
def _recipient(node: a.Recipient) -> str:
    if node.kind == "owner":
        return "owner"
    return "sales" if node.address is None else f"sales {quote(node.address)}"


@text_of.register
def _promote(node: a.Promote) -> str:
    return f"when {text_of(node.condition)}"


@text_of.register
def _demote(node: a.Demote) -> str:
    return f"back to {node.target} when {text_of(node.condition)}"


@text_of.register
def _notify(node: a.Notify) -> str:
    return f"notify {text_of(node.recipient)} with {quote(node.template)}"


@text_of.register
def _assign_round_robin(node: a.AssignRoundRobin) -> str:
    return f"assign owner round robin [{', '.join(quote(o) for o in node.owners)}]"


@text_of.register
def _assign_when(node: a.AssignWhen) -> str:
    return f"assign owner {quote(node.owner)} when {text_of(node.condition)}"


def _trigger(node: a.StageBecomes | a.Condition) -> str:
    return f"stage becomes {node.stage}" if isinstance(node, a.StageBecomes) else text_of(node)


@text_of.register
def _entry(node: a.Entry) -> str:
    return f"enter when {_trigger(node.trigger)}"


@text_of.register
def _exit_rule(node: a.ExitRule) -> str:
    return f"exit when {_trigger(node.trigger)}"


@text_of.register
def _goal(node: a.Goal) -> str:
    return f"goal {_trigger(node.trigger)}"


@text_of.register
def _reentry(node: a.Reentry) -> str:
    return f"reentry after {node.after}" if node.policy == "after" else f"reentry {node.policy}"


@text_of.register
def _send(node: a.Send) -> str:
    window = "" if node.window is None else f" {text_of(node.window)}"
    topic = "" if node.topic is None else f" topic {node.topic}"
    return f"send {quote(node.template)}{window}{topic}"


@text_of.register
def _send_window(node: a.SendWindow) -> str:
    return f"at {node.time}" + ("" if node.days is None else f" {text_of(node.days)}")


@text_of.register
def _wait(node: a.Wait) -> str:
    return f"wait {node.duration}"


@text_of.register
def _wait_event(node: a.WaitEvent) -> str:
    if node.timeout is None:
        return f"wait for {text_of(node.event)}"
    return f"wait up to {node.timeout} for {text_of(node.event)}"


@text_of.register
def _wait_time(node: a.WaitTime) -> str:
    return f"wait until {node.time}" + ("" if node.days is None else f" {text_of(node.days)}")


@text_of.register
def _set_attribute(node: a.SetAttribute) -> str:
    return f"set {node.name} = {text_of(node.value)}"


@text_of.register
def _notify_action(node: a.NotifyAction) -> str:
    return f"notify {text_of(node.recipient)} with {quote(node.template)}"


# ===== scenarios ================================================================================


@text_of.register
def _moment(node: a.Moment) -> str:
    return str(node)


@text_of.register
def _assignment(node: a.Assignment) -> str:
    return f"{node.name} = {text_of(node.value)}"


def _inline(assignments: tuple[a.Assignment, ...]) -> str:
    return "" if not assignments else " { " + ", ".join(text_of(x) for x in assignments) + " }"


@text_of.register
def _scenario_start(node: a.ScenarioStart) -> str:
    return f"start {text_of(node.date)}" + ("" if node.time is None else f" {node.time}")


@text_of.register
def _scenario_event(node: a.ScenarioEvent) -> str:
    by = "" if node.by is None else f" by {quote(node.by)}"
    return f"at {node.at}: {node.event}{by}{_inline(node.props)}"


@text_of.register
def _expect(node: a.Expect) -> str:
    return f"expect at {node.at}: {text_of(node.check)}"


@text_of.register
def _expect_stage(node: a.ExpectStage) -> str:
    return f"stage is {node.stage}"


@text_of.register
def _expect_value(node: a.ExpectValue) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"


@text_of.register
def _expect_between(node: a.ExpectBetween) -> str:
    return f"{node.name} between {text_of(node.low)} and {text_of(node.high)}"


@text_of.register
def _expect_email(node: a.ExpectEmail) -> str:
    if node.kind == "notified":
        return f"sales {'not ' if node.negated else ''}notified with {quote(node.template)}"
    source = "" if node.journey is None else f" in {node.journey}" + ("" if node.step is None else f".{node.step}")
    return f"{'not ' if node.negated else ''}sent {quote(node.template)}{source}"


_JOURNEY_STATES = {"in": "in journey", "not in": "not in journey", "exited": "exited journey",
                   "finished": "finished journey", "goal": "goal reached in journey"}


@text_of.register
def _expect_journey(node: a.ExpectJourney) -> str:
    return f"{_JOURNEY_STATES[node.state]} {node.journey}"


@text_of.register
def _invariant(node: a.Invariant) -> str:
    match node.rule:
        case a.EmailCap(count=count, window=window):
            return f"invariant at most {count} email{'' if count == 1 else 's'} per {window}"
        case a.NoEmailWhen(condition=condition):
            return f"invariant no email when {text_of(condition)}"
    raise TypeError(f"the formatter cannot print a {type(node.rule).__name__}")
