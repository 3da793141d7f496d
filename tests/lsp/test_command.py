"""`nurture lsp` on the command line: listed in the help, and pygls loaded only when the server runs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dsl.workspace import campaign_root
from engine.cli import app
from tests.test_startup import imported_by


def test_help_lists_lsp_and_imports_no_pygls() -> None:
    assert imported_by("--help") & {"pygls", "lsprotocol", "cattrs"} == set()
    result = CliRunner().invoke(app, ["--help"])
    assert "lsp" in result.output


def test_lsp_help_says_what_it_does() -> None:
    result = CliRunner().invoke(app, ["lsp", "--help"])
    assert result.exit_code == 0
    assert "language server" in result.output and "--stdio" in result.output


def test_a_scenario_belongs_to_the_campaign_above_it(tmp_path: Path) -> None:
    (tmp_path / "journeys" / "tests").mkdir(parents=True)
    (tmp_path / "journeys" / "main.nurture").write_text("events { a.b }\n")
    scenario = tmp_path / "journeys" / "tests" / "a.nurture"
    scenario.write_text("")
    assert campaign_root(scenario) == tmp_path / "journeys"
    assert campaign_root(tmp_path / "journeys" / "main.nurture") == tmp_path / "journeys"
    lone = tmp_path / "elsewhere" / "x.nurture"
    lone.parent.mkdir()
    lone.write_text("")
    assert campaign_root(lone) == tmp_path / "elsewhere"
