"""Diagnostics: what is wrong, where, and how to fix it; rendered like a compiler would."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .codes import CODES
from .source import SourceFile, Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary place worth showing ("first defined here")."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    title: str
    span: Span
    #: what is wrong at exactly this place, printed under the caret
    label: str = ""
    help: str | None = None
    notes: tuple[Label, ...] = ()

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR

    @classmethod
    def make(cls, code: str, span: Span, *, label: str = "", help: str | None = None,
             notes: Iterable[Label] = (), **args: object) -> Diagnostic:
        """Build a diagnostic whose title comes from the code table, formatted with ``args``."""
        return cls(code, CODES[code].format(**args), span, label, help, tuple(notes))

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "path": self.span.path,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "label": self.label,
            "help": self.help,
            "notes": [{"path": n.span.path, "line": n.span.line, "column": n.span.column,
                       "message": n.message} for n in self.notes],
        }


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean `x`?' help line for a misspelt name, or None."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def _underline(source: SourceFile, span: Span, mark: str, message: str, gutter: int) -> list[str]:
    lines = []
    last = min(span.end_line, span.line + 2)  # show at most three lines of a long span
    for number in range(span.line, last + 1):
        text = source.line(number).replace("\t", " ")
        lines.append(f"{number:>{gutter}} | {text}")
        start = span.column if number == span.line else len(text) - len(text.lstrip()) + 1
        end = span.end_column if number == span.end_line else len(text) + 1
        width = max(1, end - start)
        tail = f" {message}" if number == last and message else ""
        lines.append(f"{'':>{gutter}} | {' ' * (start - 1)}{mark * width}{tail}".rstrip())
    return lines


def render(diag: Diagnostic, sources: dict[str, SourceFile]) -> str:
    """Render one diagnostic as text: header, source with caret, notes and help."""
    out = [f"{diag.span}: {diag.severity.value}[{diag.code}]: {diag.title}"]
    source = sources.get(diag.span.path)
    if source is not None and source.lines:
        gutter = len(str(max([diag.span.end_line] + [n.span.end_line for n in diag.notes])))
        out.append(f"{'':>{gutter}} |")
        out += _underline(source, diag.span, "^", diag.label, gutter)
        for note in diag.notes:
            note_source = sources.get(note.span.path)
            if note_source is None:
                continue
            if note.span.path != diag.span.path:
                out.append(f"{'':>{gutter}} = {note.span.path}:")
            out += _underline(note_source, note.span, "-", note.message, gutter)
        out.append(f"{'':>{gutter}} |")
    elif diag.label:
        out.append(f"  = {diag.label}")
    if diag.help:
        out.append(f"help: {diag.help}")
    return "\n".join(out)


def summary(diags: Iterable[Diagnostic], files: int) -> str:
    diags = list(diags)
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    checked = plural(files, "file")
    if not diags:
        return f"checked {checked}: no problems"
    return f"checked {checked}: {plural(errors, 'error')}, {plural(warnings, 'warning')}"


def to_json(diags: Iterable[Diagnostic], files: int) -> str:
    diags = list(diags)
    return json.dumps({
        "files": files,
        "errors": sum(d.severity is Severity.ERROR for d in diags),
        "warnings": sum(d.severity is Severity.WARNING for d in diags),
        "diagnostics": [d.to_json() for d in diags],
    }, indent=2)


@dataclass
class DiagnosticBag:
    """Collects diagnostics in the order found; sorted by place when read."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        self.items.append(diag)

    def error(self, code: str, span: Span, *, label: str = "", help: str | None = None,
              notes: Iterable[Label] = (), **args: object) -> None:
        self.add(Diagnostic.make(code, span, label=label, help=help, notes=notes, **args))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span.path, d.span.line, d.span.column, d.code))
