"""The campaign an open file belongs to, parsed with the editor's unsaved texts, as answers need it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dsl import ast as a
from dsl.campaign import default_template_dir, discover
from dsl.errors import DslError
from dsl.navigation import Kind, declarations
from dsl.parser import parse_source, read_source
from dsl.source import SourceFile, Span
from dsl.symbols import Symbols, collect
from dsl.templates import HTML
from dsl.workspace import campaign_root


@dataclass
class Snapshot:
    """A campaign's files as they read now; a file that does not parse is taken as it last did."""

    root: Path
    template_dir: Path
    files: dict[str, a.File]
    symbols: Symbols
    declared: dict[tuple[Kind, str | None, str], Span]
    sources: dict[str, SourceFile] = field(default_factory=dict)
    #: the files whose text parses as it is now (the others are taken as they last parsed)
    current: set[str] = field(default_factory=set)

    def templates(self) -> list[str]:
        """The names of the templates a `send` or `notify` can use: `templates/<name>.html`, not `_` files."""
        if not self.template_dir.is_dir():
            return []
        return sorted(p.stem for p in self.template_dir.glob(f"*{HTML}") if not p.name.startswith("_"))

    def template_file(self, name: str) -> Path | None:
        path = self.template_dir / f"{name}{HTML}"
        return path if path.is_file() else None


class Analyzer:
    """Parses campaigns on request, keeps the last snapshot of each until a text or a file changes, and
    remembers the last tree of every file that parsed."""

    def __init__(self) -> None:
        self._last_good: dict[str, a.File] = {}
        self._snapshots: dict[Path, tuple[object, Snapshot]] = {}

    def snapshot(self, path: Path, texts: dict[Path, str]) -> Snapshot:
        """The campaign of the file at ``path``, reading open files from ``texts``."""
        root = campaign_root(path)
        paths = discover([root])
        paths += sorted(p for p in texts if p.suffix == path.suffix and p.is_relative_to(root) and p not in paths)
        if path not in paths:
            paths.append(path)
        # what the snapshot was made of: the open texts, and the other files' modification times
        key = tuple((each, texts[each]) if each in texts else (each, _modified(each)) for each in paths)
        kept = self._snapshots.get(root)
        if kept is not None and kept[0] == key:
            return kept[1]
        files: dict[str, a.File] = {}
        sources: dict[str, SourceFile] = {}
        current: set[str] = set()
        for each in paths:
            source = SourceFile(str(each), texts[each]) if each in texts else read_source(each)[0]
            if source is None:
                continue
            sources[source.path] = source
            try:
                files[source.path] = self._last_good[source.path] = parse_source(source)
                current.add(source.path)
            except DslError:
                if source.path in self._last_good:
                    files[source.path] = self._last_good[source.path]
        listed = list(files.values())
        snap = Snapshot(root, default_template_dir([root]), files, collect(listed), declarations(listed), sources,
                        current)
        self._snapshots[root] = (key, snap)
        return snap


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1
