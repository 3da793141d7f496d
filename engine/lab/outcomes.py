"""The outcomes file `nurture backtest` and `nurture tune` judge a campaign against: which leads converted, and when.

A CSV file. With a header row, its columns are named (in any order):

    email          the lead's address (required)
    converted      true/false, yes/no or 1/0; without this column every row is a lead that converted
    converted_at   when it converted (or when a lead that did not was judged lost): ISO 8601, like
                   2026-03-01T09:30:00Z or 2026-03-01; `at` is the same column

Without a header, the columns are ``email[,converted_at]``. Leads of the history the file does not name
did not convert. A lead is judged on what happened before its outcome's time, else at the end of the
history (or the time asked for with ``--at``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.clock import parse_instant
from engine.errors import ConfigError
from engine.ingest.rows import InvalidRow, normalise_email

COLUMNS = ("email", "converted", "converted_at")
SYNONYMS = {"at": "converted_at"}
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class Outcome:
    converted: bool = True
    #: when it converted (or was judged lost); None: judged at the end of the history
    at: dt.datetime | None = None

    @property
    def converted_at(self) -> dt.datetime | None:
        return self.at if self.converted else None

    def judged(self, end: dt.datetime, as_of: bool = False) -> tuple[bool, dt.datetime]:
        """Whether the lead counts as converted, and the instant its scores are read at: its outcome's time,
        or ``end`` when it has none or a later one. ``as_of``: ``end`` is a time asked for (``--at``), and
        a conversion after it had not happened yet."""
        if self.at is None or self.at > end:
            return self.converted and not (as_of and self.at is not None), end
        return self.converted, self.at


@dataclass
class Outcomes:
    path: Path
    by_email: dict[str, Outcome] = field(default_factory=dict)
    #: rows that could not be read, each as ``path:line:column: reason``
    problems: list[str] = field(default_factory=list)

    @property
    def converted(self) -> int:
        return sum(1 for o in self.by_email.values() if o.converted)

    def get(self, email: str) -> Outcome | None:
        return self.by_email.get(email)

    def raise_problems(self, limit: int = 20) -> None:
        """A ConfigError listing the rows that could not be read, when there are any."""
        if self.problems:
            more = len(self.problems) - limit
            listed = "\n".join(self.problems[:limit]) + (f"\n... and {more} more" if more > 0 else "")
            raise ConfigError(f"the outcomes file {self.path} has {len(self.problems)} row(s) that cannot be read "
                              f"(nothing was changed):\n{listed}")


def _columns(line: str) -> list[int]:
    """The 1-based character column each CSV field of ``line`` starts at (quotes respected)."""
    starts, quoted = [1], False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(index + 2)
    return starts


def _instant(text: str) -> dt.datetime:
    return parse_instant(text if "T" in text or " " in text else f"{text}T00:00:00Z")


def read_outcomes(path: Path) -> Outcomes:
    """The outcomes file at ``path``; rows that cannot be read are listed in ``problems`` with their place.

    A header naming an unknown column, or a file without a single converted lead, is a ConfigError.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"cannot read the outcomes file {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start}); save the outcomes as a UTF-8 CSV") from None
    result = Outcomes(path)
    lines = text.splitlines()
    names: list[str] | None = None
    first_line: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    number = 0
    for fields in reader:
        start, number = number + 1, reader.line_num
        cells = [f.strip() for f in fields]
        if not any(cells):
            continue
        starts = _columns(lines[start - 1]) if start - 1 < len(lines) else [1]

        def place(index: int, start: int = start, starts: list[int] = starts) -> str:
            return f"{path}:{start}:{starts[index] if index < len(starts) else 1}"

        if names is None:
            if "@" not in cells[0]:
                names = _header(cells, place)
                continue
            names = ["email", "converted_at"]
        outcome = _row(cells, names, place, result.problems)
        if outcome is None:
            continue
        email, read = outcome
        if email in first_line:
            result.problems.append(f"{place(names.index('email'))}: {email} is listed twice (first on line "
                                   f"{first_line[email]}); keep one row per lead")
            continue
        first_line[email] = start
        result.by_email[email] = read
    if not result.by_email and not result.problems:
        raise ConfigError(f"{path} names no leads; expected a CSV with a header like email,converted,converted_at "
                          "(or rows of email[,converted_at] for the leads that converted)")
    if result.by_email and not result.converted and not result.problems:
        raise ConfigError(f"{path} names no converted leads, so there is nothing to judge the rules against")
    return result


def _header(cells: list[str], place: Callable[[int], str]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(cells):
        name = SYNONYMS.get(cell.lower(), cell.lower())
        if name not in COLUMNS:
            raise ConfigError(f"{place(index)}: unknown column {cell!r} in the outcomes header; the columns are "
                              f"{', '.join(COLUMNS)} (converted and converted_at are optional)")
        if name in names:
            raise ConfigError(f"{place(index)}: the outcomes header names {name} twice")
        names.append(name)
    if "email" not in names:
        raise ConfigError(f"{place(0)}: the outcomes header has no email column; the columns are "
                          f"{', '.join(COLUMNS)}")
    return names


def _row(cells: list[str], names: list[str], place: Callable[[int], str],
         problems: list[str]) -> tuple[str, Outcome] | None:
    if len(cells) > len(names):
        problems.append(f"{place(len(names))}: {len(cells)} fields, but the header names {len(names)} columns")
        return None
    values = dict(zip(names, cells, strict=False))
    index = names.index("email")
    try:
        email = normalise_email(values.get("email", ""))
    except InvalidRow as err:
        problems.append(f"{place(index)}: {err}")
        return None
    converted = True
    if "converted" in names:
        word = values.get("converted", "").lower()
        if word not in TRUE | FALSE:
            problems.append(f"{place(names.index('converted'))}: converted is {values.get('converted', '')!r}; "
                            "write true or false (yes/no and 1/0 work too)")
            return None
        converted = word in TRUE
    at = None
    if values.get("converted_at"):
        try:
            at = _instant(values["converted_at"])
        except ValueError:
            problems.append(f"{place(names.index('converted_at'))}: bad converted_at {values['converted_at']!r}; "
                            "use ISO 8601 like 2026-03-01T09:30:00Z or 2026-03-01")
            return None
    return email, Outcome(converted, at)
