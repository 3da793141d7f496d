"""The container files in docs/deploy/, checked without a Docker engine: they parse, name only real
settings and secrets, and run commands the command line has."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from engine.cli import app
from engine.config import SECRETS, Config, load_config
from engine.store.db import create_db_engine

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
SETTINGS = {f"NURTURE_{f.name.upper()}" for f in dataclasses.fields(Config)} - {"NURTURE_GIVEN"}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.partition(" ") for line in lines if line and not line.startswith("#"))]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / "nurture.env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_dockerfile_is_multi_stage_non_root_and_checks_its_health() -> None:
    instructions = _instructions()
    keywords = [kw for kw, _ in instructions]
    froms = [args for kw, args in instructions if kw == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("python:3.11-slim") for f in froms)
    assert keywords[0] == "FROM" or keywords[:2] == ["ARG", "FROM"]
    users = [args for kw, args in instructions if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")
    healthcheck = " ".join(args for kw, args in instructions if kw == "HEALTHCHECK")
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert ("EXPOSE", "8000") in instructions
    entrypoint = [json.loads(args) for kw, args in instructions if kw == "ENTRYPOINT"]
    cmd = [json.loads(args) for kw, args in instructions if kw == "CMD"]
    assert entrypoint == [["nurture"]]
    assert cmd == [["run", "--host", "0.0.0.0", "--log-format", "json"]]


def test_what_the_dockerfile_copies_is_in_the_context_and_not_ignored() -> None:
    ignored = {line.strip().rstrip("/") for line in
               (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "docs/deploy/nurture.env"} <= ignored
    for kw, args in _instructions():
        if kw == "COPY" and "--from=" not in args:
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, source


def test_the_compose_file_waits_on_postgres_and_the_migration() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"]["volumes"]
    conditions = {"service_healthy", "service_completed_successfully", "service_started"}
    nurture = {name: s for name, s in services.items() if name != "postgres"}
    assert {"migrate", "daemon"} <= set(nurture)
    for name, service in nurture.items():
        assert service["env_file"] == "nurture.env"
        assert service["environment"]["NURTURE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:" in service["environment"]["NURTURE_DATABASE_URL"]
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert all(d["condition"] in conditions for d in depends.values())
        if name != "migrate":
            assert depends["migrate"]["condition"] == "service_completed_successfully"
    servers = [s for s in nurture.values() if s.get("command", [None])[0] == "serve"]
    published = [port for s in nurture.values() for port in s.get("ports", [])]
    assert len(servers) == 2 and len(published) == len(set(published)) == 3


def test_every_nurture_variable_is_a_setting_and_every_secret_is_documented() -> None:
    for file in ("compose.yaml", "nurture.env.example", "Dockerfile"):
        named = set(re.findall(r"NURTURE_[A-Z0-9_]+", (DEPLOY / file).read_text(encoding="utf-8")))
        assert named <= SETTINGS, f"{file}: not settings: {sorted(named - SETTINGS)}"
    example = (DEPLOY / "nurture.env.example").read_text(encoding="utf-8")
    for secret in SECRETS:
        assert re.search(rf"^#?NURTURE_{secret.upper()}=", example, re.M), secret


def test_the_settings_the_files_give_load() -> None:
    """The example's values and compose's database URL make a configuration the store accepts."""
    environment = {**_env_example(), **_compose()["services"]["daemon"]["environment"]}
    environment = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", v) for k, v in environment.items()}
    config = load_config(env=environment)
    assert config.database_url.startswith("postgresql+psycopg://nurture:nurture@postgres:5432/")
    create_db_engine(config.database_url).dispose()  # parses the URL and loads the driver; no connection


def _commands() -> list[list[str]]:
    """Every nurture command line the files run, without the leading `nurture`."""
    found = [json.loads(args) for kw, args in _instructions() if kw == "CMD"]
    for service in _compose()["services"].values():
        if service.get("command"):
            found.append(service["command"])
        entrypoint = service.get("entrypoint")
        if entrypoint:
            assert entrypoint[:2] == ["sh", "-c"]
            for part in entrypoint[2].split("&&"):
                words = shlex.split(part)
                assert words[0] == "nurture", part
                found.append(words[1:])
    return found


def test_the_migration_upgrades_then_applies() -> None:
    assert ["db", "upgrade"] in _commands() and ["apply"] in _commands()


@pytest.mark.parametrize("args", _commands(), ids=" ".join)
def test_the_commands_exist_with_their_options(args: list[str]) -> None:
    """`--help` after the whole command line: an unknown command or option fails before help is shown."""
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
