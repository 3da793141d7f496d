"""A campaign as an editor holds it: which campaign a file belongs to, and checking it with unsaved texts.

`load_campaign` reads every file from disk; an editor has some of them open with changes not yet saved.
`load_edited` checks the same campaign the same way, reading the open files' texts instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .campaign import CASCADES, SUFFIX, Campaign, default_template_dir, discover
from .checker import check_files
from .diagnostics import Diagnostic
from .errors import DslError
from .parser import MAX_FILE_BYTES, parse_source, read_source
from .source import SourceFile, Span


def campaign_root(path: Path) -> Path:
    """The directory whose campaign ``path`` belongs to, as `nurture check DIR` would be pointed at it.

    The file's own directory, or the highest directory above it that still holds campaign files directly, so
    a scenario in `journeys/tests/` is checked with the campaign in `journeys/`.
    """
    root = path.parent
    while root.parent != root and any(p.is_file() for p in root.parent.glob(f"*{SUFFIX}")):
        root = root.parent
    return root


def load_edited(root: Path, texts: Mapping[Path, str], template_dir: Path | None = None) -> Campaign:
    """Parse and check the campaign in ``root``, taking the text of any file in ``texts`` from there.

    Files in ``texts`` under ``root`` that are not on disk yet (new, unsaved) belong to the campaign too.
    Problems come back as diagnostics, as `load_campaign` gives them.
    """
    templates = template_dir if template_dir is not None else default_template_dir([root])
    files = discover([root])
    files += sorted(p for p in texts if p.suffix == SUFFIX and p.is_relative_to(root) and p not in files)
    campaign = Campaign([], {}, [], templates, files)
    unread = False
    for path in files:
        source, problems = _read(path, texts)
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
    found = check_files(campaign.files, templates)
    campaign.diagnostics += [d for d in found if d.code not in CASCADES] if unread else found
    return campaign


def _read(path: Path, texts: Mapping[Path, str]) -> tuple[SourceFile | None, list[Diagnostic]]:
    text = texts.get(path)
    if text is None:
        return read_source(path)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [Diagnostic.make("E003", Span(str(path), 1, 1, 1, 1), size=len(text.encode("utf-8")),
                                      limit=MAX_FILE_BYTES, help="split the campaign into several files")]
    return SourceFile(str(path), text), []
