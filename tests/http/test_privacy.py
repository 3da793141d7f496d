"""Data subject requests: export everything held about a person, erase it, and keep them out afterwards.

Every table of the store's models is scanned after an erasure, so a table added later is checked too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel
from typer.testing import CliRunner

import engine.store.models  # noqa: F401 - every table of the store is in SQLModel's metadata
from engine.cli import app
from engine.daemon.build import daemon_for, router_for
from engine.delivery.memory import MemoryTransport
from engine.store.privacy import REFUSED, WITHHELD
from engine.store.tables import ANONYMOUS_EVENTS, LEADS, QUARANTINE, VISITORS

from .live import Live, event

AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ANN = "ann@acme.example"
BOB = "bob@acme.example"


def _tick(live: Live, transport: MemoryTransport) -> None:
    asyncio.run(daemon_for(live.nurture, router_for(live.config, transport), worker="test", seed=1).tick())


def _everywhere(live: Live, needle: str) -> list[str]:
    """Every table.column whose value holds ``needle`` (any case), over every table the models declare."""
    found: list[str] = []
    with live.nurture.store.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for column, value in row._mapping.items():
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value,
                                                                                                         default=str)
                    if needle.lower() in text.lower():
                        found.append(f"{table.name}.{column}")
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _cli_env(live: Live) -> dict[str, str]:
    return {"NURTURE_DATABASE_URL": live.config.database_url, "NURTURE_CAMPAIGN_DIR": str(live.config.campaign_dir),
            "NURTURE_TEMPLATE_DIR": str(live.config.template_dir), "COLUMNS": "300"}


def _person(live: Live, email: str, country: str) -> None:
    """A lead with something in every table: events, ledger, stage changes, a sales notification (email and
    webhook), a journey enrolment and its sent email, a quarantined row and a suppression entry."""
    assert live.client.post("/v1/leads", json={"email": email.title(), "job_title": "VP Sales", "company_size": 500,
                                               "country": country, "owner": "rep@test.example"}).status_code == 200
    events = [event(email, "page.viewed", AT, url="/pricing"), event(email, "demo.requested", AT),
              event(email, "newsletter.subscribed", AT, event_id=f"signup:{email}")]
    assert live.client.post("/v1/events", json=events).status_code == 200
    bad = live.client.post("/v1/events", json=[event(email.upper(), "not.declared", AT)])
    assert bad.status_code == 422


@pytest.fixture
def erasable(serve: Callable[..., Live], db_url: str) -> tuple[Live, MemoryTransport]:
    live = serve(db_url, sales_webhook_url="http://127.0.0.1:9/hooks", webhook_secret="s")
    transport = MemoryTransport()
    _person(live, ANN, "DE")
    _person(live, BOB, "US")
    _tick(live, transport)
    with live.nurture.store.transaction() as tx:
        consent = tx.suppressions.consent_of(tx.reports.find_lead(ANN).id)
        tx.suppressions.unsubscribe(consent, live.clock.now())
        for who in (ANN, BOB):  # a relay's report of a temporary failure, below the limit that suppresses
            tx.suppressions.soft_bounce(f"postmark:{who}", who, f"452 4.2.2 {who}: mailbox full", AT)
    return live, transport


def test_export_holds_everything_about_the_person_and_erase_leaves_only_the_hash(
        erasable: tuple[Live, MemoryTransport], tmp_path: Path) -> None:
    live, transport = erasable
    assert any(ANN in m.recipients for m in transport.messages), "the journey mailed the lead"
    tables = [t for t in SQLModel.metadata.sorted_tables if "lead_id" in t.c]
    with live.nurture.store.engine.connect() as conn:
        lead_id = conn.execute(sa.select(LEADS.c.id).where(LEADS.c.email == ANN)).scalar_one()
        held = {t.name: [{k: _plain(v) for k, v in row._mapping.items()}
                         for row in conn.execute(sa.select(t).where(t.c.lead_id == lead_id)
                                                 .order_by(*t.primary_key.columns))] for t in tables}
    for name in ("events", "score_entries", "stage_changes", "pending_actions", "enrollments", "outbox"):
        assert held[name], f"the scenario should leave rows in {name}"
    assert {row["kind"] for row in held["outbox"]} >= {"marketing", "sales", "webhook"}

    out = tmp_path / "ann.json"
    exported = CliRunner().invoke(app, ["leads", "export", ANN.upper(), "--json", "--out", str(out)],
                                  env=_cli_env(live))
    assert exported.exit_code == 0, exported.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["email"] == ANN and document["outbox_bodies_included"] is True
    lead = document["lead"]
    assert lead["attributes"] == {"job_title": "VP Sales", "company_size": 500, "country": "DE"}
    assert lead["owner"] == "emea@test.example" and lead["stage"] == "sql"
    assert lead["scores"]["fit"] == 25 and set(lead["scores"]) == {"fit", "engagement"}  # read now, decayed
    assert lead["consent"]["unsubscribed_at"] is not None
    for name, rows in held.items():  # every row of the lead, as the store holds it
        assert document[name] == rows, name
    assert all(row["data"] for row in document["outbox"] if row["status"] == "sent")
    assert [row["reason"] for row in document["quarantine"]] == ["unknown event type 'not.declared' (declare it "
                                                                 "in an `events` block)"]
    assert [row["reason"] for row in document["suppressions"]] == ["unsubscribed via the link in an email"]
    assert [row["reason"] for row in document["soft_bounces"]] == [f"452 4.2.2 {ANN}: mailbox full"]
    stdout = CliRunner().invoke(app, ["leads", "export", ANN], env=_cli_env(live))
    assert json.loads(stdout.stdout)["events"] == document["events"]

    with live.nurture.store.engine.begin() as conn:  # a browser that identified as the person, and one page it saw
        conn.execute(VISITORS.insert().values(anonymous_id="a-1", email=ANN, identified_at=AT))
        conn.execute(ANONYMOUS_EVENTS.insert().values(key="k-1", anonymous_id="a-1", type="page.viewed", at=AT,
                                                      props={"url": "/pricing"}, received_at=AT))
    assert live.anonymous.delete(f"/v1/leads/{ANN}").status_code == 401
    erased = live.client.delete(f"/v1/leads/{ANN.title()}")
    assert erased.status_code == 200, erased.text
    counts = erased.json()["erased"]
    assert erased.json()["lead"] == ANN
    assert counts["leads"] == 1 and counts["quarantine"] == 1 and counts["suppressions"] == 1
    assert counts["soft_bounces"] == 1
    assert counts["anonymous_visitors"] == 1 and counts["anonymous_events"] == 1
    for name, rows in held.items():
        assert counts[name] == len(rows), name

    assert _everywhere(live, ANN) == []
    database = live.nurture.store.sqlite_path
    if database is not None:  # nor in SQLite's files: neither its free pages nor the older pages its WAL kept
        for path in (Path(database), Path(f"{database}-wal")):
            assert not path.exists() or ANN.encode() not in path.read_bytes(), path.name
    [audit] = live.rows(sa.select(engine.store.models.Erasure.__table__))  # type: ignore[attr-defined]
    assert audit.erased_by == "api" and audit.counts == counts and len(audit.address_hash) == 64
    assert _everywhere(live, BOB), "the other lead is untouched"
    assert live.client.get(f"/v1/leads/{BOB}").json()["stage"] == "sql"

    again = live.client.delete(f"/v1/leads/{ANN}")
    assert again.status_code == 404 and "was erased on" in again.json()["error"]
    assert live.client.delete("/v1/leads/ghost@acme.example").status_code == 404

    # an old import, over HTTP and files, creates nothing and quarantines without the address
    refused = live.client.post("/v1/leads", json=[{"email": ANN.upper(), "job_title": "VP"}, {"email": "cy@x.example"}])
    assert refused.status_code == 422
    assert refused.json()["rejected"] == [{"index": 0, "field": None, "error": REFUSED}]
    late = live.client.post("/v1/events", json=[event(ANN, "demo.requested", AT + dt.timedelta(days=1))])
    assert late.status_code == 422  # not stored, and the client is told why
    assert [r["error"] for r in late.json()["rejected"]] == [REFUSED]
    leads_file = tmp_path / "old.csv"
    leads_file.write_text(f"email,job_title\n{ANN},VP Sales\n", encoding="utf-8")
    events_file = tmp_path / "old.jsonl"
    events_file.write_text("\n".join(json.dumps(event(who, "page.viewed", AT, url="/pricing"))
                                     for who in ("dee@acme.example", ANN)) + "\n", encoding="utf-8")
    imported = CliRunner().invoke(app, ["leads", "import", str(leads_file)], env=_cli_env(live))
    ingested = CliRunner().invoke(app, ["events", "ingest", str(events_file)], env=_cli_env(live))
    assert ingested.exit_code == 3, ingested.output
    assert "old.jsonl:2: this address was erased" in ingested.output
    assert imported.exit_code == 1 and "old.csv:2: this address was erased" in imported.output, imported.output
    assert _everywhere(live, ANN) == []
    assert live.count(LEADS, LEADS.c.email == ANN) == 0
    withheld = live.rows(sa.select(QUARANTINE.c.raw, QUARANTINE.c.reason).where(QUARANTINE.c.reason == REFUSED))
    assert len(withheld) == 4 and {row.raw for row in withheld} == {WITHHELD}

    sent_before = len(transport.messages)
    live.clock.advance(dt.timedelta(days=3))
    _tick(live, transport)
    assert transport.messages[sent_before:], "the daemon still mails the other lead"
    assert all(ANN not in m.recipients and ANN.encode() not in m.data for m in transport.messages[sent_before:])


def test_cli_erase_names_the_user_and_refuses_an_unknown_lead(serve: Callable[..., Live], sqlite_url: str) -> None:
    live = serve(sqlite_url)
    _person(live, ANN, "DE")
    env = _cli_env(live)
    asked = CliRunner().invoke(app, ["leads", "erase", ANN], env=env, input="n\n")
    assert asked.exit_code == 1 and live.count(LEADS) == 1
    result = CliRunner().invoke(app, ["leads", "erase", ANN, "--yes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["erased"]["leads"] == 1
    [audit] = live.rows(sa.select(engine.store.models.Erasure.__table__))  # type: ignore[attr-defined]
    assert audit.erased_by.startswith("cli")
    assert _everywhere(live, ANN) == []
    unknown = CliRunner().invoke(app, ["leads", "erase", ANN, "--yes"], env=env)
    assert unknown.exit_code != 0 and "was erased on" in str(unknown.exception)
    missing = CliRunner().invoke(app, ["leads", "export", "ghost@acme.example"], env=env)
    assert "no lead with email 'ghost@acme.example'" in str(missing.exception)


def test_the_openapi_document_describes_erasure(live: Live) -> None:
    operation = live.client.get("/openapi.json").json()["paths"]["/v1/leads/{email}"]["delete"]
    assert set(operation["responses"]) >= {"200", "401", "404"}
    assert "salted hash" in operation["description"]
