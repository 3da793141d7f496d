"""The reports against counts computed from the events loaded, on SQLite and PostgreSQL; and their commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.cli.app import reading
from engine.lab.capture import CaptureServer
from engine.reports.emails import email_report
from engine.reports.funnel import ReportError, funnel_report
from engine.reports.journeys import journey_report

from ..http.live import snapshot
from .world import CAMPAIGN, LADDER, World


@pytest.fixture(scope="module")
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture
def played(db_url: str, capture: CaptureServer) -> World:
    return World(db_url, capture)


def test_the_funnel_matches_the_events_loaded(played: World) -> None:
    expected = played.expected
    with reading(played.url) as view:
        rules = view.rules()
        report = funnel_report(view.tx, rules, by="lead_source")
        weekly = funnel_report(view.tx, rules, cohort="week")
        monthly = funnel_report(view.tx, rules, by="lead_source", cohort="month")
        with pytest.raises(ReportError, match="declares no attribute"):
            funnel_report(view.tx, rules, by="no_such")
    assert report["ladder"] == LADDER
    overall = report["overall"]
    assert overall["leads"] == len(expected.leads)
    for stage in overall["stages"]:
        assert (stage["entered"], stage["skipped"]) == (expected.entered(stage["stage"]),
                                                       expected.skipped(stage["stage"])), stage
    for conv in overall["conversion"]:
        assert conv["converted"] == expected.converted(conv["from"], conv["to"])
        assert conv["rate"] == round(expected.converted(conv["from"], conv["to"]) / expected.entered(conv["from"]), 4)
    # the declared default "organic" stands in for leads without a value
    assert {g["label"] for g in report["groups"]} == {"organic", "partner", "webinar"}
    for group in report["groups"]:
        source = group["label"]
        assert group["leads"] == len(expected._of(source))
        for stage in group["stages"]:
            assert stage["entered"] == expected.entered(stage["stage"], source)
            assert stage["skipped"] == expected.skipped(stage["stage"], source)
    for d in report["durations"]:
        if expected.gaps_days(d["from"], d["to"]):
            assert d["leads"] == len(expected.gaps_days(d["from"], d["to"]))
            assert d["median_days"] == pytest.approx(expected.median_days(d["from"], d["to"]), abs=0.011)
            assert d["mean_days"] == pytest.approx(expected.mean_days(d["from"], d["to"]), abs=0.011)
    # cohorts: weeks named by their Monday, months by year and month
    assert [(g["label"], g["leads"]) for g in weekly["groups"]] == [("2026-03-02", 30), ("2026-03-09", 10)]
    assert {g["key"]["cohort"] for g in monthly["groups"]} == {"2026-03"}
    assert sum(g["leads"] for g in monthly["groups"]) == len(expected.leads)


def test_email_figures_and_journey_steps_match_what_was_sent_and_opened(played: World) -> None:
    expected = played.expected
    with reading(played.url) as view:
        emails = email_report(view.tx, "welcome")
        journey = journey_report(view.tx, view.rules(), "welcome")
    sends = {(s["journey"], s["step"], s["template"]): s for s in emails["sends"]}
    assert {k: s["sent"] for k, s in sends.items()} == dict(expected.sent)
    assert {k: s["opened"] for k, s in sends.items()} == {k: expected.opened[k] for k in expected.sent}
    intro = sends[("welcome", "intro", "welcome")]
    assert intro["open_rate"] == round(expected.opened[("welcome", "intro", "welcome")] / intro["delivered"], 4)
    steps = {row["label"]: row for row in journey["rows"] if row["label"]}
    assert list(steps) == ["intro", "wait_2_days", "followup", "wait_5_days"]
    assert steps["intro"]["counts"]["entered"] == journey["enrolled"] == expected.entered("mql")
    assert steps["intro"]["email"]["sent"] == expected.sent[("welcome", "intro", "welcome")]
    converted = sum(1 for lead in expected.leads
                    if "webinar.attended" in lead.events and "demo.requested" in lead.events)
    assert journey["goal"] == converted > 0
    # every converted lead reached the goal after the first step; the waits hold who has not finished yet
    assert steps["intro"]["counts"]["goal"] == converted
    open_now = sum(row["counts"]["waiting"] for row in steps.values())
    assert open_now == journey["open"]


def _env(url: str) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": url, "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates"), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, capture: CaptureServer) -> World:
    return World(f"sqlite:///{tmp_path_factory.mktemp('reports') / 'n.db'}", capture)


def test_report_commands_print_json_and_html_and_write_nothing(stored: World, tmp_path: Path) -> None:
    before = snapshot(stored.url)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "funnel", "--by", "lead_source", "--cohort", "week", "--json",
                                 "--html", str(tmp_path / "f.html")], env=_env(stored.url))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["overall"]["stages"][1]["entered"] == stored.expected.entered("mql")
    assert {tuple(g["key"].values()) for g in data["groups"]} >= {("organic", "2026-03-02")}
    html = (tmp_path / "f.html").read_text()
    assert html.startswith("<!doctype html>") and "organic / 2026-03-02" in html and "<script" not in html
    text = runner.invoke(app, ["report", "funnel", "--by", "lead_source"], env=_env(stored.url))
    assert text.exit_code == 0 and "skipped" in text.output and "By lead_source" in text.output
    emails = runner.invoke(app, ["report", "emails", "--journey", "welcome", "--json"], env=_env(stored.url))
    sends = json.loads(emails.output)["sends"]
    assert {(s["step"], s["sent"]) for s in sends} == {(k[1], n) for k, n in stored.expected.sent.items()}
    wrong = runner.invoke(app, ["report", "emails", "--journey", "nope"], env=_env(stored.url))
    assert wrong.exit_code != 0 and "no such journey" in str(wrong.exception)
    bad = runner.invoke(app, ["report", "funnel", "--cohort", "year"], env=_env(stored.url))
    assert "choose month or week" in str(bad.exception)
    assert snapshot(stored.url) == before


def test_outbox_and_users_commands(stored: World) -> None:
    runner = CliRunner()
    env = _env(stored.url)
    sent = stored.sent()[0]
    shown = runner.invoke(app, ["outbox", "show", str(sent.id), "--json"], env=env)
    assert json.loads(shown.output)["state"] == "sent"
    refused = runner.invoke(app, ["outbox", "retry", str(sent.id)], env=env)
    assert refused.exit_code == 1 and "only a failed or cancelled message" in " ".join(refused.output.split())
    missing = runner.invoke(app, ["outbox", "cancel", "999999"], env=env)
    assert missing.exit_code == 1 and "no message 999999" in missing.output
    short = runner.invoke(app, ["users", "add", "kim@console.example", "--role", "admin", "--password", "short"],
                          env=env)
    assert "use at least 10" in str(short.exception)
    role = runner.invoke(app, ["users", "add", "kim@console.example", "--role", "boss", "--password", "x" * 12],
                         env=env)
    assert "not one of viewer, sales, admin" in str(role.exception)
    added = runner.invoke(app, ["users", "add", "Kim@Console.example", "--role", "sales", "--json"], env=env,
                          input="a good long password\na good long password\n")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output[added.output.index("{"):]) == {"email": "kim@console.example", "role": "sales",
                                                                  "added": True}
    listed = json.loads(runner.invoke(app, ["users", "list", "--json"], env=env).output)
    assert [u["role"] for u in listed if u["email"] == "kim@console.example"] == ["sales"]
    assert runner.invoke(app, ["users", "remove", "kim@console.example"], env=env).exit_code == 0
    assert runner.invoke(app, ["users", "remove", "kim@console.example"], env=env).exit_code == 1
