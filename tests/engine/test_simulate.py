"""`nurture simulate`: deterministic for a seed, catches over-mailing and stuck waits, writes an HTML report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigError
from engine.lab.shards import plan
from engine.lab.simulate import Mix, load_mix, mix_from, run_simulation
from engine.lab.synthetic import COMPANIES

ROOT = Path(__file__).resolve().parents[2]

# A journey that mails three times at once, then waits for an event with no timeout
BLAST = """
journey blast "Too much at once" {
  enter when page.viewed
  reentry never

  send "welcome"
  send "case_study"
  send "getting_started"
  wait for demo.requested
  send "demo_invite"
}
"""

#: mostly hot leads, so a few of them do something within days
HOT = {"temperaments": {"hot": {"share": 0.7}, "cold": {"share": 0.3}}}


def _invoke(*args: str, campaign: Path = ROOT) -> str:
    env = {"NURTURE_CAMPAIGN_DIR": str(campaign / "journeys"), "NURTURE_TEMPLATE_DIR": str(campaign / "templates"),
           "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_same_seed_gives_identical_json_and_another_seed_differs():
    first = _invoke("simulate", "--leads", "40", "--days", "4", "--seed", "3", "--json")
    second = _invoke("simulate", "--leads", "40", "--days", "4", "--seed", "3", "--json")
    assert first == second
    data = json.loads(first)
    assert data["lead_days"] == 160 and data["days"] == 4 and len(data["funnel_by_day"]) == 4
    assert data["events"] > 0
    other = _invoke("simulate", "--leads", "40", "--days", "4", "--seed", "4", "--json")
    assert json.loads(other)["events"] != data["events"] or other != first


@pytest.fixture
def blasting_campaign(tmp_path: Path) -> Path:
    """The example campaign without its frequency caps, plus a journey that mails three times at once."""
    shutil.copytree(ROOT / "journeys", tmp_path / "journeys", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    settings = tmp_path / "journeys" / "campaign.nurture"
    text = settings.read_text()
    uncapped = text.replace("  max 1 email per day\n", "").replace("  max 3 emails per week\n", "")
    assert uncapped != text
    settings.write_text(uncapped)
    (tmp_path / "journeys" / "blast.nurture").write_text(BLAST)
    return tmp_path


def test_over_mailing_and_a_stuck_wait_are_found(blasting_campaign: Path):
    result = run_simulation(campaign_dir=blasting_campaign / "journeys", template_dir=blasting_campaign / "templates",
                            leads=60, days=5, seed=2, mix=mix_from(HOT), stuck_days=2)
    mailing = result.as_dict()["mailing"]
    assert mailing["daily_cap"] is None and mailing["allowed_per_day"] == 1
    assert mailing["peak_per_lead_day"] >= 3
    assert mailing["lead_days_over"] > 0
    worst = mailing["worst"][0]
    assert "@" in worst["lead"] and worst["day"].startswith("2026-03-")
    assert {"welcome", "case_study", "getting_started"} <= set(worst["templates"])
    group = {(g["journey"], g["step"]): g for g in result.stuck}[("blast", "wait_for_demo_requested")]
    assert group["kind"] == "waiting for an event, no timeout"
    assert group["enrollments"] > 0 and group["longest_days"] > 2 and "@" in group["examples"][0]


def test_the_example_campaign_keeps_to_its_cap_and_prints_its_report(tmp_path: Path):
    report = tmp_path / "report.html"
    out = _invoke("simulate", "--leads", "60", "--days", "8", "--html", str(report))
    for heading in ("Funnel over time", "Emails sent per journey step per day", "No over-mailing", "lead-days in"):
        assert heading in out
    # the example campaign's own invariants (journeys/tests/invariants.nurture) are judged, and hold
    assert "Holds: invariant at most 3 emails per 7 days" in out
    assert "Holds: invariant no email when stage is customer" in out
    assert "ticks every 4 h" in out
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 2
    assert "<script" not in page and "src=\"http" not in page and "href=\"http" not in page


def test_a_broken_invariant_fails_the_simulation_naming_leads_and_days(blasting_campaign: Path):
    (blasting_campaign / "journeys" / "rules.nurture").write_text(
        "invariant at most 2 emails per 7 days\ninvariant no email when fit >= 0\n"
        "invariant no email when stage is customer\n")
    env = {"NURTURE_CAMPAIGN_DIR": str(blasting_campaign / "journeys"),
           "NURTURE_TEMPLATE_DIR": str(blasting_campaign / "templates"), "COLUMNS": "200"}
    args = ["simulate", "--leads", "30", "--days", "3", "--seed", "2"]
    shown = CliRunner().invoke(app, args, env=env)
    assert shown.exit_code == 1, shown.output
    assert "2 invariant(s) broken" in shown.stderr
    assert "Broken: invariant at most 2 emails per 7 days" in shown.stdout
    assert "Holds: invariant no email when stage is customer" in shown.stdout

    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 1
    verdicts = {v["invariant"]: v for v in json.loads(result.stdout)["invariants"]}
    cap = verdicts["invariant at most 2 emails per 7 days"]
    assert not cap["holds"] and cap["where"].endswith("rules.nurture:1")
    example = cap["examples"][0]
    # the blast journey sends three at once: the lead named got them on one simulated day
    assert example["from"]["day"] == example["to"]["day"] and 1 <= example["from"]["day"] <= 3
    assert example["lead"] in shown.stdout and example["what"].startswith("3 emails: ")
    fit = verdicts["invariant no email when fit >= 0"]
    assert not fit["holds"] and fit["leads_breaking"] >= cap["leads_breaking"]
    assert "went out when fit >= 0 (fit = " in fit["examples"][0]["what"]
    assert verdicts["invariant no email when stage is customer"] == {
        "invariant": "invariant no email when stage is customer", "where": fit["where"][:-1] + "3",
        "holds": True, "leads_breaking": 0, "examples": []}


def test_mix_files(tmp_path: Path):
    toml = tmp_path / "mix.toml"
    toml.write_text("new_leads_per_week = 0.5\n[temperaments.hot]\nshare = 1\nclick_rate = 0.5\n")
    mix = load_mix(toml)
    assert set(mix.temperaments) == {"hot"} and mix.temperaments["hot"][4] == 0.5
    assert mix.temperaments["hot"][1] == Mix().temperaments["hot"][1]  # unspecified rates keep the default
    assert mix.new_leads_per_week == 0.5
    as_json = tmp_path / "mix.json"
    as_json.write_text(json.dumps(Mix().as_dict()))
    assert load_mix(as_json) == Mix()
    for bad, message in (({"temperament": {}}, "unknown key"), ({"temperaments": {"hot": {"speed": 1}}}, "takes"),
                         ({"temperaments": {"hot": {"share": -1}}}, ">= 0"),
                         ({"temperaments": {"hot": {"click_rate": 0.9, "open_rate": 0.5}}}, "click_rate"),
                         ({"sales_win_rate": 2}, "between 0 and 1")):
        with pytest.raises(ConfigError, match=message):
            mix_from(bad)


def test_cohorts_arrive_each_week():
    result = run_simulation(campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates", leads=20, days=8,
                            seed=1, mix=mix_from({"new_leads_per_week": 0.5}))
    sizes = [sum(day.values()) for day in result.funnel_by_day]
    assert sizes[0] == 20 and sizes[-1] == 30


def test_shards_are_planned_from_the_number_of_leads_alone():
    assert plan(5000) == [5000]
    assert plan(10_000) == [5000, 5000]
    assert plan(5001) == [2501, 2500]
    many = plan(1_000_000)
    assert len(many) == len(COMPANIES) and sum(many) == 1_000_000 and max(many) - min(many) <= 1


def test_a_simulation_in_shards_reports_the_same_from_one_process_or_two(blasting_campaign: Path):
    """Two shards of 20 leads: the report does not depend on how many processes ran them, adds the shards up,
    and each shard keeps to its own companies (lead N of shard k has N % 2 == k)."""
    common: dict = {"campaign_dir": blasting_campaign / "journeys", "template_dir": blasting_campaign / "templates",
                    "leads": 40, "days": 4, "seed": 3, "mix": mix_from(HOT), "stuck_days": 1, "shard_leads": 20}
    one = run_simulation(**common, jobs=1).as_dict()
    two = run_simulation(**common, jobs=2).as_dict()
    assert one == two
    assert "2 shards" in one["notes"][-1]
    assert one["entered"]["lead"] == 40
    assert all(sum(n for key, n in day.items() if key not in ("day", "date")) == 40 for day in one["funnel_by_day"])
    assert one["mailing"]["lead_days_over"] > 0 and one["stuck"]
    domains = {company.lower().replace(" ", "") + ".example": index for index, (company, *_) in enumerate(COMPANIES)}
    seen = [w["lead"] for w in one["mailing"]["worst"]] + [e for g in one["stuck"] for e in g["examples"]]
    for address in seen:
        local, _, domain = address.partition("@")
        number = int(local.rsplit(".", 1)[1])
        assert domain == "gmail.com" or domains[domain] % 2 == number % 2, address
    assert {int(a.partition("@")[0].rsplit(".", 1)[1]) % 2 for a in seen} == {0, 1}  # both shards are reported
