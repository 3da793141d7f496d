"""The shape the code keeps: which package may import what, and how long a module may grow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            found.add(module)
            # `from engine import store` names the module in the alias
            found.update(f"{module}.{alias.name}" if module else alias.name for alias in node.names)
    return found


def offenders(package: str, forbidden: tuple[str, ...], allowed_under: str | None = None) -> list[str]:
    found = []
    for path in modules(package):
        rel = path.relative_to(ROOT).as_posix()
        if allowed_under and rel.startswith(allowed_under):
            continue
        bad = sorted(m for m in imported(path) if m.split(".")[0] in forbidden or m in forbidden
                     or any(m.startswith(f + ".") for f in forbidden))
        if bad:
            found.append(f"{rel}: {', '.join(bad)}")
    return found


def test_only_the_store_knows_sql() -> None:
    assert offenders("engine", ("sqlalchemy", "sqlmodel", "alembic", "psycopg"), allowed_under="engine/store/") == []


def test_the_core_is_pure() -> None:
    assert offenders("engine/core", ("sqlalchemy", "sqlmodel", "asyncio", "aiosmtplib", "fastapi", "engine.store",
                                     "engine.delivery", "engine.daemon", "engine.http", "engine.cli")) == []


def test_the_language_knows_nothing_of_the_engine() -> None:
    assert offenders("dsl", ("engine",)) == []


def test_the_walk_resolves_relative_imports() -> None:
    # guards the tests above: a mis-resolved relative import could hide a forbidden one
    assert {"dsl.ast", "dsl.formatter.expressions"} <= imported(ROOT / "dsl" / "formatter" / "layout.py")


@pytest.mark.parametrize("package", ["engine", "dsl"])
def test_no_module_is_over_500_lines(package: str) -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for p in modules(package)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == []


def test_every_package_says_what_it_owns() -> None:
    inits = [init for package in ("engine", "dsl") for init in (ROOT / package).rglob("__init__.py")
             if "migrations" not in init.parts]
    silent = [str(init.relative_to(ROOT)) for init in inits
              if not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))]
    assert silent == []
