"""Comments and blank lines: where each goes among the printed lines, and the final text."""

from __future__ import annotations

from dataclasses import dataclass

from .. import ast as a
from .layout import Line, Pos, end_of, start_of

INDENT = "  "
_FAR = 10**9  # a column past the end of any line


@dataclass(frozen=True, slots=True)
class _Extra:
    """A comment or a blank source line, waiting to be placed among the printed lines."""

    at: Pos
    text: str | None  # None: a blank line
    trailing: bool = False


def comments_and_blanks(file: a.File, text: str | None) -> list[_Extra]:
    """The file's comments (and, given the text, its blank lines) in source order."""
    if text is None:
        # No text: a comment trails when some node starts or ends before it on its line.
        code: dict[int, int] = {}
        for node in file.walk():
            for line, column in (start_of(node), end_of(node)):
                code[line] = min(code.get(line, _FAR), column)
        extras = [_Extra((line, col), body, code.get(line, _FAR) < col) for line, col, body in file.comments]
    else:
        lines = text.split("\n")
        extras = [_Extra((line, col), body, bool(lines[line - 1][: col - 1].strip()))
                  for line, col, body in file.comments]
        extras += [_Extra((n, 0), None) for n, line in enumerate(lines, 1) if not line.strip()]
    return sorted(extras, key=lambda e: e.at)


def place(lines: list[Line], extras: list[_Extra]) -> list[list[_Extra]]:
    """For each printed line (and the end of file), the comments and blanks that go before it.

    Trailing comments are attached to the printed line they follow instead; a second one on the
    same printed line becomes an own-line comment below it.
    """
    before: list[list[_Extra]] = [[] for _ in range(len(lines) + 1)]
    pending = iter(extras)
    extra = next(pending, None)
    for i, line in enumerate([*lines, None]):
        while extra is not None and (line is None or extra.at < line.at):
            previous = lines[i - 1] if i else None
            if extra.trailing and previous is not None and previous.trailing is None:
                previous.trailing = extra.text
            else:
                before[i].append(extra)
            extra = next(pending, None)
    return before


class _Output:
    """Joins lines, keeping at most one blank line and none after `{`, before `}` or at either end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.blank = False
        self.after_open = False

    def put(self, depth: int, text: str, *, opens: bool = False, closes: bool = False) -> None:
        if self.blank and self.lines and not self.after_open and not closes:
            self.lines.append("")
        self.blank = False
        self.after_open = opens
        self.lines.append(INDENT * depth + text)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def render(lines: list[Line], before: list[list[_Extra]]) -> str:
    out = _Output()
    for i, line in enumerate([*lines, None]):
        if line is not None and line.top and i > 0:
            out.blank = True
        depth = 0 if line is None else line.depth + line.closes
        for extra in before[i]:
            if extra.text is None:
                out.blank = True
            else:
                out.put(depth, extra.text)
        if line is not None:
            trailing = "" if line.trailing is None else f"  {line.trailing}"
            out.put(line.depth, line.text + trailing, opens=line.opens, closes=line.closes)
    return out.text()
