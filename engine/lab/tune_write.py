"""The points `nurture tune` suggests, written into the `.nurture` files: a diff to review, and `--write`.

Only the numbers change. Each edit replaces the points at the start of a rule (and the number after
`max` in its cap, scaled with the points) at the place the rule's span gives, so comments, layout and
every other line stay as they were. The edited text is parsed again and must hold exactly the new
numbers before anything is shown or written; `--write` replaces the files only once every new file is
safely on disk beside them.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dsl import ast as a
from dsl.errors import DslError
from dsl.parser import parse_source
from dsl.source import SourceFile, Span
from engine.errors import ConfigError
from engine.lab.tune import RuleRef, suggested_cap

POINTS = re.compile(r"[+-]\d+")
CAP = re.compile(r"max\s+(\d+)")


@dataclass(frozen=True)
class Edit:
    span: Span
    pattern: re.Pattern[str]
    text: str


@dataclass
class FileChange:
    path: Path
    before: str
    after: str

    def diff(self) -> str:
        name = self.path.as_posix()
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                            fromfile=f"a/{name}", tofile=f"b/{name}"))


def edits_for(refs: list[RuleRef], suggested: list[int]) -> dict[str, list[Edit]]:
    """The text edits, by file, that give each rule its suggested points (and its cap scaled with them)."""
    found: dict[str, list[Edit]] = {}
    for ref, points in zip(refs, suggested, strict=True):
        if points == ref.points:
            continue
        found.setdefault(ref.span.path, []).append(Edit(ref.span, POINTS, f"{points:+d}"))
        cap = suggested_cap(ref, points)
        if ref.cap_span is not None and cap != ref.cap:
            found[ref.span.path].append(Edit(ref.cap_span, CAP, str(cap)))
    return found


def _offsets(body: str, separator: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(body):
        if char == separator:
            starts.append(index + 1)
    return starts


def apply_edits(path: str, raw: str, edits: list[Edit]) -> str:
    """``raw`` (the file's text as it is on disk) with ``edits`` made; a ConfigError when a rule is not
    where its span says (the file changed since it was read)."""
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    body = raw[len(bom):]
    separator = "\n" if "\n" in body or "\r" not in body else "\r"  # old Mac files end lines in CR alone
    starts = _offsets(body, separator)
    for edit in sorted(edits, key=lambda e: (e.span.line, e.span.column), reverse=True):
        offset = starts[edit.span.line - 1] + edit.span.column - 1 if edit.span.line <= len(starts) else -1
        found = edit.pattern.match(body, offset) if offset >= 0 else None
        if found is None:
            raise ConfigError(f"{edit.span}: expected {edit.pattern.pattern!r} here to rewrite, but the file reads "
                              "otherwise (was it edited while tune ran?); run tune again")
        group = 1 if edit.pattern.groups else 0
        body = body[:found.start(group)] + edit.text + body[found.end(group):]
    return bom + body


def _check(path: str, text: str, refs: list[RuleRef], suggested: list[int]) -> None:
    """The edited file parses, and its rules hold exactly the numbers meant for them."""
    try:
        parsed = parse_source(SourceFile(path, text))
    except DslError as err:
        raise ConfigError(f"{path}: the rewritten file would not parse ({err}); nothing was written") from None
    wanted = {(ref.span.line, ref.span.column): (points, suggested_cap(ref, points))
              for ref, points in zip(refs, suggested, strict=True) if ref.span.path == path}
    for node in parsed.walk():
        if isinstance(node, a.AttributeRule | a.EventRule) and (node.span.line, node.span.column) in wanted:
            points, cap = wanted.pop((node.span.line, node.span.column))
            got_cap = node.cap.points if isinstance(node, a.EventRule) and node.cap else None
            if node.points != points or got_cap != cap:
                raise ConfigError(f"{node.span}: the rewritten rule reads {node.points} points (cap {got_cap}), "
                                  f"not {points} (cap {cap}); nothing was written")
    if wanted:
        line, column = next(iter(wanted))
        raise ConfigError(f"{path}:{line}:{column}: the rule is not where it was after rewriting; nothing was written")


def changes(refs: list[RuleRef], suggested: list[int]) -> list[FileChange]:
    """Every file the suggestion changes, before and after, checked by parsing the result."""
    found = []
    for path, edits in sorted(edits_for(refs, suggested).items()):
        try:
            raw = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read {path} to rewrite it: {err}") from None
        after = apply_edits(path, raw, edits)
        _check(path, after, refs, suggested)
        found.append(FileChange(Path(path), raw, after))
    return found


def write_atomically(files: list[FileChange]) -> None:
    """Every new text written beside its file and flushed to disk first, then each put in place by a rename:
    a failure before the renames leaves every file as it was, and no file is ever half written."""
    staged: list[tuple[str, Path]] = []
    moved: list[Path] = []
    try:
        for change in files:
            handle, temp = tempfile.mkstemp(dir=change.path.parent, prefix=f".{change.path.name}.", suffix=".tmp")
            staged.append((temp, change.path))
            with os.fdopen(handle, "wb") as out:
                out.write(change.after.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, change.path.stat().st_mode & 0o7777)
        for temp, target in staged:
            os.replace(temp, target)
            moved.append(target)
    except OSError as err:
        done = f"only {', '.join(map(str, moved))} had been rewritten" if moved else "no file was changed"
        raise ConfigError(f"cannot write the tuned points: {err}; {done}") from None
    finally:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
