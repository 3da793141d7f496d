"""Configuration: nurture.toml, then NURTURE_* environment variables; secrets only from the environment."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_config
from engine.core.clock import VirtualClock
from engine.daemon.build import base_url_problem, daemon_for, router_for
from engine.daemon.journeys import JourneyPhases
from engine.delivery.memory import MemoryTransport
from engine.errors import ConfigError
from engine.service import Nurture

from .helpers import CAMPAIGN, rows_of


def test_defaults_file_and_environment_layers(tmp_path: Path):
    assert load_config(env={}).database_url == "sqlite:///nurture.db"
    path = tmp_path / "nurture.toml"
    path.write_text('database_url = "sqlite:///x.db"\ncampaign_dir = "camp"\n[smtp]\nhost = "mail"\nport = 2525\n')
    config = load_config(path, env={"NURTURE_SMTP_PORT": "587", "NURTURE_SECRET_KEY": "s3cret"})
    assert (config.database_url, config.campaign_dir, config.smtp_host, config.smtp_port, config.secret_key) == \
        ("sqlite:///x.db", Path("camp"), "mail", 587, "s3cret")
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(("text", "message"), [
    ('api_token = "abc"', "`api_token` is a secret; set NURTURE_API_TOKEN in the environment"),
    ('databse_url = "x"', "unknown setting(s) in"),
    ("batch_size = 'many'", "setting `batch_size` must be a whole number"),
    ("database_url = ", "nurture.toml"),
])
def test_bad_configuration_is_explained(tmp_path: Path, text: str, message: str):
    path = tmp_path / "nurture.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=None) as err:
        load_config(path, env={})
    assert message in str(err.value)


# ----- the daemon's settings come from the configuration ----------------------------------------


def test_the_daemons_batch_size_and_tick_budget_come_from_the_configuration(tmp_path: Path) -> None:
    defaults = load_config(env={})
    assert (defaults.daemon_batch_size, defaults.tick_budget) == (500, 0.8)
    assert dataclasses.replace(defaults, tick_seconds=5.0).tick_budget == 4.0  # follows the tick unless set
    path = tmp_path / "nurture.toml"
    path.write_text(f'database_url = "sqlite:///{tmp_path / "n.db"}"\ndaemon_batch_size = 50\n'
                    f'campaign_dir = "{CAMPAIGN / "journeys"}"\ntemplate_dir = "{CAMPAIGN / "templates"}"\n')
    config = load_config(path, env={"NURTURE_DAEMON_BATCH_SIZE": "2", "NURTURE_TICK_BUDGET_SECONDS": "0.25"})
    assert (config.daemon_batch_size, config.tick_budget) == (2, 0.25)

    clock = VirtualClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
    nurture = Nurture(config, clock)
    daemon = daemon_for(nurture, router_for(config, MemoryTransport()))
    assert daemon.settings.batch == 2 and daemon.journeys.batch == 2
    assert daemon.settings.tick_budget == dt.timedelta(seconds=0.25)
    # five leads changed: a tick with no time left for a second batch reacts to them two at a time
    nurture.processor().import_leads(rows_of([{"email": f"lead{i}@acme.example"} for i in range(5)]), "test")
    phases = JourneyPhases(nurture, daemon.journeys.batch, budget_seconds=0.0)
    reacted = []
    for _ in range(4):
        phases.start_tick()
        reacted.append(phases.react(clock.now()))
    assert reacted == [2, 2, 1, 0]


@pytest.mark.parametrize(("env", "message"), [
    ({"NURTURE_DAEMON_BATCH_SIZE": "0"}, "setting `daemon_batch_size` must be more than 0, got '0'"),
    ({"NURTURE_TICK_BUDGET_SECONDS": "soon"}, "setting `tick_budget_seconds` must be a number, got 'soon'"),
    ({"NURTURE_TICK_SECONDS": "-1"}, "setting `tick_seconds` must be more than 0"),
])
def test_bad_daemon_settings_are_explained(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert message in str(err.value)


# ----- one-click unsubscribe needs https ----------------------------------------------------------


def _run_once(tmp_path: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", "NURTURE_BASE_URL": base_url,
           "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"), "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates")}
    return subprocess.run([sys.executable, "-m", "engine", "run", "--once", "--no-http"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_nurture_run_refuses_a_plain_http_base_url(tmp_path: Path) -> None:
    result = _run_once(tmp_path, "http://nurture.acme.example")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())
    assert "error: base_url 'http://nurture.acme.example' is plain http" in said
    assert "set base_url (NURTURE_BASE_URL) to the https address this server is reached at" in said


@pytest.mark.parametrize("base_url", ["https://nurture.acme.example", "http://127.0.0.1:8000", "http://localhost:8000"])
def test_nurture_run_takes_https_or_a_loopback_http_base_url(tmp_path: Path, base_url: str) -> None:
    result = _run_once(tmp_path, base_url)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("base_url", "refused"), [
    ("https://nurture.acme.example", False), ("http://127.0.0.1:8000", False), ("http://localhost", False),
    ("http://[::1]:8000", False), ("http://127.0.0.2", False), ("http://10.0.0.5:8000", True),
    ("http://nurture.acme.example", True), ("nurture.acme.example", True), ("ftp://nurture.acme.example", True),
])
def test_which_base_urls_a_daemon_refuses(base_url: str, refused: bool) -> None:
    assert (base_url_problem(base_url) is not None) == refused
