"""Golden tests: `nurture check` output for every case in cases/err/, compared character for character."""

# A case is a `<name>.nurture` file, or a `<name>/` directory of them, next to `<name>.err`.
# Regenerate the expected output with `NURTURE_UPDATE_GOLDEN=1 pytest tests/dsl/test_golden.py`
# and review the diff before committing it.

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsl import parser
from dsl.codes import CODES
from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "cases" / "err"
TEMPLATES = "tests/dsl/cases/templates"
UPDATE = os.environ.get("NURTURE_UPDATE_GOLDEN") == "1"
#: Golden cases run with a small size limit so the "file too large" case stays small.
FILE_LIMIT = 4096


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.suffix == ".nurture" or p.is_dir())


def _expected(case: Path) -> Path:
    return case.parent / f"{case.stem if case.is_file() else case.name}.err"


def _check_output(case: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(parser, "MAX_FILE_BYTES", FILE_LIMIT)
    target = case.relative_to(ROOT).as_posix()
    result = CliRunner().invoke(app, ["check", target, "--templates", TEMPLATES])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.stdout, result.exit_code


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.stem)
def test_check_output_matches_golden_file(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output, exit_code = _check_output(case, monkeypatch)
    expected = _expected(case)
    if UPDATE:
        expected.write_text(output, encoding="utf-8")
    assert expected.is_file(), f"no golden file {expected.name}: run with NURTURE_UPDATE_GOLDEN=1"
    assert output == expected.read_text(encoding="utf-8")
    assert exit_code == (1 if re.search(r"^\S+: error\[", output, re.M) else 0)


def test_every_golden_file_has_a_case() -> None:
    stale = [p.name for p in CASES.glob("*.err")
             if not (CASES / f"{p.stem}.nurture").is_file() and not (CASES / p.stem).is_dir()]
    assert stale == []


def test_every_code_has_a_golden_case() -> None:
    shown = set()
    for err in CASES.glob("*.err"):
        shown |= set(re.findall(r"^\S+: (?:error|warning)\[(\w+)\]", err.read_text(encoding="utf-8"), re.M))
    assert sorted(set(CODES) - shown) == []
