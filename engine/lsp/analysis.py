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

    def templates(self) -> list[str]:
        """The names of the templates a `send` or `notify` can use: `templates/<name>.html`, not `_` files."""
        if not self.template_dir.is_dir():
            return []
        return sorted(p.stem for p in self.template_dir.glob(f"*{HTML}") if not p.name.startswith("_"))

    def template_file(self, name: str) -> Path | None:
        path = self.template_dir / f"{name}{HTML}"
        return path if path.is_file() else None


class Analyzer:
    """Parses campaigns on request and remembers the last tree of every file that parsed."""

    def __init__(self) -> None:
        self._last_good: dict[str, a.File] = {}

    def snapshot(self, path: Path, texts: dict[Path, str]) -> Snapshot:
        """The campaign of the file at ``path``, reading open files from ``texts``."""
        root = campaign_root(path)
        paths = discover([root])
        paths += sorted(p for p in texts if p.suffix == path.suffix and p.is_relative_to(root) and p not in paths)
        if path not in paths:
            paths.append(path)
        files: dict[str, a.File] = {}
        sources: dict[str, SourceFile] = {}
        for each in paths:
            source = SourceFile(str(each), texts[each]) if each in texts else read_source(each)[0]
            if source is None:
                continue
            sources[source.path] = source
            parsed = self.parse(source)
            if parsed is not None:
                files[source.path] = parsed
        listed = list(files.values())
        return Snapshot(root, default_template_dir([root]), files, collect(listed), declarations(listed), sources)

    def parse(self, source: SourceFile) -> a.File | None:
        """The tree of ``source``, or the last one of that file that parsed, or None."""
        try:
            parsed = parse_source(source)
        except DslError:
            return self._last_good.get(source.path)
        self._last_good[source.path] = parsed
        return parsed

    def parses(self, source: SourceFile) -> bool:
        try:
            parse_source(source)
        except DslError:
            return False
        return True
