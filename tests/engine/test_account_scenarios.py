"""Scenarios with several leads of one company: events by each, expectations on the account, and failures
that say what the account's values were."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app

from .test_scenarios import failure_blocks, small_campaign, without_summary

CAMPAIGN = Path(__file__).parent / "accounts_campaign"

SCENARIOS = """\
scenario "Three colleagues add up and sales hears once" {
  lead "ana@acme.example" { company_domain = "acme.example" }
  lead "bo@acme.example"
  lead "cy@acme.example"
  at 0d 10:00: page.viewed { url = "/a" }
  at 0d 10:01: page.viewed { url = "/b" }
  at 0d 11:00: page.viewed by "bo@acme.example" { url = "/a" }
  at 0d 11:01: page.viewed by "bo@acme.example" { url = "/b" }
  expect at 0d 11:01: account.engaged = 2
  expect at 0d 11:01: sales not notified with "buying_committee"
  expect at 0d 11:01: stage is lead
  at 0d 12:00: page.viewed by "cy@acme.example" { url = "/a" }
  at 0d 12:01: page.viewed by "cy@acme.example" { url = "/b" }
  expect at 0d 12:01: account.engagement = 60
  expect at 0d 12:01: sales notified with "buying_committee"
  expect at 0d 12:01: stage is account_hot
}

scenario "Too few" {
  lead "dee@beta.example" { company_domain = "beta.example" }
  lead "eli@beta.example"
  at 0d 10:00: page.viewed by "eli@beta.example" { url = "/a" }
  expect at 0d 10:00: account.engagement >= 50
}

scenario "Free mail" {
  lead "fay@gmail.com"
  at 0d 10:00: page.viewed { url = "/a" }
  expect at 0d 10:00: account.engagement >= 0
}
"""


def test_scenarios_with_several_leads_judge_the_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_campaign(tmp_path, monkeypatch, CAMPAIGN, accounts=SCENARIOS)
    result = CliRunner().invoke(app, ["test", "journeys", "-j", "1"])
    assert result.exit_code == 1, result.output
    assert 'PASS journeys/tests/accounts.nurture::"Three colleagues add up and sales hears once"' in result.output
    failures = failure_blocks(result.output)
    assert set(failures) == {"Too few", "Free mail"}
    too_few = without_summary(failures["Too few"]).splitlines()
    assert too_few[:3] == ["journeys/tests/accounts.nurture:23: expect at 0d 10:00: account.engagement >= 50",
                           "but at 0d Mon 10:00:", "  `account.engagement` of beta.example is 10"]
    assert '  0d Mon 10:00  event    page.viewed by "eli@beta.example" {url = "/a"}' in too_few
    free = without_summary(failures["Free mail"]).splitlines()
    assert free[2] == "  the lead `fay@gmail.com` belongs to no account (free mail, or no domain to go by)"
