"""Leads over HTTP, and sales feedback (HTTP and CLI) moving a lead as the example campaign says."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from engine.cli import app
from engine.config import Config
from engine.daemon.build import daemon_for, router_for
from engine.delivery.memory import MemoryTransport
from engine.service import Nurture
from engine.store.tables import EVENTS, LEADS, QUARANTINE, VERSIONS

from .live import EXAMPLE, ROOT, Live, event

AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
VP = {"email": "vp@bigco.example", "job_title": "VP Engineering", "company_size": 1000, "country": "US"}


def test_leads_are_created_then_merged(live: Live) -> None:
    first = live.client.post("/v1/leads", json=[{"email": "Ann@Acme.example", "job_title": "Director of Ops"},
                                                 {"email": "bob@acme.example", "company_size": "250"}])
    assert first.status_code == 200
    assert first.json() == {"accepted": 2, "created": 2, "updated": 0, "rejected": []}
    second = live.client.post("/v1/leads", json={"email": "ann@acme.example", "company_size": 300,
                                                 "owner": "rep@test.example"})
    assert second.json() == {"accepted": 1, "created": 0, "updated": 1, "rejected": []}
    lead = live.client.get("/v1/leads/ann@acme.example").json()
    assert lead["attributes"]["job_title"] == "Director of Ops" and lead["attributes"]["company_size"] == 300
    assert lead["owner"] == "rep@test.example"
    assert lead["scores"]["fit"] == 25


def test_bad_leads_name_their_index_and_field(live: Live) -> None:
    response = live.client.post("/v1/leads", json=[
        {"email": "ann@acme.example"}, {"email": "nope"}, {"email": "bob@acme.example", "job_titel": "VP"},
        {"email": "cid@acme.example", "company_size": "many"}, {"email": "dee@acme.example", "owner": "x"}, [1]])
    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "email"), (2, "job_titel"), (3, "company_size"), (4, "owner"), (5, None)]
    assert "did you mean 'job_title'" in body["rejected"][1]["error"]
    assert live.count(QUARANTINE) == 5


def test_a_lead_reads_with_the_explanation_of_its_scores(live: Live) -> None:
    live.client.post("/v1/leads", json={"email": "ann@acme.example", "job_title": "Head of Data", "company_size": 500})
    live.client.post("/v1/events", json=[event("ann@acme.example", "page.viewed", AT, url="/pricing"),
                                         event("ann@acme.example", "content.downloaded", AT, asset="guide")])
    lead = live.client.get("/v1/leads/ANN@acme.example").json()
    assert lead["email"] == "ann@acme.example" and lead["stage"] == "lead"
    explained = {s["score"]: s for s in lead["explanation"]}
    assert set(explained) == {"fit", "engagement"}
    for name, score in explained.items():
        assert score["total"] == lead["scores"][name]
        assert round(sum(line["now"] for line in score["lines"])) == score["total"]
    assert any("/pricing" in line["rule"] for line in explained["engagement"]["lines"])


@pytest.mark.parametrize("email", ["nobody@acme.example", "not-an-email"])
def test_an_unknown_lead_is_a_json_404(live: Live, email: str) -> None:
    response = live.client.get(f"/v1/leads/{email}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert email in response.json()["error"]


def test_reading_a_lead_needs_the_token(live: Live) -> None:
    assert live.anonymous.get("/v1/leads/ann@acme.example").status_code == 401
    assert live.anonymous.post("/v1/leads", json={"email": "a@b.example"}).status_code == 401


# ----- sales feedback --------------------------------------------------------------------------


@pytest.fixture
def example(serve: Callable[..., Live], sqlite_url: str) -> Live:
    """The example campaign: `back to mql when sales.rejected within 30 days`."""
    live = serve(sqlite_url, campaign=EXAMPLE)
    assert live.client.post("/v1/leads", json=VP).status_code == 200
    live.client.post("/v1/events", json=event(VP["email"], "demo.requested", live.clock.now()))
    assert live.client.get(f"/v1/leads/{VP['email']}").json()["stage"] == "sql"
    return live


def test_a_rejected_lead_goes_back_to_mql_as_the_campaign_says(example: Live) -> None:
    response = example.client.post(f"/v1/leads/{VP['email']}/feedback",
                                   json={"verdict": "reject", "reason": "no budget this quarter"})
    assert response.status_code == 200, response.text
    assert response.json() == {"lead": VP["email"], "event": "sales.rejected", "duplicate": False,
                               "previous_stage": "sql", "stage": "mql"}
    stored = example.rows(sa.select(EVENTS.c.props, EVENTS.c.at).where(EVENTS.c.type == "sales.rejected"))
    assert stored == [({"reason": "no budget this quarter"}, example.clock.now())]
    history = example.client.get(f"/v1/leads/{VP['email']}").json()["stage_history"]
    assert (history[-1]["from"], history[-1]["to"]) == ("sql", "mql")
    assert "sales.rejected" in history[-1]["reason"]


def test_an_accepted_lead_stays_with_sales(example: Live) -> None:
    response = example.client.post(f"/v1/leads/{VP['email']}/feedback", json={"verdict": "accept"})
    assert response.json()["stage"] == "sql" and response.json()["event"] == "sales.accepted"
    assert example.count(EVENTS, EVENTS.c.type == "sales.accepted") == 1


def test_feedback_with_an_id_is_recorded_once(example: Live) -> None:
    body = {"verdict": "reject", "reason": "wrong timing", "id": "crm-123"}
    first = example.client.post(f"/v1/leads/{VP['email']}/feedback", json=body).json()
    example.clock.advance(dt.timedelta(minutes=1))
    again = example.client.post(f"/v1/leads/{VP['email']}/feedback", json=body).json()
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert example.count(EVENTS, EVENTS.c.type == "sales.rejected") == 1


@pytest.mark.parametrize("body, status, message", [
    ({"verdict": "reject"}, 422, "needs a reason"),
    ({"verdict": "reject", "reason": "   "}, 422, "needs a reason"),
    ({"verdict": "maybe"}, 422, "verdict"),
    ({}, 422, "verdict"),
])
def test_bad_feedback_is_refused(example: Live, body: dict, status: int, message: str) -> None:
    response = example.client.post(f"/v1/leads/{VP['email']}/feedback", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert example.count(EVENTS, EVENTS.c.type.like("sales.%")) == 0


def test_feedback_on_an_unknown_lead_is_404_and_creates_nothing(example: Live) -> None:
    response = example.client.post("/v1/leads/ghost@acme.example/feedback", json={"verdict": "accept"})
    assert response.status_code == 404
    assert example.count(LEADS, LEADS.c.email == "ghost@acme.example") == 0


# ----- the same from the command line ----------------------------------------------------------


@pytest.fixture
def cli_env(sqlite_url: str) -> dict[str, str]:
    """A store with one SQL, on the real clock, and the environment the CLI reads it from."""
    nurture = Nurture(Config(database_url=sqlite_url, campaign_dir=EXAMPLE / "journeys",
                             template_dir=EXAMPLE / "templates"))
    processor = nurture.processor()
    from engine.ingest.rows import Row

    processor.import_leads([Row(1, "", VP)], "test")
    now = nurture.clock.now()
    processor.ingest_events([Row(1, "", event(VP["email"], "demo.requested", now))], "test")
    with nurture.store.engine.connect() as conn:
        assert conn.execute(sa.select(LEADS.c.stage)).scalar() == "sql"
    return {"NURTURE_DATABASE_URL": sqlite_url, "NURTURE_CAMPAIGN_DIR": str(EXAMPLE / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(EXAMPLE / "templates")}


def test_cli_reject_moves_the_lead_back(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["leads", "reject", VP["email"], "--reason", "no budget"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "recorded sales.rejected" in result.output and "moved from sql to mql" in result.output
    accepted = CliRunner().invoke(app, ["leads", "accept", VP["email"], "--json"], env=cli_env)
    assert accepted.exit_code == 0, accepted.output
    assert '"event": "sales.accepted"' in accepted.output


def test_cli_reject_needs_a_reason_and_a_known_lead(cli_env: dict[str, str]) -> None:
    missing = CliRunner().invoke(app, ["leads", "reject", VP["email"]], env=cli_env)
    assert missing.exit_code != 0
    env = {**os.environ, **cli_env}
    unknown = subprocess.run([sys.executable, "-m", "engine", "leads", "reject", "ghost@acme.example", "--reason",
                              "x"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1
    assert "no lead with email 'ghost@acme.example'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


# ----- where a lead is in its journeys ---------------------------------------------------------


def _tick(live: Live) -> None:
    """One daemon tick over the served store; email goes to memory."""
    router = router_for(live.config, MemoryTransport())
    asyncio.run(daemon_for(live.nurture, router, worker="test", seed=1).tick())


def test_a_lead_shows_each_journey_enrolment_over_http_and_the_cli(live: Live, sqlite_url: str) -> None:
    live.client.post("/v1/events", json=event("ann@acme.example", "newsletter.subscribed", live.clock.now()))
    _tick(live)  # enters http_test and sends hello; now in the wait
    running = live.client.get("/v1/leads/ann@acme.example").json()["journeys"]
    assert len(running) == 1
    first = running[0]
    assert (first["journey"], first["entry"], first["ended_at"], first["end_reason"]) == ("http_test", 1, None, None)
    assert first["version_id"] == live.rows(sa.select(VERSIONS.c.id))[0][0]
    assert first["status"] in ("active", "waiting") and first["step"] and first["due_at"]
    assert dt.datetime.fromisoformat(first["due_at"]) > live.clock.now()
    env = {"NURTURE_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
    text = CliRunner().invoke(app, ["leads", "show", "ann@acme.example"], env=env)
    assert text.exit_code == 0, text.output
    assert "journeys:" in text.output
    assert f"http_test  version {first['version_id']}  step {first['step']}  {first['status']}  " \
           f"due {first['due_at']}" in text.output

    for _ in range(3):  # past the wait: the second email, then the end of the journey
        live.clock.advance(dt.timedelta(days=1, hours=1))
        _tick(live)
    ended = live.client.get("/v1/leads/ann@acme.example").json()["journeys"]
    assert len(ended) == 1
    assert (ended[0]["status"], ended[0]["step"], ended[0]["due_at"]) == ("done", None, None)
    assert ended[0]["ended_at"] and ended[0]["end_reason"]
    shown = CliRunner().invoke(app, ["leads", "show", "ann@acme.example", "--json"], env=env)
    assert json.loads(shown.output)["journeys"] == ended
    text = CliRunner().invoke(app, ["leads", "show", "ann@acme.example"], env=env)
    assert f"http_test  version {first['version_id']}  done at {ended[0]['ended_at']}: " in text.output


def test_the_openapi_document_describes_a_leads_journeys(live: Live) -> None:
    spec = live.anonymous.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "journeys" in schemas["LeadView"]["required"]
    assert set(schemas["JourneyEnrollment"]["properties"]) == {
        "journey", "entry", "version_id", "step", "status", "due_at", "entered_at", "ended_at", "end_reason"}
