"""Source files and spans: where every node and diagnostic points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based, end-inclusive-start/exclusive-end region of one file."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    @classmethod
    def of(cls, path: str, meta: Any) -> Span:
        """Build a span from a Lark ``meta`` or ``Token`` (both carry the same attributes)."""
        return span_at(path, meta.line, meta.column, meta.end_line, meta.end_column)


# A frozen dataclass's __init__ sets each field through object.__setattr__, looked up again for each one;
# setting the slots through their descriptors directly does the same in less than half the time.
_SET_PATH, _SET_LINE, _SET_COLUMN, _SET_END_LINE, _SET_END_COLUMN = (
    Span.__dict__[name].__set__ for name in ("path", "line", "column", "end_line", "end_column"))
_new = object.__new__


def span_at(path: str, line: int, column: int, end_line: int, end_column: int) -> Span:
    """The same span as ``Span(path, line, column, end_line, end_column)``, made in half the time: the parser
    makes one for every node and name."""
    span = _new(Span)
    _SET_PATH(span, path)
    _SET_LINE(span, line)
    _SET_COLUMN(span, column)
    _SET_END_LINE(span, end_line)
    _SET_END_COLUMN(span, end_column)
    return span


UNKNOWN = Span("<unknown>", 1, 1, 1, 1)


def normalize(text: str) -> str:
    """Text as the parser reads it: without a leading byte-order mark, and with old Mac line ends (carriage
    returns in a file without a single newline) as newlines, so every line is counted. Windows line ends are
    kept (they read as spaces), and so is a lone carriage return in a file with newlines: it may be in a text."""
    text = text.removeprefix("\ufeff")
    return text.replace("\r", "\n") if "\n" not in text else text


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's name and text (normalized, see `normalize`), with fast access to its lines."""

    path: str
    text: str
    lines: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        text = normalize(self.text)
        object.__setattr__(self, "text", text)
        # Only newlines end a line, as for the parser: `splitlines` would also split at form feeds and others.
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if lines[-1] == "":
            lines.pop()
        object.__setattr__(self, "lines", tuple(lines))

    def line(self, number: int) -> str:
        """The text of 1-based line ``number``, or '' past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""
