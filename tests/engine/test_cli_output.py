"""What the command line prints is what it means: paths, line numbers and user text come out literally.

Rich turns `:100:` into an emoji and reads `[...]` as markup; neither may touch a path, a line or a
lead's text.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

from .helpers import CAMPAIGN

ODD = "odd:100:dir [red]x"  # a directory name with an emoji code and markup in it


def _env(tmp_path: Path) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'nurture.db'}", "COLUMNS": "300",
            "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"), "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates")}


def test_check_prints_paths_and_line_100_literally(tmp_path: Path) -> None:
    folder = tmp_path / ODD
    folder.mkdir()
    path = folder / "c.nurture"
    # the error is on line 100, column 3: `path:100:3`
    path.write_text("# filler\n" * 99 + "  nope\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)], env=_env(tmp_path))
    assert result.exit_code == 1, result.output
    assert f"{path}:100:3: error" in result.stdout
    assert "💯" not in result.stdout


def test_ingest_and_quarantine_print_file_and_line_100_literally(tmp_path: Path) -> None:
    folder = tmp_path / ODD
    folder.mkdir()
    path = folder / "events.jsonl"
    good = {"lead": "ann@acme.example", "type": "page.viewed", "at": "2026-03-01T09:00:00Z",
            "props": {"url": "/x"}}
    rows = [json.dumps({**good, "id": f"e{i}"}) for i in range(99)]
    rows.append(json.dumps({**good, "id": "bad", "type": "not.declared", "props": {"note": ":100: [red]"}}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = _env(tmp_path)
    ingested = CliRunner().invoke(app, ["events", "ingest", str(path)], env=env)
    assert ingested.exit_code == 3, ingested.output
    assert f"{path}:100: " in ingested.stderr
    assert "99 accepted" in ingested.stdout

    shown = CliRunner().invoke(app, ["events", "quarantine"], env=env)
    assert shown.exit_code == 0, shown.output
    first, raw = shown.stdout.splitlines()[:2]
    assert first.startswith(f"{path}:100: ")
    assert '":100: [red]"' in raw  # the row's own text, markup and all
    assert "💯" not in ingested.stderr + shown.stdout
