"""Start-up: what the real `nurture` process imports for --help, check and --version, and the parser's cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsl import parser

ROOT = Path(__file__).resolve().parent.parent

# What only commands that touch the store, send or serve may pay for.
SERVER_SIDE = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "alembic", "psycopg", "aiosmtplib",
               "apscheduler", "httpx"}
# What only `nurture tune` may pay for: fitting rule weights.
MODELLING = {"sklearn", "numpy", "scipy"}


def imported_by(*args: str, cache_home: Path) -> set[str]:
    """Top-level packages the process `python -m engine ARGS` imported, read from its own -X importtime."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "engine.__main__" in names or "engine" in names  # the report was read
    return {name.split(".")[0] for name in names}


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = imported_by("--help", cache_home=tmp_path)
    assert loaded & (SERVER_SIDE | MODELLING | {"jinja2", "lark", "pydantic"}) == set()


def test_a_group_help_imports_nothing_heavy(tmp_path: Path) -> None:
    assert imported_by("report", "--help", cache_home=tmp_path) & (SERVER_SIDE | {"jinja2", "lark"}) == set()


def test_check_imports_no_store_no_server(tmp_path: Path) -> None:
    # Lark parses and Jinja reads the templates being checked: those two are the work itself
    assert imported_by("check", "journeys", cache_home=tmp_path) & (SERVER_SIDE | MODELLING) == set()


def test_tune_help_imports_no_modelling(tmp_path: Path) -> None:
    assert imported_by("tune", "--help", cache_home=tmp_path) & MODELLING == set()


def test_version_is_printed_without_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    wrapper = ("import sys, runpy; sys.argv = ['nurture', '--version']; runpy.run_module('engine', "
               "run_name='__main__'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
               "('typer', 'rich', 'dsl', 'lark', 'jinja2', 'sqlalchemy', 'fastapi')))")
    done = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    from importlib.metadata import version

    assert done.stdout.splitlines() == [f"nurture {version('nurture')}", "[]"]


def test_version_through_the_command_line_too() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    from engine.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"nurture {version('nurture')}"


def test_the_parser_cache_is_the_users_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    where = parser.cache_file()
    assert where is not None
    path = Path(where)
    assert path.parent == tmp_path / "nurture"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    import lark

    assert lark.__version__ in path.name
    built = parser.build_parser(where)
    assert path.is_file()
    loaded = parser.build_parser(where)  # from the file this time
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert loaded.parse(text) == built.parse(text)


def test_a_changed_grammar_is_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = tmp_path / "grammar.lark"
    grammar.write_text(parser.GRAMMAR.read_text(encoding="utf-8") + "\n// changed\n", encoding="utf-8")
    assert parser.cache_file(grammar) != parser.cache_file()


def test_no_cache_when_the_directory_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert parser.cache_file() is None
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert parser.build_parser(None).parse(text) is not None


def test_a_damaged_cache_is_rebuilt_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    where = parser.cache_file()
    assert where is not None
    Path(where).write_bytes(b"not a pickle\n")
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert parser.build_parser(where).parse(text) is not None
    assert Path(where).read_bytes() != b"not a pickle\n"  # saved again, whole
