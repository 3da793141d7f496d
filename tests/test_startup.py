"""Start-up: what the real `nurture` process imports for --help, check and --version, and the parser's cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dsl import parser

ROOT = Path(__file__).resolve().parent.parent

# What only commands that touch the store, send or serve may pay for.
SERVER_SIDE = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "alembic", "psycopg", "aiosmtplib",
               "apscheduler", "httpx"}
# What only `nurture tune` may pay for: fitting rule weights.
MODELLING = {"sklearn", "numpy", "scipy"}


def imported_by(*args: str) -> set[str]:
    """Top-level packages the process `python -m engine ARGS` imported, read from its own -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "engine.__main__" in names or "engine" in names  # the report was read
    return {name.split(".")[0] for name in names}


def test_help_imports_nothing_heavy() -> None:
    loaded = imported_by("--help")
    assert loaded & (SERVER_SIDE | MODELLING | {"jinja2", "lark", "pydantic"}) == set()


def test_a_group_help_imports_nothing_heavy() -> None:
    assert imported_by("report", "--help") & (SERVER_SIDE | {"jinja2", "lark"}) == set()


def test_check_imports_no_store_no_server() -> None:
    # Lark parses and Jinja reads the templates being checked: those two are the work itself
    assert imported_by("check", "journeys") & (SERVER_SIDE | MODELLING) == set()


def test_tune_help_imports_no_modelling() -> None:
    assert imported_by("tune", "--help") & MODELLING == set()


def test_version_is_printed_without_the_command_line() -> None:
    wrapper = ("import sys, runpy; sys.argv = ['nurture', '--version']; runpy.run_module('engine', "
               "run_name='__main__'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
               "('typer', 'rich', 'dsl', 'lark', 'jinja2', 'sqlalchemy', 'fastapi')))")
    done = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, capture_output=True, text=True,
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


def _grammar_in(directory: Path) -> Path:
    grammar = directory / "grammar.lark"
    grammar.write_bytes(parser.GRAMMAR.read_bytes())
    return grammar


def test_the_parser_tables_are_kept_beside_the_grammar(tmp_path: Path) -> None:
    assert Path(parser.cache_file()).parent == parser.GRAMMAR.parent  # the project's own directory
    where = Path(parser.cache_file(_grammar_in(tmp_path)))
    assert where.parent == tmp_path
    import lark

    assert lark.__version__ in where.name
    built = parser.build_parser(str(where))
    assert where.is_file()
    loaded = parser.build_parser(str(where))  # from the file this time
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert loaded.parse(text) == built.parse(text)


def test_a_changed_grammar_is_another_file_and_the_old_one_goes(tmp_path: Path) -> None:
    grammar = _grammar_in(tmp_path)
    first = Path(parser.cache_file(grammar))
    parser.build_parser(str(first))
    assert first.is_file()
    grammar.write_text(grammar.read_text(encoding="utf-8") + "\n// changed\n", encoding="utf-8")
    second = parser.cache_file(grammar)
    assert second != str(first)
    assert not first.exists()  # tables of a grammar no longer in use are not left behind
    assert grammar.is_file()


def test_a_directory_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    where = blocked / "grammar.pickle"  # cannot be created, whoever runs this
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert parser.build_parser(str(where)).parse(text) == parser.build_parser(None).parse(text)
    assert blocked.read_text() == "not a directory"


def test_damaged_tables_are_rebuilt_quietly(tmp_path: Path) -> None:
    where = Path(parser.cache_file(_grammar_in(tmp_path)))
    where.write_bytes(b"not a pickle\n")
    text = (ROOT / "journeys" / "scoring.nurture").read_text(encoding="utf-8")
    assert parser.build_parser(str(where)).parse(text) is not None
    assert where.read_bytes() != b"not a pickle\n"  # saved again, whole
