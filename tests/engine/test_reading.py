"""Reading commands read the store as it is: they never create, upgrade, apply, sweep or write."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from typer.testing import CliRunner

from engine.cli import app
from engine.config import Config
from engine.core.clock import VirtualClock
from engine.service import Nurture
from engine.store.db import MIGRATIONS, create_db_engine
from engine.store.existing import StoreNotReady

from ..http.live import EXAMPLE, ROOT, snapshot
from .helpers import event, rows_of

READS = [["leads", "show", "vp@bigco.example"], ["leads", "list"], ["leads", "explain", "vp@bigco.example"],
         ["report", "funnel"], ["events", "quarantine"], ["outbox", "list"]]
VP = {"email": "vp@bigco.example", "job_title": "VP Engineering", "company_size": 1000, "country": "US"}


def _env(url: str) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(EXAMPLE / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(EXAMPLE / "templates"), "COLUMNS": "200"}


def _missing(url: str) -> str:
    return f"no Nurture store at {url} - run `nurture apply` (or `nurture db upgrade`) first"


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_reading_command_on_a_missing_store_says_so_and_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "x.db"
    result = CliRunner().invoke(app, args, env=_env(f"sqlite:///{path}"))
    assert isinstance(result.exception, StoreNotReady)
    assert str(result.exception) == _missing(f"sqlite:///{path}")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_the_command_line_prints_the_sentence_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    result = subprocess.run([sys.executable, "-m", "engine", "leads", "show", "vp@bigco.example"], cwd=tmp_path,
                            env={**os.environ, **_env(f"sqlite:///{path}")}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert " ".join(result.stderr.split()) == f"error: {_missing(f'sqlite:///{path}')}"
    assert not path.exists()


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_file_without_a_nurture_schema_is_no_store_and_stays_as_it_was(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    before = snapshot(f"sqlite:///{path}")
    result = CliRunner().invoke(app, args, env=_env(f"sqlite:///{path}"))
    assert str(result.exception) == _missing(f"sqlite:///{path}")
    assert snapshot(f"sqlite:///{path}") == before


def test_a_store_at_an_older_schema_is_not_upgraded_by_reading(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_db_engine(url)
    with engine.begin() as conn:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    before = snapshot(url)
    result = CliRunner().invoke(app, ["leads", "list"], env=_env(url))
    assert isinstance(result.exception, StoreNotReady)
    assert "has an older schema (0001" in str(result.exception)
    assert str(result.exception).endswith("- run `nurture db upgrade` first")
    assert snapshot(url) == before


def test_reading_rules_applies_no_campaign(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    upgraded = CliRunner().invoke(app, ["db", "upgrade"], env=_env(url))
    assert upgraded.exit_code == 0, upgraded.output
    before = snapshot(url)
    for args in READS[:4]:
        result = CliRunner().invoke(app, args, env=_env(url))
        assert str(result.exception) == (f"no campaign version has been applied to the store at {url} - run "
                                         "`nurture apply` first")
    assert snapshot(url) == before and before["campaign_versions"] == []
    quarantine = CliRunner().invoke(app, ["events", "quarantine"], env=_env(url))  # needs no rules
    assert quarantine.exit_code == 0 and "quarantine is empty" in quarantine.output


def test_reading_commands_change_nothing_not_even_a_stage_that_time_has_moved(tmp_path: Path) -> None:
    """Two months ago the lead was an MQL; its engagement has decayed below the `back to lead` line since,
    which the daemon's sweep applies. Reading shows the stage as stored and leaves the store alone."""
    path = tmp_path / "n.db"
    url = f"sqlite:///{path}"
    config = Config(database_url=url, campaign_dir=EXAMPLE / "journeys", template_dir=EXAMPLE / "templates")
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    processor = Nurture(config, VirtualClock(then)).processor()
    processor.import_leads(rows_of([VP]), "test")
    processor.ingest_events([event(VP["email"], "trial.started", then)], "test")
    processor.ingest_events(rows_of([{"lead": "nope"}]), "test")  # something in quarantine
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT stage FROM leads").fetchall() == [("mql",)]
    before = snapshot(url)
    for args in [*READS, [*READS[0], "--json"], ["leads", "list", "--json"], ["report", "funnel", "--json"]]:
        result = CliRunner().invoke(app, args, env=_env(url))
        assert result.exit_code == 0, (args, result.output, result.exception)
    shown = CliRunner().invoke(app, ["leads", "show", VP["email"], "--json"], env=_env(url))
    assert '"stage": "mql"' in shown.output
    assert snapshot(url) == before
    # the same store on today's clock: the sweep a reader used to run does move the lead
    assert Nurture(config).processor().sweep() == 1


def test_db_upgrade_creates_the_store_then_reading_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = CliRunner().invoke(app, ["db", "upgrade"], env=_env(url))
    assert result.exit_code == 0 and f"database {url} is up to date" in " ".join(result.output.split())
    assert CliRunner().invoke(app, ["apply"], env=_env(url)).exit_code == 0
    listed = CliRunner().invoke(app, ["leads", "list", "--json"], env=_env(url))
    assert listed.exit_code == 0 and listed.output.strip() == "[]"


def test_nothing_outside_the_store_imports_sqlalchemy_in_the_adapters() -> None:
    """The HTTP and CLI adapters (besides modules still being moved) go through the store's repositories."""
    pending = {"engine/http/writer.py", "engine/cli/run.py"}
    offenders = []
    for package in ("engine/http", "engine/cli"):
        for path in sorted((ROOT / package).glob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            text = path.read_text()
            if relative not in pending and any(name in text for name in (
                    "import sqlalchemy", "from sqlalchemy", "sqlmodel", "engine.store.tables", "engine.store.bulk",
                    "engine.store.db")):
                offenders.append(relative)
    assert offenders == []


@pytest.mark.postgres
def test_an_empty_postgres_schema_is_no_store_and_stays_empty(postgres_url: str) -> None:
    result = CliRunner().invoke(app, ["report", "funnel"], env=_env(postgres_url))
    assert isinstance(result.exception, StoreNotReady)
    assert str(result.exception).startswith("no Nurture store at postgresql+psycopg://")
    assert snapshot(postgres_url) == {}
