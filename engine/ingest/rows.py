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
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from dsl import ast as a
from engine.core.addresses import InvalidAddress, normalise_address
from engine.core.clock import parse_instant

#: event times outside these years are placeholders or typos (0001-01-01, 9999-12-31), never engagement
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
#: numbers are stored as JSON and compared as 64-bit values: larger ones are refused, not rounded
LARGEST = 2**63 - 1
#: an event id is kept as given up to this length; a longer one is kept as a hash of all of it
ID_LENGTH = 190
#: control characters (NUL breaks PostgreSQL text; the others are never meant in a field)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BOM = "\ufeff"
#: the longest CSV field taken (the csv module's default limit); a longer one is refused with its line
FIELD_LIMIT = 128 * 1024
_CSV_READ_LIMIT = 64 * 1024 * 1024
_TOO_LONG = f"a field is longer than {FIELD_LIMIT // 1024} KB; shorten it or leave it out"
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


#: why no row under a CSV header can be read (None: it can)
HeaderCheck = Callable[[list[str]], "str | None"]


def open_input(path: str) -> tuple[TextIO, str]:
    """The file (or stdin for ``-``) and its format, from the suffix; stdin is JSON Lines."""
    if path == "-":
        return sys.stdin, "jsonl"
    suffix = Path(path).suffix.lower()
    kind = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(suffix)
    if kind is None:
        raise InvalidRow(f"{path}: unknown file type {suffix or '(none)'}; use .jsonl or .csv")
    # utf-8-sig: a byte order mark (as Excel writes) is read past, never taken for part of the data
    return open(path, encoding="utf-8-sig", errors="replace", newline=""), kind


def read_rows(stream: TextIO, kind: str, header_check: HeaderCheck | None = None) -> Iterator[Row]:
    """Rows with their 1-based line numbers; unreadable rows come back with an error.

    Lines may end in LF, CRLF or CR alone (old Mac exports); a byte order mark is skipped. A CSV header
    that ``header_check`` finds no row can be read under is reported once, and nothing is read.
    """
    if kind == "csv":
        yield from _csv_rows(_without_bom(stream), header_check)
        return
    for number, line in enumerate(_without_bom(stream), start=1):
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


def _without_bom(stream: Iterable[str]) -> Iterator[str]:
    """The lines of ``stream`` with a byte order mark at the start removed (stdin keeps it)."""
    lines = iter(stream)
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(_BOM)
    yield from lines


class _Recorder:
    """Feeds lines to the CSV reader and remembers those of the record being read, for a row it rejects."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = iter(lines)
        self.taken: list[str] = []

    def __iter__(self) -> _Recorder:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.taken.append(line)
        return line


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters in all)"


def _csv_rows(stream: Iterable[str], header_check: HeaderCheck | None = None) -> Iterator[Row]:
    # The csv module's own limit (128 KB) raises mid-record and loses track of a quoted field over
    # several lines; with a wider one each record is read whole and a long field refused below.
    if csv.field_size_limit() < _CSV_READ_LIMIT:
        csv.field_size_limit(_CSV_READ_LIMIT)
    recorder = _Recorder(stream)
    reader = csv.reader(recorder)
    try:
        header = next(reader, None)
    except csv.Error as err:
        yield Row(reader.line_num, _clip("".join(recorder.taken).rstrip("\r\n")), None,
                  f"the header cannot be read ({err}); nothing was read from this file")
        return
    if header is None:
        return
    header = [h.strip() for h in header]
    problem = _header_problem(header) or (header_check(header) if header_check else None)
    if problem:  # one message about the header, not one per row
        yield Row(reader.line_num, ",".join(header), None, problem)
        return
    while True:
        recorder.taken.clear()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # a field over even the wide limit, or a NUL: this row only
            reason = _TOO_LONG if "field larger" in str(err) else f"cannot be read as CSV: {err}"
            yield Row(reader.line_num, _clip("".join(recorder.taken).rstrip("\r\n")), None, reason)
            continue
        number = reader.line_num
        if any(len(f) > FIELD_LIMIT for f in fields):
            yield Row(number, _clip("".join(recorder.taken).rstrip("\r\n")), None, _TOO_LONG)
            continue
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(fields)
        raw = buffer.getvalue()
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield Row(number, raw, None, f"has {len(fields)} columns, the header has {len(header)}")
            continue
        yield Row(number, raw, {h: f for h, f in zip(header, fields, strict=True) if f != ""})


def _header_problem(header: list[str]) -> str | None:
    """Why the rows under this header cannot be read, or None."""
    seen: dict[str, int] = {}
    for column, name in enumerate(header, start=1):
        if not name:
            continue
        if name in seen:
            return (f"the header names `{name}` twice (columns {seen[name]} and {column}), so it is unclear "
                    "which value to take; rename or remove one and load the file again. Nothing was read "
                    "from this file")
        seen[name] = column
    return None


def normalise_email(value: object) -> str:
    """The address as leads are keyed by (see engine.core.addresses); InvalidRow with the reason otherwise."""
    try:
        return normalise_address(value)
    except InvalidAddress as err:
        raise InvalidRow(str(err)) from None


def _suggest(word: str, choices: list[str]) -> str:
    folded = {c.lower(): c for c in choices}
    close = [folded[word.lower()]] if word.lower() in folded else difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def coerce(name: str, value: Any, ref: a.TypeRef, *, from_text: bool) -> Any:
    """``value`` as the declared type, or InvalidRow. CSV cells arrive as text."""
    if ref.is_list:
        if from_text and isinstance(value, str):
            try:
                value = orjson.loads(value) if value.startswith("[") else [v.strip() for v in re.split(r"[;|]", value)]
            except orjson.JSONDecodeError:
                raise InvalidRow(f"`{name}` must be a list of text like [\"a\", \"b\"] or a;b, "
                                 f"got {_clip(repr(value), 200)}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRow(f"`{name}` must be a list of text, got {_clip(repr(value), 200)}")
        for item in value:
            _no_control(name, item)
        return value
    kind = ref.name
    if kind == "number":
        if isinstance(value, bool):
            raise InvalidRow(f"`{name}` must be a number, got {value!r}")
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            except ValueError:
                raise InvalidRow(f"`{name}` must be a number, got {_clip(repr(value), 200)}") from None
            if isinstance(value, float) and value.is_integer() and "." not in text and abs(value) <= LARGEST:
                value = int(value)  # 1e3 is 1000
        if isinstance(value, int | float):
            return _in_range(name, value)
        raise InvalidRow(f"`{name}` must be a number, got {_clip(repr(value), 200)}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidRow(f"`{name}` must be true or false, got {value!r}")
    if not isinstance(value, str):
        raise InvalidRow(f"`{name}` must be {kind}, got {_clip(repr(value), 200)}")
    _no_control(name, value)
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


def _in_range(name: str, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRow(f"`{name}` must be a finite number, got {value!r}")
    if abs(value) > LARGEST:
        raise InvalidRow(f"`{name}` is too large: {_clip(str(value), 60)} is beyond the 64-bit range "
                         f"(at most {LARGEST:,} either side of zero)")
    return value


def _no_control(name: str, text: str) -> None:
    found = _CONTROL.search(text)
    if found:
        raise InvalidRow(f"`{name}` contains the control character U+{ord(found.group()):04X}; remove it")


def event_time(value: object) -> dt.datetime:
    """An event's ``at`` as UTC, within the years events can have; InvalidRow otherwise."""
    hint = "use ISO 8601 like 2026-03-01T09:30:00Z"
    try:
        at = parse_instant(str(value))
    except (ValueError, OverflowError) as err:  # OverflowError: a time zone shift past year 1 or 9999
        reason = "it lies outside the calendar once moved to UTC" if isinstance(err, OverflowError) else err
        raise InvalidRow(f"bad timestamp {_clip(repr(value), 100)}: {reason}; {hint}") from None
    if not EARLIEST <= at < LATEST:
        raise InvalidRow(f"bad timestamp {_clip(repr(value), 100)}: outside the years {EARLIEST.year} to "
                         f"{LATEST.year - 1}, so probably a placeholder; {hint}")
    return at


def event_key(data: dict[str, Any], email: str, etype: str, at: dt.datetime, props: dict) -> str:
    """The event's own id, or a stable hash of what it says (so re-sending it changes nothing)."""
    given = data.get("id")
    if given is not None and str(given).strip():
        text = str(given).strip()
        _no_control("id", text)
        if len(text) <= ID_LENGTH:
            return f"id:{text}"
        # a long id is kept whole as its hash: a prefix would make different events false duplicates
        return "idh:" + hashlib.sha256(text.encode()).hexdigest()
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
    at = event_time(data["at"])
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
