"""The language package stands alone: the engine depends on `dsl`, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

DSL = Path(__file__).resolve().parent.parent / "dsl"


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    package = path.relative_to(DSL.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            found.add(module)
            # `from .. import engine` at the top of the tree names the module in the alias
            found.update(f"{module}.{alias.name}" if module else alias.name for alias in node.names)
    return found


def test_dsl_never_imports_the_engine() -> None:
    offenders = {
        str(path.relative_to(DSL.parent)): sorted(m for m in _imported_modules(path) if m.split(".")[0] == "engine")
        for path in sorted(DSL.rglob("*.py"))
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_walk_resolves_relative_imports() -> None:
    # Guards the test above: if relative imports were mis-resolved, an `engine` import could hide behind one.
    imports = _imported_modules(DSL / "formatter" / "layout.py")
    assert {"dsl.ast", "dsl.formatter.expressions"} <= imports
