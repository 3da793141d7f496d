"""Reading and validating input rows: engagement events and leads, from JSON Lines or CSV.

Every row either becomes a clean record or a `Rejected` with its line and a reason a person can
act on; nothing here touches the store.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from dsl import ast as a
from engine.core.clock import parse_instant

_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+\.[A-Za-z0-9-]{2,}$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@dataclass(frozen=True)
class Row:
    line: int
    raw: str
    data: dict[str, Any] | None
    #: why the row could not even be read (bad JSON), when data is None
    error: str | None = None


@dataclass(frozen=True)
class EventIn:
    line: int
    key: str
    email: str
    type: str
    at: dt.datetime
    props: dict[str, Any]


@dataclass(frozen=True)
class LeadIn:
    line: int
    email: str
    attributes: dict[str, Any]
    owner: str | None = None


@dataclass(frozen=True)
class Rejected:
    line: int
    raw: str
    reason: str


class InvalidRow(ValueError):
    """A row that cannot be accepted; the message is the reason shown to the user."""


def open_input(path: str) -> tuple[TextIO, str]:
    """The file (or stdin for ``-``) and its format, from the suffix; stdin is JSON Lines."""
    if path == "-":
        return sys.stdin, "jsonl"
    suffix = Path(path).suffix.lower()
    kind = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(suffix)
    if kind is None:
        raise InvalidRow(f"{path}: unknown file type {suffix or '(none)'}; use .jsonl or .csv")
    return open(path, encoding="utf-8", errors="replace", newline=""), kind


def read_rows(stream: TextIO, kind: str) -> Iterator[Row]:
    """Rows with their 1-based line numbers; unreadable rows come back with an error."""
    if kind == "csv":
        yield from _csv_rows(stream)
        return
    for number, line in enumerate(stream, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            yield Row(number, text, None, f"not valid JSON: {err.msg} at column {err.colno}")
            continue
        if not isinstance(data, dict):
            yield Row(number, text, None, "expected a JSON object")
            continue
        yield Row(number, text, data)


def _csv_rows(stream: TextIO) -> Iterator[Row]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    for fields in reader:
        number = reader.line_num
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(fields)
        raw = buffer.getvalue()
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield Row(number, raw, None, f"has {len(fields)} columns, the header has {len(header)}")
            continue
        yield Row(number, raw, {h: f for h, f in zip(header, fields, strict=True) if f != ""})


def normalise_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRow("missing `lead` email")
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidRow(f"invalid email {value!r}")
    return email


def _suggest(word: str, choices: list[str]) -> str:
    folded = {c.lower(): c for c in choices}
    close = [folded[word.lower()]] if word.lower() in folded else difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def coerce(name: str, value: Any, ref: a.TypeRef, *, from_text: bool) -> Any:
    """``value`` as the declared type, or InvalidRow. CSV cells arrive as text."""
    if ref.is_list:
        if from_text and isinstance(value, str):
            value = json.loads(value) if value.startswith("[") else [v.strip() for v in re.split(r"[;|]", value)]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRow(f"`{name}` must be a list of text, got {value!r}")
        return value
    kind = ref.name
    if kind == "number":
        if isinstance(value, bool):
            raise InvalidRow(f"`{name}` must be a number, got {value!r}")
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise InvalidRow(f"`{name}` must be a number, got {value!r}") from None
            return int(number) if number.is_integer() and "." not in value else number
        raise InvalidRow(f"`{name}` must be a number, got {value!r}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidRow(f"`{name}` must be true or false, got {value!r}")
    if not isinstance(value, str):
        raise InvalidRow(f"`{name}` must be {kind}, got {value!r}")
    if kind == "date":
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            raise InvalidRow(f"`{name}` must be a date like 2026-03-01, got {value!r}") from None
    if kind == "timezone":
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidRow(f"`{name}` must be a timezone like Europe/Berlin, got {value!r}") from None
        return value.strip()
    return value


def event_key(data: dict[str, Any], email: str, etype: str, at: dt.datetime, props: dict) -> str:
    """The event's own id, or a stable hash of what it says (so re-sending it changes nothing)."""
    given = data.get("id")
    if given is not None and str(given).strip():
        return f"id:{str(given).strip()[:190]}"
    canonical = json.dumps([email, etype, at.isoformat(), props], sort_keys=True, separators=(",", ":"))
    return "h:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def validate_event(row: Row, events: dict[str, dict[str, a.TypeRef]], from_text: bool) -> EventIn:
    data = row.data or {}
    email = normalise_email(data.get("lead"))
    etype = data.get("type")
    if not isinstance(etype, str) or not etype:
        raise InvalidRow("missing `type`")
    if etype not in events:
        raise InvalidRow(f"unknown event type {etype!r}{_suggest(etype, list(events))} "
                         "(declare it in an `events` block)")
    if "at" not in data:
        raise InvalidRow("missing `at` timestamp")
    try:
        at = parse_instant(str(data["at"]))
    except ValueError as err:
        raise InvalidRow(f"bad timestamp {data['at']!r}: {err}; use ISO 8601 like "
                         "2026-03-01T09:30:00Z") from None
    props = data.get("props", {})
    if from_text:
        props = {k[6:]: v for k, v in data.items() if k.startswith("props.")}
    if not isinstance(props, dict):
        raise InvalidRow("`props` must be an object")
    declared = events[etype]
    clean = {}
    for name, value in props.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise InvalidRow(f"property {name!r} is not declared for {etype} (declared: {known})"
                             f"{_suggest(name, list(declared))}")
        if value is not None:
            clean[name] = coerce(name, value, declared[name], from_text=from_text)
    return EventIn(row.line, event_key(data, email, etype, at, clean), email, etype, at, clean)


def validate_lead(row: Row, attributes: dict[str, a.TypeRef], from_text: bool) -> LeadIn:
    data = dict(row.data or {})
    email = normalise_email(data.pop("email", None))
    owner = data.pop("owner", None)
    if owner is not None:
        owner = normalise_email(owner)
    clean = {}
    for name, value in data.items():
        if name not in attributes:
            raise InvalidRow(f"unknown attribute {name!r}{_suggest(name, list(attributes))} "
                             "(declare it in an `attributes` block)")
        if value is not None:
            clean[name] = coerce(name, value, attributes[name], from_text=from_text)
    return LeadIn(row.line, email, clean, owner)
