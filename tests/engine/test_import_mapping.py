"""A raw CRM export loads with a mapping file and no code: spaced headers, placeholder values, other date formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigError
from engine.store.db import create_db_engine
from engine.store.tables import LEADS, QUARANTINE

from .helpers import CAMPAIGN

EXPORT = """\
E-mail Address,Job Title,Company Size,Lead Source,First Contact,Internal Notes
ann@acme.example,VP Marketing,500,Webinar,31-01-2026,called twice
bob@globex.example,Select,N/A,Select,05-02-2026,
cy@initech.example,Analyst,12,Partner,2026-02-30,
"""
MAPPING = """\
[columns]
"E-mail Address" = "email"
"Job Title" = "job_title"
"Company Size" = "company_size"
"Lead Source" = "lead_source"
"First Contact" = "first_contact"
"Internal Notes" = ""

[values]
missing = ["Select", "N/A"]

[dates]
format = "%d-%m-%Y"
"""


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    copy = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, copy)
    source = copy / "journeys" / "campaign.nurture"
    source.write_text(source.read_text().replace("  country: text\n", "  country: text\n  first_contact: date\n"))
    return copy


def _env(url: str, campaign: Path) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(campaign / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(campaign / "templates"), "COLUMNS": "200"}


def _leads(url: str) -> dict[str, dict]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        rows = {row.email: dict(row.attributes) for row in conn.execute(sa.select(LEADS.c.email, LEADS.c.attributes))}
    engine.dispose()
    return rows


def test_a_raw_export_loads_with_a_mapping_file(tmp_path: Path, campaign: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    export, mapping = tmp_path / "export.csv", tmp_path / "crm.toml"
    export.write_text(EXPORT)
    mapping.write_text(MAPPING)
    result = CliRunner().invoke(app, ["leads", "import", str(export), "--mapping", str(mapping), "--json"],
                                env=_env(url, campaign))
    assert result.exit_code == 3, result.output  # cy's date does not exist: that row alone is refused
    assert json.loads(result.stdout)["accepted"] == 2
    assert "4: " in result.stderr and "first_contact" in result.stderr
    leads = _leads(url)
    assert leads["ann@acme.example"] == {"job_title": "VP Marketing", "company_size": 500, "lead_source": "Webinar",
                                         "first_contact": "2026-01-31"}
    assert leads["bob@globex.example"] == {"first_contact": "2026-02-05"}  # placeholders are no value at all
    assert "cy@initech.example" not in leads


def test_a_header_without_an_email_column_is_reported_once_with_the_columns(tmp_path: Path, campaign: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    result = CliRunner().invoke(app, ["leads", "import", str(export)], env=_env(url, campaign))
    assert result.exit_code == 1
    printed = " ".join(result.stderr.split())  # one message, however the terminal wraps it
    assert printed == (f"{export}:1: the header has no `email` column (columns found: `E-mail Address`, `Job Title`, "
                       "`Company Size`, `Lead Source`, `First Contact`, `Internal Notes`); name the column that holds "
                       "it, e.g. --map \"E-mail Address=email\". Nothing was read from this file")
    engine = create_db_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(QUARANTINE)).scalar() == 1  # once, not per row
    engine.dispose()


def test_command_line_options_map_ignore_unknown_and_dry_run(tmp_path: Path, campaign: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    args = ["leads", "import", str(export), "--map", "E-mail Address=email", "--map", "Job Title=job_title",
            "--ignore-unknown", "--date-format", "%d-%m-%Y", "--json"]
    dry = CliRunner().invoke(app, [*args, "--dry-run"], env=_env(url, campaign))
    assert dry.exit_code == 0, dry.output  # the unmapped columns are dropped, so every row reads
    assert json.loads(dry.stdout)["accepted"] == 3
    assert not (tmp_path / "n.db").exists()  # a dry run does not open the store at all
    done = CliRunner().invoke(app, args, env=_env(url, campaign))
    assert done.exit_code == 0, done.output
    assert _leads(url)["bob@globex.example"] == {"job_title": "Select"}  # no placeholders given on this line
    bad = CliRunner().invoke(app, ["leads", "import", str(export), "--map", "no equals sign"], env=_env(url, campaign))
    assert isinstance(bad.exception, ConfigError) and "--map \"Lead Source=lead_source\"" in str(bad.exception)
