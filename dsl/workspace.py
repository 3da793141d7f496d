"""A campaign as an editor holds it: which campaign a file belongs to, and checking it with unsaved texts.

`load_campaign` reads every file from disk; an editor has some of them open with changes not yet saved.
`load_edited` checks the same campaign the same way, reading the open files' texts instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .campaign import SUFFIX, Campaign, load_campaign


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
    return load_campaign([root], template_dir, edited=texts)
