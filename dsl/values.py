"""Field types and literal values as the checker sees them: what kind a value is, whether it fits, how to show it."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

from . import ast as a
from .diagnostics import did_you_mean
from .source import Span

NUMBER = a.TypeRef("number")
#: Types whose values are written as text.
TEXT_TYPES = ("text", "timezone")
#: Types whose values `<`, `<=`, `>` and `>=` can compare.
ORDERED_TYPES = ("number", "date")
ORDERING = ("<", "<=", ">", ">=")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
DATE_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}")

TYPE_PHRASES = {"text": "text", "number": "a number", "bool": "a boolean", "date": "a date",
                "timezone": "a timezone"}
PLURALS = {"text": "text", "number": "numbers", "bool": "booleans", "date": "dates", "timezone": "timezones"}


# ===== showing things in messages ==============================================================


def show_type(t: a.TypeRef) -> str:
    """A type as a phrase: `is a number`, `is text`, `is a list of text`."""
    return f"a list of {PLURALS[t.name]}" if t.is_list else TYPE_PHRASES[t.name]


def show_kind(kind: str) -> str:
    """The kind of a literal as a phrase: `a number`, `a list`."""
    return "a list" if kind == "list" else TYPE_PHRASES[kind]


def show_value(value: a.Value) -> str:
    """A literal as it would be written in a campaign."""
    match value.kind:
        case "text":
            return '"' + str(value.value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        case "bool":
            return "true" if value.value else "false"
        case "date" if isinstance(value.value, dt.date):
            return value.value.isoformat()
        case "list":
            return "[" + ", ".join(show_value(v) for v in value.items) + "]"
    return str(value.value)


def show_sum(total: a.Sum) -> str:
    """A sum as it would be written: `fit + engagement - 10`."""
    parts = []
    for index, term in enumerate(total.terms):
        part = str(term.name) if term.name is not None else show_value(term.value) if term.value else "0"
        parts.append(part if index == 0 else f"{'-' if term.negative else '+'} {part}")
    return " ".join(parts)


def show_op(cond: a.Condition) -> str:
    """The operator of a field test as written: `>=`, `not in`, `is set`."""
    match cond:
        case a.Compare(op=op) | a.TextTest(op=op):
            return op
        case a.Member(negated=negated):
            return "not in" if negated else "in"
        case a.Matches():
            return "matches"
        case a.Between():
            return "between"
        case a.Presence(present=present):
            return "is set" if present else "is missing"
    return "?"


def string_span(span: Span, text: str) -> Span:
    """Where the string literal ``text`` sits when it ends the statement at ``span``.

    The literal's width is only known without the source when it has no escapes; otherwise, or when the
    statement spans several lines, the whole statement is pointed at.
    """
    if '"' in text or "\\" in text or "\n" in text:
        return span
    width = len(text) + 2
    if span.line != span.end_line or width >= span.end_column - span.column:
        return span
    return Span(span.path, span.line, span.end_column - width, span.end_line, span.end_column)


# ===== kinds and fits ==========================================================================


def impossible_date(value: a.Value) -> bool:
    """The parser keeps an unquoted date that does not exist (2026-02-30) as text of the same width."""
    text = str(value.value)
    width = value.span.end_column - value.span.column
    return (value.kind == "text" and DATE_LITERAL.fullmatch(text) is not None
            and value.span.line == value.span.end_line and width == len(text))


def value_kind(value: a.Value) -> str:
    """The kind a literal was meant to have: an impossible date is still a date."""
    return "date" if impossible_date(value) else value.kind


def given_mismatch(t: a.TypeRef, value: a.Value) -> str | None:
    """What ``value`` is when it cannot be stored in a field of type ``t``, else None."""
    kind = value_kind(value)
    if t.is_list:
        if kind != "list":
            return show_kind(kind)
        for item in value.items:
            if given_mismatch(a.TypeRef(t.name), item) is not None:
                return f"a list holding {show_kind(value_kind(item))}"
        return None
    expected = "text" if t.name == "timezone" else t.name
    return None if kind == expected else show_kind(kind)


def placeholder_key(value: a.Value) -> tuple[str, object]:
    """What an attribute's placeholder is matched by: text ignoring case and surrounding spaces, others as such.

    The engine matches stored values the same way (see `engine.core.conditions.placeholder_key`).
    """
    plain = value.value
    if isinstance(plain, str):
        return "text", plain.strip().casefold()
    if isinstance(plain, dt.date):
        return "text", plain.isoformat()
    if isinstance(plain, bool):
        return "bool", plain
    if isinstance(plain, int | float):
        return "number", float(plain)
    return "list", repr(plain)


def compile_regex(cond: a.Matches) -> re.Pattern[str] | re.error:
    """The compiled pattern of a `matches` test, or why it does not compile."""
    flags = 0
    for letter in cond.flags:
        flags |= REGEX_FLAGS.get(letter, 0)
    try:
        return re.compile(cond.pattern, flags)
    except re.error as err:
        return err


# ===== values that must name something real ====================================================


@functools.lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return f"`{name}` is not a known time zone"
    return None


def zone_help(name: str) -> str:
    return did_you_mean(name, known_zones()) or "use an IANA time zone name like `Europe/Paris`"


def email_problem(address: str) -> str | None:
    """Why ``address`` is not an email address, or None when it is one."""
    if EMAIL.fullmatch(address):
        return None
    return "it is empty" if not address else f"`{address}` is not an email address"
