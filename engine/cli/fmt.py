"""`nurture fmt`: rewrite campaign files in the canonical layout."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.text import Text

from dsl.diagnostics import Diagnostic, render
from dsl.source import SourceFile
from engine.cli.app import console


def register(app: typer.Typer) -> None:
    app.command()(fmt)


@dataclass
class Outcome:
    """What formatting one file found: its new text, or why it could not be formatted."""

    path: Path
    old: str = ""
    new: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return not self.diagnostics and self.old != self.new


def format_path(path: Path) -> Outcome:
    """Format one file in memory; unreadable or unparsable files come back with diagnostics."""
    from dsl.errors import DslSyntaxError
    from dsl.formatter import format_source
    from dsl.parser import read_source

    source, problems = read_source(path)
    if source is None:
        return Outcome(path, diagnostics=problems)
    outcome = Outcome(path, source.text, source.text, sources={source.path: source})
    try:
        outcome.new = format_source(source.text, source.path)
    except DslSyntaxError as err:
        outcome.diagnostics = err.diagnostics
    return outcome


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a crash leaves either the old file or the new one, never half."""
    path = Path(os.path.realpath(path))  # through a symlink, so the link itself stays a link
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _print_diff(outcome: Outcome) -> None:
    name = str(outcome.path)
    lines = difflib.unified_diff(outcome.old.splitlines(keepends=True), outcome.new.splitlines(keepends=True),
                                 fromfile=name, tofile=name)
    for line in lines:
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[0], "")
        console.print(Text(line.rstrip("\n"), style=style), highlight=False, soft_wrap=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary(outcomes: list[Outcome], write: bool) -> str:
    changed = sum(o.changed for o in outcomes)
    failed = sum(bool(o.diagnostics) for o in outcomes)
    unchanged = len(outcomes) - changed - failed
    verb = "reformatted" if write else "would be reformatted"
    parts = [f"{_plural(changed, 'file')} {verb}", f"{unchanged} left unchanged"]
    if failed:
        parts.append(f"{failed} could not be formatted")
    return ", ".join(parts)


def fmt(
    paths: list[Path] = typer.Argument(None, help="Campaign files or directories (default: journeys)"),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if any file would change"),
    diff: bool = typer.Option(False, "--diff", help="Write nothing; print what would change as a unified "
                              "diff and exit 1 if any file would change"),
) -> None:
    """Rewrite campaign files in the canonical layout. Files that do not parse are reported and left as
    they are."""
    from dsl.campaign import SUFFIX, discover

    files = discover(paths or [Path("journeys")])
    if not files:
        console.print(f"no `{SUFFIX}` files found", markup=False, highlight=False)
        raise typer.Exit(0)
    write = not (check or diff)
    outcomes = [format_path(path) for path in files]
    for outcome in outcomes:
        for diag in outcome.diagnostics:
            console.print(render(diag, outcome.sources), markup=False, highlight=False, soft_wrap=True)
            console.print()
        if not outcome.changed:
            continue
        if diff:
            _print_diff(outcome)
        if check:
            console.print(f"would reformat {outcome.path}", markup=False, highlight=False, soft_wrap=True)
        if write:
            write_atomically(outcome.path, outcome.new)
            console.print(f"reformatted {outcome.path}", markup=False, highlight=False, soft_wrap=True)
    console.print(_summary(outcomes, write), markup=False, highlight=False, soft_wrap=True)
    failed = any(o.diagnostics for o in outcomes)
    would_change = not write and any(o.changed for o in outcomes)
    raise typer.Exit(1 if failed or would_change else 0)
