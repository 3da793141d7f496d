"""Configuration: nurture.toml, then NURTURE_* environment variables; secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError


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
    ("batch_size = 'many'", "setting `batch_size` must be a int"),
    ("database_url = ", "nurture.toml"),
])
def test_bad_configuration_is_explained(tmp_path: Path, text: str, message: str):
    path = tmp_path / "nurture.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=None) as err:
        load_config(path, env={})
    assert message in str(err.value)
