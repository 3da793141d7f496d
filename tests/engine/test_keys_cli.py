"""`nurture keys add|list|revoke`: publishable keys with their origins."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app


def test_add_list_and_revoke_a_publishable_key(tmp_path: Path) -> None:
    env = {"NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'nurture.db'}"}
    runner = CliRunner()
    added = runner.invoke(app, ["keys", "add", "--publishable", "--origin", "https://WWW.example.com/",
                                "--origin", "http://localhost:3000"], env=env)
    assert added.exit_code == 0, added.output
    key = added.output.strip()
    assert key.startswith("pk_") and len(key) > 20
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert key in listed.output and "active" in listed.output
    assert "https://www.example.com" in listed.output and "http://localhost:3000" in listed.output
    assert runner.invoke(app, ["keys", "revoke", key], env=env).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"], env=env).output
    [listed_json] = json.loads(runner.invoke(app, ["keys", "list", "--json"], env=env).stdout)
    assert listed_json["key"] == key
    assert sorted(listed_json["origins"]) == ["http://localhost:3000", "https://www.example.com"]
    assert listed_json["revoked_at"] is not None and listed_json["created_at"] <= listed_json["revoked_at"]
    assert runner.invoke(app, ["keys", "revoke", "pk_unknown"], env=env).exit_code == 1


def test_a_key_needs_publishable_and_a_real_origin(tmp_path: Path) -> None:
    env = {"NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'nurture.db'}"}
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "add", "--origin", "https://a.example"], env=env).exit_code == 1
    assert runner.invoke(app, ["keys", "add", "--publishable"], env=env).exit_code == 1
    assert runner.invoke(app, ["keys", "add", "--publishable", "--origin", "www.example.com"], env=env).exit_code == 1
