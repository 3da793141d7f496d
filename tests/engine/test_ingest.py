"""Bad input is reported with its line and reason, quarantined, and never stops the good rows."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.ingest.processor import Processor, Report
from engine.ingest.rows import open_input, read_rows
from engine.store.tables import EVENTS, LEADS, QUARANTINE, TURNS

from .helpers import CAMPAIGN, make_nurture

T0 = "2026-03-01T09:30:00Z"
GOOD = {"lead": "ann@acme.example", "type": "page.viewed", "at": T0, "props": {"url": "/pricing"}}
BAD = [
    ({**GOOD, "type": "page.viewd"}, "unknown event type 'page.viewd'; did you mean 'page.viewed'?"),
    ({k: v for k, v in GOOD.items() if k != "type"}, "missing `type`"),
    ({k: v for k, v in GOOD.items() if k != "at"}, "missing `at` timestamp"),
    ({**GOOD, "at": "yesterday"}, "bad timestamp 'yesterday'"),
    ({**GOOD, "at": "2026-03-01T09:30:00"}, "timestamp has no timezone"),
    ({**GOOD, "props": {"url": 5}}, "`url` must be text, got 5"),
    ({**GOOD, "props": {"URL": "/x"}}, "property 'URL' is not declared for page.viewed (declared: url); did you "
                                       "mean 'url'?"),
    ({**GOOD, "lead": "not-an-email"}, "invalid email 'not-an-email'"),
    ({k: v for k, v in GOOD.items() if k != "lead"}, "missing `lead` email"),
]


def test_each_bad_row_kind_is_quarantined_with_its_reason(db_url, clock, tmp_path):
    lines = [json.dumps(GOOD)] + [json.dumps(row) for row, _ in BAD] + ["{not json", "[1, 2]"]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    nurture = make_nurture(db_url, clock)
    stream, kind = open_input(str(path))
    with stream:
        report = nurture.processor().ingest_events(read_rows(stream, kind), str(path))
    assert report.accepted == 1
    reasons = {r.line: r.reason for r in report.rejected}
    for line, (_, expected) in enumerate(BAD, start=2):
        assert expected in reasons[line]
    assert reasons[len(lines) - 1].startswith("not valid JSON")
    assert reasons[len(lines)] == "expected a JSON object"
    with nurture.store.engine.connect() as conn:
        kept = conn.execute(sa.select(QUARANTINE.c.line, QUARANTINE.c.raw, QUARANTINE.c.reason)).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 1
    assert {k.line: k.raw for k in kept} == {i: lines[i - 1] for i in range(2, len(lines) + 1)}


def test_csv_events_with_prop_columns(db_url, clock, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("id,lead,type,at,props.url\n"
                    "e1,ann@acme.example,page.viewed,2026-03-01T09:30:00Z,/pricing\n"
                    "e2,ann@acme.example,page.viewed,2026-03-01T09:31:00Z\n"
                    "e3,ann@acme.example,page.viewed\n")
    nurture = make_nurture(db_url, clock)
    stream, kind = open_input(str(path))
    with stream:
        report = nurture.processor().ingest_events(read_rows(stream, kind), str(path), from_text=True)
    assert report.accepted == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "has 4 columns, the header has 5"), (4, "has 3 columns, the header has 5")]


def test_lead_import_coerces_types_and_rejects_bad_values(db_url, clock, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,job_title,company_size,country\n"
                    " Ann@Acme.example ,VP Sales,500,DE\n"
                    "bob@x.example,,12.5,\n"
                    "carl@x.example,CTO,many,US\n"
                    "dora@x.example,CTO,10,US,extra\n")
    nurture = make_nurture(db_url, clock)
    stream, kind = open_input(str(path))
    with stream:
        report = nurture.processor().import_leads(read_rows(stream, kind), str(path), from_text=True)
    assert report.accepted == 2 and report.leads_created == 2
    assert [(r.line, r.reason) for r in report.rejected] == [
        (4, "`company_size` must be a number, got 'many'"), (5, "has 5 columns, the header has 4")]
    with nurture.store.engine.connect() as conn:
        leads = dict(conn.execute(sa.select(LEADS.c.email, LEADS.c.attributes)).all())
    assert leads == {"ann@acme.example": {"job_title": "VP Sales", "company_size": 500, "country": "DE"},
                     "bob@x.example": {"company_size": 12.5}}


def _cli(args: list[str], cwd: Path, db: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NURTURE_DATABASE_URL": db, "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"),
           "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def _hours_ago(hours: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)).isoformat()


def test_cli_exit_status_reports_lines_and_is_idempotent(tmp_path):
    db = f"sqlite:///{tmp_path / 'n.db'}"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({**GOOD, "at": _hours_ago(3)}) + "\n")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({**GOOD, "at": _hours_ago(2)}) + "\n" + json.dumps(BAD[0][0]) + "\n")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("nope\n")
    assert _cli(["events", "ingest", str(good)], tmp_path, db).returncode == 0
    again = _cli(["events", "ingest", str(good), "--json"], tmp_path, db)
    assert again.returncode == 0 and json.loads(again.stdout)["duplicates"] == 1
    result = _cli(["events", "ingest", str(mixed)], tmp_path, db)
    assert result.returncode == 3
    assert f"{mixed}:2: unknown event type 'page.viewd'" in result.stderr
    assert _cli(["events", "ingest", str(junk)], tmp_path, db).returncode == 1
    piped = _cli(["events", "ingest", "-", "--json"], tmp_path, db,
                 stdin=json.dumps({**GOOD, "at": _hours_ago(1)}) + "\n")
    assert piped.returncode == 0 and json.loads(piped.stdout)["accepted"] == 1
    listed = _cli(["events", "quarantine", "--json"], tmp_path, db)
    assert [q["line"] for q in json.loads(listed.stdout)] == [1, 2]
    shown = json.loads(_cli(["leads", "show", "ANN@acme.example", "--json"], tmp_path, db).stdout)
    assert shown["scores"]["engagement"] > 0 and len(shown["recent_events"]) == 3
    missing = _cli(["leads", "show", "nobody@x.example"], tmp_path, db)
    assert missing.returncode == 1 and "no lead with email 'nobody@x.example'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_unknown_file_type_is_a_clear_error(tmp_path):
    (tmp_path / "events.xml").write_text("<x/>")
    result = _cli(["events", "ingest", str(tmp_path / "events.xml")], tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    assert result.returncode == 1 and "unknown file type .xml; use .jsonl or .csv" in result.stderr


@pytest.mark.parametrize("stamp", ["2026-03-01T09:30:00+01:00", "2026-03-01T08:30:00Z"])
def test_timestamps_are_stored_as_utc(clock, sqlite_url, stamp):
    nurture = make_nurture(sqlite_url, clock)
    from engine.ingest.rows import Row

    nurture.processor().ingest_events([Row(1, "", {**GOOD, "at": stamp})], "t")
    with nurture.store.engine.connect() as conn:
        at = conn.execute(sa.select(EVENTS.c.at)).scalar_one()
    assert at == dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("batch_size", [10, 120])
def test_concurrent_writers_store_each_event_once_and_hand_out_each_turn_once(db_url, clock, batch_size):
    """Two processes ingesting the same events in opposite orders: no event counts twice, no
    round-robin turn is given twice, and neither writer deadlocks the other (known leads, so
    neither waits for the other's new leads before its events)."""
    from engine.ingest.rows import Row

    from .helpers import event

    t0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    leads = 120
    rows: list[Row] = [event(f"l{i:03}@x.example", "demo.requested", t0 + dt.timedelta(minutes=i))
                       for i in range(leads)]
    # each writer with its own engine, as another process would have; opened (store upgraded,
    # campaign applied) one after the other here, since schema upgrades are not thread-safe
    writers = [make_nurture(db_url, clock, batch_size=batch_size) for _ in range(2)]
    processors = [nurture.processor() for nurture in writers]
    processors[0].import_leads([Row(i, "", {"email": f"l{i:03}@x.example"}) for i in range(leads)], "leads.csv")
    start = threading.Barrier(2, timeout=60)
    reports: list[Report] = []
    errors: list[BaseException] = []

    def write(processor: Processor, batch: list[Row]) -> None:
        try:
            start.wait()
            reports.append(processor.ingest_events(batch, "events.jsonl"))
        except BaseException as err:  # reraised below, in the test's own thread
            errors.append(err)

    threads = [threading.Thread(target=write, args=(processor, order))
               for processor, order in zip(processors, (rows, rows[::-1]), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for nurture in writers:
        nurture.store.dispose()
    assert not errors, errors
    assert sum(r.accepted for r in reports) == leads
    assert sum(r.accepted + r.duplicates for r in reports) == 2 * leads
    nurture = make_nurture(db_url, clock)
    with nurture.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == leads
        owners = Counter(conn.execute(sa.select(LEADS.c.owner)).scalars())
        turns = conn.execute(sa.select(TURNS.c.counter).where(TURNS.c.stage == "sql")).scalar_one()
    assert turns == leads  # every lead entered sql once, each taking the next turn
    assert owners == {"ann@test.example": leads // 2, "bob@test.example": leads // 2}
