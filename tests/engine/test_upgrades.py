"""A store at an older schema is upgraded only by `nurture db upgrade`: no other command migrates it on the side."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import StoreNotReady
from engine.store.db import MIGRATIONS, create_db_engine
from engine.store.existing import latest_revision

from ..http.live import EXAMPLE, snapshot


def _env(url: str) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(EXAMPLE / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(EXAMPLE / "templates"), "COLUMNS": "200"}


def _store_at(url: str, revision: str) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def test_a_writing_command_refuses_an_older_schema_until_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _store_at(url, "0001")
    before = snapshot(url)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"lead": "ann@acme.example", "type": "demo.requested",
                                  "at": "2026-03-02T10:00:00Z"}) + "\n")

    for args in (["apply"], ["events", "ingest", str(events)]):
        result = CliRunner().invoke(app, args, env=_env(url))
        assert isinstance(result.exception, StoreNotReady), result.output
        assert str(result.exception) == (f"the Nurture store at {url} has an older schema (0001; this version uses "
                                         f"{latest_revision()}) - back it up, then run `nurture db upgrade`")
        assert snapshot(url) == before  # nothing migrated, nothing written

    upgraded = CliRunner().invoke(app, ["db", "upgrade"], env=_env(url))
    assert upgraded.exit_code == 0, upgraded.output
    ingested = CliRunner().invoke(app, ["events", "ingest", str(events)], env=_env(url))
    assert ingested.exit_code == 0, ingested.output


def test_an_empty_database_gets_the_whole_schema_from_any_writing_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = CliRunner().invoke(app, ["apply"], env=_env(url))
    assert result.exit_code == 0, result.output
    assert "applied campaign version 1" in result.output
