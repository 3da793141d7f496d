"""A campaign: every `.nurture` file of a directory, parsed and checked together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import ast as a
from .checker import check_files
from .diagnostics import Diagnostic, Severity
from .errors import DslError
from .parser import MAX_FILE_BYTES, collector_paused, parse_source, read_source
from .source import SourceFile, Span

SUFFIX = ".nurture"

#: What a file that could not be read or parsed may cause elsewhere, as it declares and uses nothing: unknown
#: names, templates "never sent" and scores "never used". These are left out until that file reads again.
CASCADES = frozenset({"E101", "E102", "E103", "E104", "E106", "E107", "E108", "E411", "E412", "W103"})


@dataclass
class Campaign:
    """The parsed files of a campaign and every diagnostic found in them."""

    files: list[a.File]
    sources: dict[str, SourceFile]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    template_dir: Path | None = None
    #: every campaign file named, including those that could not be read or parsed
    paths: list[Path] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def items(self) -> Iterable[a.Item]:
        for file in self.files:
            yield from file.items


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """The campaign files named by ``paths``: files as given, directories searched recursively."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def default_template_dir(paths: Iterable[str | Path]) -> Path:
    """``templates/`` beside the first campaign directory (``journeys/`` -> ``templates/``)."""
    for path in map(Path, paths):
        base = path if path.is_dir() else path.parent
        for candidate in (base / "templates", base.parent / "templates"):
            if candidate.is_dir():
                return candidate
    return Path("templates")


def load_campaign(paths: Iterable[str | Path], template_dir: str | Path | None = None,
                  edited: Mapping[Path, str] | None = None) -> Campaign:
    """Parse and check every file; problems come back as diagnostics, never as exceptions.

    ``edited`` holds texts an editor has open and not saved: they are read instead of the files on disk, and
    an unsaved new file under one of the directories in ``paths`` belongs to the campaign too.
    """
    paths = list(paths)
    edited = edited or {}
    templates = Path(template_dir) if template_dir is not None else default_template_dir(paths)
    files = discover(paths)
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    files += sorted(p for p in edited if p.suffix == SUFFIX and p not in files
                    and any(p.is_relative_to(root) for root in roots))
    campaign = Campaign([], {}, [], templates, files)
    if not files:
        where = Span(str(paths[0]) if paths else ".", 1, 1, 1, 1)
        campaign.diagnostics.append(Diagnostic.make(
            "E004", where, path=where.path, reason=f"no `{SUFFIX}` files found",
            help=f"point `nurture check` at a directory of `{SUFFIX}` files, like `journeys/`"))
        return campaign
    # The files' trees and what the checks build from them live until the check ends, and neither makes
    # cyclic garbage: the collector, started after each file, would only scan them again and again (a tenth
    # of the time of a large campaign); it runs once, at the end.
    with collector_paused():
        return _parse_and_check(campaign, files, edited, templates)


def _parse_and_check(campaign: Campaign, files: list[Path], edited: Mapping[Path, str], templates: Path) -> Campaign:
    unread = False
    for path in files:
        source, problems = _read(path, edited)
        campaign.diagnostics += problems
        if source is None:
            unread = True
            continue
        campaign.sources[source.path] = source
        if not source.text.strip():
            campaign.diagnostics.append(Diagnostic.make("W001", Span(source.path, 1, 1, 1, 1),
                                                        help="add blocks to it or delete it"))
            continue
        try:
            campaign.files.append(parse_source(source))
        except DslError as err:
            campaign.diagnostics += err.diagnostics
            unread = True
    # The files' own problems come first: they explain whatever else is reported.
    found = check_files(campaign.files, templates)
    campaign.diagnostics += [d for d in found if d.code not in CASCADES] if unread else found
    return campaign


def _read(path: Path, edited: Mapping[Path, str]) -> tuple[SourceFile | None, list[Diagnostic]]:
    """``path``'s text as the editor holds it, else from disk, within the same size limit."""
    text = edited.get(path)
    if text is None:
        return read_source(path)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [Diagnostic.make("E003", Span(str(path), 1, 1, 1, 1), size=len(text.encode("utf-8")),
                                      limit=MAX_FILE_BYTES, help="split the campaign into several files")]
    return SourceFile(str(path), text), []


def parse_sources(texts: dict[str, str]) -> Campaign:
    """Parse stored campaign files (a deployed version) without re-running the checks."""
    campaign = Campaign([], {})
    for path, text in sorted(texts.items()):
        if not path.endswith(SUFFIX):
            continue
        campaign.paths.append(Path(path))
        source = SourceFile(path, text)
        campaign.sources[path] = source
        if text.strip():
            campaign.files.append(parse_source(source))
    return campaign
