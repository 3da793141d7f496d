"""Types and values: tests compare like with like, given values fit their fields, and literals make sense."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

from . import ast as a
from .check_context import Context
from .diagnostics import Label
from .regex_risk import nested_repeat
from .source import Span
from .values import (
    DATE_LITERAL,
    ORDERED_TYPES,
    ORDERING,
    PLURALS,
    TEXT_TYPES,
    compile_regex,
    email_problem,
    given_mismatch,
    impossible_date,
    placeholder_key,
    show_kind,
    show_op,
    show_type,
    show_value,
    string_span,
    value_kind,
    zone_help,
    zone_problem,
)

#: The longest duration the engine plans with; a longer one is a typo, and days far past it overflow the calendar.
MAX_DURATION = a.Duration(3650, "day")
#: The most points one rule or cap may give or take; more would swamp every other rule.
MAX_POINTS = 1_000_000
#: The largest number written anywhere: beyond it, numbers are no longer exact when the engine compares them.
MAX_NUMBER = 10**15
NUMBER_RANGE = f"numbers lie between -{MAX_NUMBER:,} and {MAX_NUMBER:,}"

#: How a value of each type is written, for help lines.
EXAMPLES = {"text": '"text"', "number": "100", "bool": "true", "date": "2026-01-31", "timezone": '"Europe/Paris"'}
LIST_LABEL = "a list holds several values"


# ===== field tests in conditions ===============================================================


def check_field_test(ctx: Context, cond: a.Condition, t: a.TypeRef) -> None:
    """Whether a test's operator applies to a field of type ``t`` and its values have that type."""
    match cond:
        case a.Compare():
            _compare(ctx, cond, t)
        case a.Between():
            _between(ctx, cond, t)
        case a.Member():
            _member(ctx, cond, t)
        case a.TextTest():
            _text_test(ctx, cond, t)
        case a.Matches():
            _matches(ctx, cond, t)


def _compare(ctx: Context, cond: a.Compare, t: a.TypeRef) -> None:
    if t.is_list:
        _wrong_op(ctx, cond, t, LIST_LABEL, f'test membership with `{cond.name} contains "..."`')
    elif value_kind(cond.value) == "list":
        _mismatch(ctx, cond.name, t, cond.value, f"test membership with `{cond.name} in [...]`")
    elif given_mismatch(t, cond.value) is not None:
        _mismatch(ctx, cond.name, t, cond.value,
                  _unquote_help(t, cond.value) or _example_help(cond.name, t, "compare", cond.op))
    elif cond.op in ORDERING and t.name not in ORDERED_TYPES:
        _wrong_op(ctx, cond, t, f"{show_type(t)} has no order",
                  "`<`, `<=`, `>` and `>=` compare numbers and dates; use `=` or `!=`")
    elif t.name == "timezone":
        _zone_values(ctx, cond.value)


def _between(ctx: Context, cond: a.Between, t: a.TypeRef) -> None:
    if t.is_list:
        _wrong_op(ctx, cond, t, LIST_LABEL, f'test membership with `{cond.name} contains "..."`')
        return
    for end in (cond.low, cond.high):
        if value_kind(end) == "list" or given_mismatch(t, end) is not None:
            _mismatch(ctx, cond.name, t, end, _unquote_help(t, end) or _example_help(cond.name, t, "compare", ">="))
            return
    if t.name not in ORDERED_TYPES:
        _wrong_op(ctx, cond, t, f"{show_type(t)} has no order",
                  "`between` takes a range of numbers or dates; test text with `in [...]`")


def _member(ctx: Context, cond: a.Member, t: a.TypeRef) -> None:
    if t.is_list:
        _wrong_op(ctx, cond, t, LIST_LABEL, f'test one value with `{cond.name} contains "..."`')
        return
    for item in cond.values.items:
        if given_mismatch(t, item) is not None:
            _mismatch(ctx, cond.name, t, item,
                      _unquote_help(t, item) or f"make every value in the list {show_type(t)}")
            return
    if t.name == "timezone":
        _zone_values(ctx, cond.values)


def _text_test(ctx: Context, cond: a.TextTest, t: a.TypeRef) -> None:
    if t.is_list and cond.op == "contains":
        if t.name not in TEXT_TYPES:
            text = a.Value("text", cond.text, span=string_span(cond.span, cond.text))
            _mismatch(ctx, cond.name, t, text, f"`contains` looks for text, and `{cond.name}` holds {PLURALS[t.name]}")
    elif t.is_list or t.name not in TEXT_TYPES:
        _wrong_op(ctx, cond, t, _text_op_label(cond, t), _text_op_help(cond.name, t))


def _matches(ctx: Context, cond: a.Matches, t: a.TypeRef) -> None:
    if t.is_list or t.name not in TEXT_TYPES:
        _wrong_op(ctx, cond, t, _text_op_label(cond, t), _text_op_help(cond.name, t))
        return
    compiled = compile_regex(cond)
    if isinstance(compiled, re.error):
        ctx.report("E303", _regex_span(cond, compiled.pos), reason=compiled.msg, label="here",
                   help="Python `re` syntax: escape special characters like `(` and `[` with `\\`")
    elif (risky := nested_repeat(cond.pattern)) is not None:
        start, end = risky
        span = _regex_span(cond, start)
        if span.end_column == span.column + 1:  # the regex is on one line: underline the whole group
            span = Span(span.path, span.line, span.column, span.line, span.column + end - start)
        ctx.report("W106", span, label="a repeated group around a part that repeats too",
                   help="repeat only one of them (`(a+)+` matches what `a+` does), or make the parts unable to "
                        "match the same text")


def _wrong_op(ctx: Context, cond: a.FieldTest, t: a.TypeRef, label: str, help_: str) -> None:
    ctx.report("E302", cond.span, op=show_op(cond), name=cond.name, type=show_type(t),
               label=label, help=help_)


def _mismatch(ctx: Context, name: a.Name, t: a.TypeRef, value: a.Value, help_: str) -> None:
    found = show_kind(value_kind(value))
    ctx.report("E301", value.span, name=name, expected=show_type(t), found=found, label=f"this is {found}",
               help=help_)


def _unquote_help(t: a.TypeRef, value: a.Value) -> str | None:
    """When a number, boolean or date was written in quotes, the fix is to drop them."""
    if value.kind != "text" or t.is_list or t.name in TEXT_TYPES:
        return None
    text = str(value.value)
    looks = {"number": re.fullmatch(r"-?\d+(\.\d+)?", text), "bool": text in ("true", "false"),
             "date": DATE_LITERAL.fullmatch(text)}
    return f"remove the quotes: `{text}`" if looks.get(t.name) else None


def _text_op_label(cond: a.Condition, t: a.TypeRef) -> str:
    return LIST_LABEL if t.is_list else f"`{show_op(cond)}` needs text"


def _text_op_help(name: str, t: a.TypeRef) -> str:
    if t.is_list:
        return f'lists only support `contains`: `{name} contains "..."`'
    if t.name in ORDERED_TYPES:
        return f"compare {show_type(t)} with `=`, `<`, `>`, `<=` or `>=`"
    return f"compare {show_type(t)} with `=` or `!=`"


def _regex_span(cond: a.Matches, pos: int | None) -> Span:
    """The character of the regex literal where compiling failed, else the whole literal."""
    span = cond.span
    width = len(cond.literal)
    if span.line != span.end_line or width > span.end_column - span.column:
        return span
    start = span.end_column - width
    if pos is None or pos >= len(cond.pattern):
        return Span(span.path, span.line, start, span.line, span.end_column)
    return Span(span.path, span.line, start + 1 + pos, span.line, start + 2 + pos)


# ===== values given to fields ==================================================================


def check_given(ctx: Context, name: a.Name, t: a.TypeRef, value: a.Value, where: str) -> None:
    """A value stored in a field, as its default (``where="default"``), by a step (``"set"``) or by a scenario
    (``"given"``), fits its type.

    An impossible date is left to `check_literals`, which says what is wrong with it.
    """
    found = None if impossible_date(value) else given_mismatch(t, value)
    if found is not None:
        ctx.report("E307", value.span, name=name, expected=show_type(t), found=found, label=f"this is {found}",
                   help=_example_help(name, t, where))
    elif t.name == "timezone":
        _zone_values(ctx, value)


def check_placeholders(ctx: Context, decl: a.AttributeDecl) -> None:
    """Placeholder values are each of the attribute's type (W109) and listed once (W108), and the default is
    not one of them (E304)."""
    item_type = a.TypeRef(decl.type.name)
    seen: dict[object, a.Value] = {}
    for value in decl.placeholders:
        found = given_mismatch(item_type, value)
        if found is not None:
            ctx.report("W109", value.span, name=decl.name, expected=show_type(decl.type), found=found,
                       label=f"this is {found}",
                       help=f"imports keep only {PLURALS[item_type.name]} in `{decl.name}`; write placeholders like "
                            f"{EXAMPLES[item_type.name]}" + (", each an item to drop from the list"
                                                             if decl.type.is_list else ""))
            continue
        key = placeholder_key(value)
        if key in seen:
            ctx.report("W108", value.span, name=decl.name, value=show_value(value), label="listed again here",
                       notes=[Label(seen[key].span, "first listed here")],
                       help="text placeholders match ignoring case and surrounding spaces; remove one of them")
        seen.setdefault(key, value)
    default = decl.default
    if default is not None and default.kind != "list" and placeholder_key(default) in seen:
        ctx.report("E304", default.span, what="default", reason="it is one of the attribute's placeholders",
                   label="would count as missing",
                   help="give a default that is a real value, or leave the default out")


def _example_help(name: str, t: a.TypeRef, where: str, op: str = "=") -> str:
    """How to write a value of type ``t`` where it went wrong: a default, a `set` or a comparison."""
    example = f"[{EXAMPLES[t.name]}]" if t.is_list else EXAMPLES[t.name]
    if where == "default":
        return f"give it {show_type(t)}, like `{name}: {t} = {example}`"
    if where == "set":
        return f"give it {show_type(t)}, like `set {name} = {example}`"
    if where == "given":  # a scenario's lead attribute or event property
        return f"give it {show_type(t)}, like `{name} = {example}`"
    op = op if t.name in ORDERED_TYPES else "="
    return f"compare it with {show_type(t)}, like `{name} {op} {example}`"


def _zone_values(ctx: Context, value: a.Value) -> None:
    for v in value.items:
        if v.kind == "text":
            _zone(ctx, str(v.value), v.span)


def _zone(ctx: Context, name: str, span: Span) -> None:
    if problem := zone_problem(name):
        ctx.report("E304", span, what="timezone", reason=problem, label="not an IANA time zone", help=zone_help(name))


# ===== settings, addresses and points ==========================================================


def check_setting(ctx: Context, setting: a.Setting | a.QuietHours | a.FrequencyCap) -> None:
    match setting:
        case a.Setting(key=key, value=value):
            _setting_value(ctx, key, value, string_span(setting.span, value))
        case a.QuietHours(start=start, end=end) if (start.hour, start.minute) == (end.hour, end.minute):
            ctx.report("E304", setting.span, what="quiet hours", reason="they start and end at the same time",
                       label="an empty quiet period", help="give the quiet hours a length")
        case a.FrequencyCap(count=0, period=period):
            ctx.report("E304", setting.span, what="frequency cap",
                       reason=f"`max 0 emails per {period}` blocks every email",
                       label="nothing could ever be sent", help="allow at least 1 email")


def _setting_value(ctx: Context, key: str, value: str, span: Span) -> None:
    if key in ("sender address", "reply to", "sales address"):
        check_address(ctx, value, span, key)
    elif key == "default timezone":
        _zone(ctx, value, span)
    elif key == "sender name" and not value.strip():
        ctx.report("E304", span, what="sender name", reason="it is empty", label="empty",
                   help='give the name people see in their inbox, like "Acme Growth"')


def check_address(ctx: Context, address: str, span: Span, what: str) -> None:
    if problem := email_problem(address):
        ctx.report("E304", span, what=what, reason=problem, label="not an email address",
                   help="write a full address, like `sales@example.com`")


def check_recipient(ctx: Context, recipient: a.Recipient) -> None:
    if recipient.address is not None:
        check_address(ctx, recipient.address, string_span(recipient.span, recipient.address), "sales address")


def check_owners(ctx: Context, owners: tuple[str, ...], span: Span) -> None:
    if not owners:
        ctx.report("E304", span, what="owner list", reason="it is empty", label="no owners to rotate",
                   help='list at least one owner address: `["ana@example.com"]`')
    for owner in owners:
        check_address(ctx, owner, span, "owner address")


def check_points(ctx: Context, points: int, span: Span) -> None:
    if points == 0:
        ctx.report("E304", span, what="points", reason="a rule worth 0 points changes nothing",
                   label="0 points", help="give the rule a number of points, or delete it")
    elif abs(points) > MAX_POINTS:
        ctx.report("E304", span, what="points", reason=f"a rule is worth at most {MAX_POINTS:,} points",
                   label="too many points", help=f"give the rule between -{MAX_POINTS} and +{MAX_POINTS} points")


# ===== literals anywhere =======================================================================


#: the nodes `check_literals` looks at
_LITERALS = (a.TimeOfDay, a.Duration, a.Decay, a.Cap, a.EventRule, a.Value, a.Floor, a.PerUnit, a.Happened)


def check_literals(ctx: Context, nodes: Mapping[type[a.Node], Sequence[a.Node]]) -> None:
    """Values that are wrong wherever they appear: times, durations, percentages, dates, counts; ``nodes`` are
    an item's nodes by class (`Node.by_class`)."""
    for node in itertools.chain.from_iterable(nodes.get(kind, ()) for kind in _LITERALS):
        match node:
            case a.TimeOfDay():
                _time(ctx, node)
            case a.Duration(amount=0):
                ctx.report("E304", node.span, what="duration", reason=f"`{node}` is no time at all",
                           label="zero", help="use at least `1 minute`")
            case a.Duration() if node.seconds > MAX_DURATION.seconds:
                ctx.report("E304", node.span, what="duration", reason=f"`{node}` is longer than 10 years",
                           label="too long", help=f"use at most `{MAX_DURATION}`")
            case a.Decay(percent=percent) if not 0 < percent < 100:
                ctx.report("E304", node.span, what="percentage", reason=_decay_problem(percent),
                           label=f"{percent}%", help="decay by 1% to 99%, or delete the line to keep points for ever")
            case a.Cap(points=0):
                ctx.report("E304", node.span, what="cap", reason="`max 0` gives no points",
                           label="the rule can never add anything", help="raise the cap, or delete the rule")
            case a.Cap(points=points) if points > MAX_POINTS:
                ctx.report("E304", node.span, what="cap", reason=f"a cap is at most {MAX_POINTS:,} points",
                           label="too many points", help="lower the cap, or drop it to leave the rule uncapped")
            case a.EventRule(points=points, cap=a.Cap() as cap) if points < 0:
                ctx.report("E304", cap.span, what="cap",
                           reason="a cap limits the points a rule adds, and this rule takes points away",
                           label="a cap on negative points", help="drop the cap: every such event takes its points")
            case a.Value(kind="number", value=float() | int() as number) if not abs(number) <= MAX_NUMBER:
                ctx.report("E304", node.span, what="number", reason=NUMBER_RANGE,
                           label="too large", help="write a smaller number")
            case a.Floor(value=value) if not abs(value) <= MAX_NUMBER:
                ctx.report("E304", node.span, what="floor", reason=NUMBER_RANGE,
                           label="too large", help="write a smaller floor, like `floor 0`")
            case a.PerUnit(amount=amount) if amount > MAX_NUMBER:
                ctx.report("E304", node.span, what="unit", reason=NUMBER_RANGE, label="too large",
                           help="count in smaller units")
            case a.Happened(times=0):
                ctx.report("E304", node.span, what="count", reason="`at least 0 times` always holds",
                           label="0 times", help="count at least 1 time, or drop `at least ... times`")
            case a.Value() if impossible_date(node):
                ctx.report("E304", node.span, what="date", reason=f"{node.value} does not exist",
                           label="no such day", help="check the month and day")


def _decay_problem(percent: int) -> str:
    if percent == 0:
        return "decay 0% changes nothing"
    if percent == 100:
        return "decay 100% takes every point away at once"
    return f"{percent}% is more than 100%"


def _time(ctx: Context, time: a.TimeOfDay) -> None:
    if time.hour > 23:
        reason = f"there is no hour {time.hour}"
    elif time.minute > 59:
        reason = f"there is no minute {time.minute}"
    else:
        return
    ctx.report("E304", time.span, what="time", reason=reason, label="not a time of day",
               help="hours run from 00 to 23 and minutes from 00 to 59")
