"""`nurture test`: scenarios pass and fail where they should, failures read well, parallel runs match serial ones."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsl import ast as a
from dsl.campaign import load_campaign
from engine.cli import app
from engine.core.rules import compile_rules
from engine.store import Store
from engine.store.db import create_sqlite_store, open_store
from engine.versions import describe_changes

ROOT = Path(__file__).resolve().parents[2]
SMALL = Path(__file__).parent / "daemon_campaign"

DRIP = """\
scenario "The drip runs to its end" {
  lead "ann@acme.example" { first_name = "Ann", timezone = "America/New_York" }
  at 0d: signed.up
  expect at 0d: sent "hello" in onboarding.hello
  expect at 1d: in journey onboarding
  expect at 2d: sent "nudge" in onboarding
  expect at 2d: not sent "tips"
  at 2d 11:00: page.viewed { url = "/docs/start" }
  expect at 2d 11:00: engagement between 10 and 10
  expect at 2d 11:00: finished journey onboarding
  expect at 2d 11:00: plan = "nurtured"
}

scenario "A pricing visit reaches the goal" {
  lead "bob@acme.example" { timezone = "Europe/Berlin" }
  at 0d: signed.up
  at 1d 15:00: page.viewed { url = "/pricing" }
  expect at 1d 15:00: goal reached in journey onboarding
  expect at 3d: not sent "tips"
}
"""

WRONG = """\
scenario "Wrong stage" {
  lead "cy@acme.example"
  at 1d 10:00: demo.requested
  expect at 1d 12:00: stage is lead
}

scenario "Wrong score" {
  lead "di@acme.example"
  at 0d: page.viewed { url = "/docs" }
  expect at 0d: engagement >= 20
}

scenario "Wrong branch" {
  lead "ed@acme.example"
  at 0d: signed.up
  expect at 2d: sent "tips"
}

scenario "Sent after all" {
  lead "fay@acme.example"
  at 0d: signed.up
  expect at 0d: not sent "hello"
}

scenario "Sales heard" {
  lead "gus@acme.example"
  at 1d: demo.requested
  expect at 1d: sales not notified with "sql_alert"
}

scenario "Still in the journey" {
  lead "hal@acme.example"
  at 0d: signed.up
  expect at 1d: exited journey onboarding
}

scenario "Quiet hours hold the hello" {
  lead "ivy@acme.example" { timezone = "America/New_York" }
  at 0d 22:00: signed.up
  expect at 0d 23:00: sent "hello"
}
"""

runner = CliRunner()


def nurture(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def small_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path = SMALL, **scenarios: str) -> Path:
    """A campaign (by default the daemon tests') as a project of its own (journeys/ beside templates/), with
    scenario files, as the working directory."""
    shutil.copytree(source / "journeys", tmp_path / "journeys")
    shutil.copytree(source / "templates", tmp_path / "templates")
    (tmp_path / "journeys" / "tests").mkdir()
    for name, text in scenarios.items():
        (tmp_path / "journeys" / "tests" / f"{name}.nurture").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for key in ("NURTURE_CAMPAIGN_DIR", "NURTURE_TEMPLATE_DIR"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def failure_blocks(output: str) -> dict[str, str]:
    """Each failure of the text output, by scenario name."""
    blocks = re.split(r"^_+ (.+?) _+$", output, flags=re.M)
    return {re.search(r'::"(.*)"', head).group(1): body.strip("\n")  # type: ignore[union-attr]
            for head, body in zip(blocks[1::2], blocks[2::2], strict=True)}


def without_summary(block: str) -> str:
    return re.sub(r"\n=+ .* in \d+\.\d\ds =+$", "", block)


# ----- the example campaign -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_run() -> tuple[int, str]:
    """`nurture test journeys` from the project root, as a user runs it."""
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(app, ["test", "journeys"], catch_exceptions=False)
    finally:
        os.chdir(here)
    return result.exit_code, result.stdout


def test_the_example_campaign_passes_its_scenarios(example_run) -> None:
    code, output = example_run
    assert code == 0, output
    lines = output.strip().splitlines()
    assert all(line.startswith('PASS journeys/tests/') and line.endswith('"') for line in lines[:-1]), output
    assert re.fullmatch(rf"=+ {len(lines) - 1} passed in \d+\.\d\ds =+", lines[-1])
    assert len(lines) - 1 >= 20


def test_the_example_scenarios_cover_every_journey_and_stage() -> None:
    campaign = load_campaign([ROOT / "journeys"], ROOT / "templates")
    scenarios = [i for f in campaign.files if "/tests/" in f.path for i in f.items if isinstance(i, a.Scenario)]
    named_journeys, stages = set(), set()
    for scenario in scenarios:
        for node in scenario.walk():
            if isinstance(node, a.ExpectJourney | a.ExpectEmail) and getattr(node, "journey", None):
                named_journeys.add(str(node.journey))
            if isinstance(node, a.ExpectStage):
                stages.add(str(node.stage))
    journeys = {str(i.name) for i in campaign.items() if isinstance(i, a.Journey)}
    assert journeys <= named_journeys
    assert {str(i.name) for i in campaign.items() if isinstance(i, a.Stage)} | {"lead"} <= stages


def test_removing_a_send_from_a_journey_fails_with_the_timeline(tmp_path, monkeypatch) -> None:
    shutil.copytree(ROOT / "journeys", tmp_path / "journeys")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    webinar = tmp_path / "journeys" / "webinar.nurture"
    text = webinar.read_text(encoding="utf-8")
    assert '      send "demo_invite" at 10:00 on tue, wed, thu topic product\n' in text
    webinar.write_text(text.replace('      send "demo_invite" at 10:00 on tue, wed, thu topic product\n', ""),
                       encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = nurture("test", "journeys/tests/webinar.nurture")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        'FAIL journeys/tests/webinar.nurture::"An attendee gets thanks the next morning and a demo invitation"',
        'PASS journeys/tests/webinar.nurture::"A no-show gets the recording"',
        'PASS journeys/tests/webinar.nurture::"A customer who registers hears from the product team, not from this '
        'journey"']
    [block] = failure_blocks(result.stdout).values()
    assert without_summary(block) == textwrap.dedent("""\
        journeys/tests/webinar.nurture:17: expect at 8d 10:00: sent "demo_invite"
        but at 8d Tue 10:00:
          no "demo_invite" email was queued
          emails sent: "webinar_prep" from webinar_followup.registered at 0d Mon 09:00, "webinar_thanks" from \
webinar_followup.send_webinar_thanks at 4d Fri 09:00
        timeline (the lead's time, America/New_York; day 0 is Mon 2026-01-05 09:00):
          0d Mon 09:00  event    webinar.registered {webinar = "dashboards-101"}
          0d Mon 09:00  score    engagement +5 from `+5 per webinar.registered max 10 per 30 days`
          0d Mon 09:00  journey  entered `webinar_followup`
          0d Mon 09:00  email    "webinar_prep" from webinar_followup.registered
          3d Thu 13:00  event    webinar.attended {webinar = "dashboards-101", minutes = 40}
          3d Thu 13:00  score    engagement +25 from `+25 per webinar.attended`
          3d Thu 13:00  score    engagement +4 from `+1 per 10 minutes of webinar.attended max 6 per 30 days`
          4d Fri 09:00  email    "webinar_thanks" from webinar_followup.send_webinar_thanks
          7d Mon 09:00  journey  `webinar_followup` finished""")
    assert re.search(r"^=+ 1 failed, 2 passed in \d+\.\d\ds =+$", result.stdout, re.M)


def test_removing_a_send_an_expectation_names_is_caught_before_running(tmp_path, monkeypatch) -> None:
    shutil.copytree(ROOT / "journeys", tmp_path / "journeys")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    welcome = tmp_path / "journeys" / "welcome.nurture"
    welcome.write_text(welcome.read_text(encoding="utf-8").replace(
        '    send "case_study" at 10:00 on weekdays\n', ""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = nurture("test", "journeys")
    assert result.exit_code == 1
    assert "journeys/tests/welcome.nurture:17:44: error[E412]: `welcome` never sends `case_study`" in result.stdout
    assert '17 |   expect at 2d 10:00: sent "case_study" in welcome' in result.stdout
    assert "the campaign has 1 error: no scenario was run (see `nurture check`)" in result.stdout
    assert "PASS" not in result.stdout


# ----- passing and failing, precisely -------------------------------------------------------------


def test_scenarios_that_hold_pass(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, drip=DRIP)
    result = nurture("test", "journeys")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[:2] == ['PASS journeys/tests/drip.nurture::"The drip runs to its end"',
                                              'PASS journeys/tests/drip.nurture::"A pricing visit reaches the goal"']


def test_each_kind_of_expectation_says_what_happened_instead(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, wrong=WRONG)
    result = nurture("test", "journeys", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"]) == (0, 7)
    instead = {s["name"]: (s["failure"]["line"], s["failure"]["at"], s["failure"]["instead"])
               for s in report["scenarios"]}
    assert instead == {
        "Wrong stage": (4, "1d Tue 12:00", ["the lead is in `sql`, since 1d Tue 10:00: when demo.requested within "
                                            "30 days"]),
        "Wrong score": (10, "0d Mon 09:00", ["`engagement` is 10"]),
        "Wrong branch": (16, "2d Wed 09:00", ['no "tips" email was queued',
                                              'emails sent: "hello" from onboarding.hello at 0d Mon 09:00, "nudge" '
                                              "from onboarding.send_nudge at 2d Wed 09:00"]),
        "Sent after all": (22, "0d Mon 09:00", ['"hello" was sent at 0d Mon 09:00, from onboarding.hello']),
        "Sales heard": (28, "1d Tue 09:00", ['"sql_alert" was sent to sales@test.example at 1d Tue 09:00, from '
                                             "stage sql"]),
        "Still in the journey": (34, "1d Tue 09:00", ["`onboarding` entered at 0d Mon 09:00, waiting until "
                                                      "2d Wed 09:00 at step `wait_2_days`"]),
        "Quiet hours hold the hello": (40, "0d Mon 23:00", [
            '"hello" from onboarding.hello is queued for 1d Tue 07:00, held back 1 time by quiet hours or a '
            "frequency cap", "no email was sent to the lead"]),
    }


def test_a_failure_prints_the_expectation_and_the_timeline(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, wrong=WRONG)
    result = nurture("test", "journeys/tests/wrong.nurture", "-j", "1")
    assert result.exit_code == 1
    blocks = failure_blocks(result.stdout)
    assert blocks["Wrong stage"] == textwrap.dedent("""\
        journeys/tests/wrong.nurture:4: expect at 1d 12:00: stage is lead
        but at 1d Tue 12:00:
          the lead is in `sql`, since 1d Tue 10:00: when demo.requested within 30 days
        timeline (the lead's time, America/New_York; day 0 is Mon 2026-01-05 09:00):
          1d Tue 10:00  event    demo.requested
          1d Tue 10:00  score    engagement +50 from `+50 per demo.requested`
          1d Tue 10:00  stage    lead -> sql  when demo.requested within 30 days
          1d Tue 10:00  sales    "sql_alert" from stage sql to sales@test.example""")
    assert without_summary(blocks["Quiet hours hold the hello"]).endswith(textwrap.dedent("""\
        timeline (the lead's time, America/New_York; day 0 is Mon 2026-01-05 09:00):
          0d Mon 22:00  event    signed.up
          0d Mon 22:00  journey  entered `onboarding`
          0d Mon 22:00  email    "hello" from onboarding.hello queued for 1d Tue 07:00"""))
    assert re.search(r"^=+ 7 failed in \d+\.\d\ds =+$", result.stdout, re.M)


def test_an_email_that_does_not_render_fails_at_its_step(tmp_path, monkeypatch) -> None:
    root = small_campaign(tmp_path, monkeypatch, drip=DRIP)
    (root / "templates" / "nudge.html").write_text(
        '{% extends "_layout.html" %}\n{% block subject %}{% if lead.plan %}For {{ lead.plan }}{% endif %}'
        "{% endblock %}\n{% block body %}<p>A nudge.</p>{% endblock %}\n", encoding="utf-8")
    result = nurture("test", "journeys")
    assert result.exit_code == 1
    block = failure_blocks(result.stdout)["The drip runs to its end"]
    assert block.splitlines()[:3] == [
        'journeys/campaign.nurture:43: the email "nudge" from onboarding.send_nudge renders',
        "but at 2d Wed 09:00:",
        "  template nudge.html renders an empty subject; every email needs a subject line"]


def test_parallel_and_serial_runs_give_the_same_results(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, drip=DRIP, wrong=WRONG)

    def results(jobs: str) -> list[dict]:
        result = nurture("test", "journeys", "--json", "-j", jobs)
        assert result.exit_code == 1
        return [{k: v for k, v in s.items() if k != "seconds"} for s in json.loads(result.stdout)["scenarios"]]

    serial = results("1")
    assert len(serial) == 9
    assert results("3") == serial


def test_a_scenario_edited_between_runs_of_one_process_plays_as_edited(tmp_path, monkeypatch) -> None:
    root = small_campaign(tmp_path, monkeypatch, drip=DRIP)
    assert nurture("test", "journeys", "-j", "1").exit_code == 0
    drip = root / "journeys" / "tests" / "drip.nurture"
    drip.write_text(DRIP.replace('expect at 2d: not sent "tips"', 'expect at 2d: sent "tips"'), encoding="utf-8")
    result = nurture("test", "journeys", "-j", "1")
    assert result.exit_code == 1
    assert failure_blocks(result.stdout)["The drip runs to its end"].splitlines()[0] == \
        'journeys/tests/drip.nurture:7: expect at 2d: sent "tips"'
    # and an edited rule, which each scenario's run applies as the campaign
    campaign = root / "journeys" / "campaign.nurture"
    drip.write_text(DRIP, encoding="utf-8")
    text = campaign.read_text(encoding="utf-8")
    assert text.count("+10 per page.viewed") == 1
    campaign.write_text(text.replace("+10 per page.viewed", "+15 per page.viewed"), encoding="utf-8")
    result = nurture("test", "journeys", "-j", "1")
    assert result.exit_code == 1
    assert "  `engagement` is 15" in failure_blocks(result.stdout)["The drip runs to its end"].splitlines()


def _schema(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall() + \
            conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_each_scenario_store_is_a_fresh_copy_of_the_migrated_schema(tmp_path) -> None:
    open_store(f"sqlite:///{tmp_path / 'migrated.db'}").dispose()
    create_sqlite_store(tmp_path / "first.db")
    create_sqlite_store(tmp_path / "second.db")
    assert _schema(tmp_path / "first.db") == _schema(tmp_path / "migrated.db")
    with sqlite3.connect(tmp_path / "first.db") as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('played', 'yes')")
    with sqlite3.connect(tmp_path / "second.db") as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'played'").fetchone() == (0,)
    engine = open_store(f"sqlite:///{tmp_path / 'second.db'}")  # at the latest schema already: opens as it is
    engine.dispose()
    assert _schema(tmp_path / "second.db") == _schema(tmp_path / "migrated.db")


# ----- the command ----------------------------------------------------------------------------------


def test_usage_errors_exit_2(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch)
    missing = nurture("test", "journeys/nowhere")
    assert missing.exit_code == 2
    assert "no such file or directory: journeys/nowhere" in missing.stderr
    empty = nurture("test", "journeys")
    assert empty.exit_code == 2
    assert "no scenarios in journeys" in empty.stderr


def test_a_campaign_with_errors_runs_nothing(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, drip=DRIP.replace("1d: in journey onboarding", "1d: in journey onbording"))
    result = nurture("test", "journeys", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["scenarios"] == [] and [e["code"] for e in report["errors"]] == ["E108"]


def test_json_output_for_ci(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, drip=DRIP)
    result = nurture("test", "journeys/tests/drip.nurture", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"]) == (2, 0)
    first = report["scenarios"][0]
    assert {k: first[k] for k in ("id", "path", "line", "name", "status", "failure")} == {
        "id": 'journeys/tests/drip.nurture::"The drip runs to its end"', "path": "journeys/tests/drip.nurture",
        "line": 1, "name": "The drip runs to its end", "status": "passed", "failure": None}


# ----- scenarios are not rules ---------------------------------------------------------------------


def test_scenarios_change_neither_the_rules_nor_the_described_changes(tmp_path) -> None:
    shutil.copytree(ROOT / "journeys", tmp_path / "journeys")
    before = load_campaign([tmp_path / "journeys"], ROOT / "templates")
    shutil.rmtree(tmp_path / "journeys" / "tests")
    after = load_campaign([tmp_path / "journeys"], ROOT / "templates")
    assert not before.has_errors and not after.has_errors
    assert compile_rules(before).rules_hash == compile_rules(after).rules_hash
    assert describe_changes(after, before) == []


def test_plan_sums_up_the_scenarios(tmp_path, monkeypatch) -> None:
    small_campaign(tmp_path, monkeypatch, drip=DRIP, wrong=WRONG.split("\n\n")[0] + "\n")
    monkeypatch.setenv("NURTURE_DATABASE_URL", f"sqlite:///{tmp_path / 'nurture.db'}")
    result = nurture("plan")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-3:] == [
        "scenarios: 2 passed, 1 failed", '  FAIL journeys/tests/wrong.nurture::"Wrong stage"',
        "  run `nurture test` to see what happened instead"]
    report = json.loads(nurture("plan", "--json").stdout)
    assert report["scenarios"] == {"passed": 2, "failed": 1,
                                   "failures": ['journeys/tests/wrong.nurture::"Wrong stage"']}
    assert "scenarios" not in json.loads(nurture("plan", "--json", "--no-scenarios").stdout)


def test_apply_with_scenarios_applies_only_when_they_pass_and_keeps_their_results(tmp_path, monkeypatch) -> None:
    project = small_campaign(tmp_path, monkeypatch, drip=DRIP, wrong=WRONG.split("\n\n")[0] + "\n")
    url = f"sqlite:///{tmp_path / 'nurture.db'}"
    monkeypatch.setenv("NURTURE_DATABASE_URL", url)

    refused = nurture("apply", "--scenarios")
    assert refused.exit_code == 1
    assert "scenarios: 2 passed, 1 failed" in refused.stdout
    assert "not applied: a scenario failed" in refused.stderr
    assert not (tmp_path / "nurture.db").exists()  # nothing applied: the scenarios ran before the store was made

    (project / "journeys" / "tests" / "wrong.nurture").unlink()
    applied = json.loads(nurture("apply", "--scenarios", "--json").stdout)
    assert applied["scenarios"]["passed"] == 2 and applied["scenarios"]["failed"] == 0
    with Store.open(url).transaction() as tx:
        version = tx.reports.applied_version()
        assert version is not None
        kept = tx.meta.scenario_results(version)
    assert version == applied["version"]
    assert kept is not None and kept["names"] == applied["scenarios"]["names"]
    assert sorted(kept["names"]) == ['journeys/tests/drip.nurture::"A pricing visit reaches the goal"',
                                     'journeys/tests/drip.nurture::"The drip runs to its end"']


LATE = """\
scenario "A goal after the journey finished counts, and its held email never goes" {
  lead "kim@acme.example" { timezone = "America/New_York" }
  at 0d 22:00: page.viewed { url = "/blog" }
  expect at 0d 22:00: finished journey late
  expect at 0d 22:00: not sent "tips"
  at 0d 23:00: page.viewed { url = "/pricing" }
  expect at 0d 23:00: goal reached in journey late
  expect at 0d 23:00: finished journey late
  expect at 1d 12:00: not sent "tips"
}
"""


def test_a_goal_after_the_last_step_is_reached_and_the_journey_still_finished(tmp_path, monkeypatch) -> None:
    root = small_campaign(tmp_path, monkeypatch, late=LATE)
    (root / "journeys" / "late.nurture").write_text(
        'journey late {\n  enter when page.viewed\n  goal page.viewed where url contains "/pricing"\n'
        '  send "tips"\n}\n', encoding="utf-8")
    result = nurture("test", "journeys")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[0] == ('PASS journeys/tests/late.nurture::"A goal after the journey finished '
                                             'counts, and its held email never goes"')
