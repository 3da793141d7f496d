"""Rows that used to crash a file or slip through: each is quarantined with file, line and reason,
real exports (BOM, CR line endings) load, and the good rows always commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.ingest.processor import Report
from engine.ingest.rows import open_input, read_rows
from engine.store import reports as queries
from engine.store.tables import EVENTS, LEADS, QUARANTINE

from .helpers import make_nurture

GOOD = {"lead": "ann@acme.example", "type": "page.viewed", "at": "2026-03-01T09:30:00Z", "props": {"url": "/pricing"}}


def _load(nurture, path: Path, what: str = "events") -> Report:
    stream, kind = open_input(str(path))
    processor = nurture.processor()
    load = processor.ingest_events if what == "events" else processor.import_leads
    with stream:
        return load(read_rows(stream, kind), str(path), from_text=kind == "csv")


def _jsonl(path: Path, rows: list[dict], end: str = "\n") -> Path:
    path.write_text("".join(json.dumps(r) + end for r in rows), newline="")
    return path


def _count(nurture, table: sa.Table) -> int:
    with nurture.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _quarantined(nurture) -> dict[int, str]:
    with nurture.store.engine.connect() as conn:
        return dict(conn.execute(sa.select(QUARANTINE.c.line, QUARANTINE.c.reason)).all())


def test_extreme_timestamps_are_quarantined_and_the_rest_commit(db_url, clock, tmp_path):
    rows = [GOOD,
            {**GOOD, "at": "0001-01-01T00:00:00+01:00"},  # shifted to UTC it falls before year 1
            {**GOOD, "at": "9999-12-31T23:59:59-05:00"},  # and this one after year 9999
            {**GOOD, "at": "0001-01-01T00:00:00Z"},  # a placeholder date, not engagement
            {**GOOD, "at": "9999-12-31T23:59:59Z"},
            {**GOOD, "props": {"url": "/pricing\x00"}},  # NUL: PostgreSQL refuses it in text
            {**GOOD, "lead": "bob@acme.example"}]
    nurture = make_nurture(db_url, clock)
    report = _load(nurture, _jsonl(tmp_path / "events.jsonl", rows))
    assert report.accepted == 2
    reasons = {r.line: r.reason for r in report.rejected}
    assert "outside the calendar once moved to UTC" in reasons[2] and "outside the calendar" in reasons[3]
    assert "outside the years 1970 to 2099" in reasons[4] and "outside the years" in reasons[5]
    assert "`url` contains the control character U+0000" in reasons[6]
    assert _quarantined(nurture).keys() == {2, 3, 4, 5, 6}
    assert _count(nurture, EVENTS) == 2


def test_numbers_beyond_64_bits_and_huge_csv_fields_are_quarantined(db_url, clock, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,job_title,company_size\n"
                    "a@x.example,VP,123456789012345678901234567890\n"
                    "b@x.example,VP,1e400\n"
                    "c@x.example,VP,nan\n"
                    f"d@x.example,{'x' * 200_000},10\n"
                    f"\"e@x.example\",\"{'y' * 150_000}\nstill the same field\",10\n"
                    "f@x.example,CTO,9223372036854775807\n"
                    "g@x.example,CTO,1e3\n"
                    "h@x.example,V\x00P,10\n")
    nurture = make_nurture(db_url, clock)
    report = _load(nurture, path, "leads")
    reasons = {r.line: r.reason for r in report.rejected}
    assert reasons[2].startswith("`company_size` is too large: 123456789012345678901234567890 is beyond the 64-bit")
    assert reasons[3] == "`company_size` must be a finite number, got inf"
    assert reasons[4] == "`company_size` must be a finite number, got nan"
    assert reasons[5] == reasons[7] == "a field is longer than 128 KB; shorten it or leave it out"
    assert reasons[10] == "`job_title` contains the control character U+0000; remove it"
    assert report.accepted == 2
    with nurture.store.engine.connect() as conn:
        sizes = dict(conn.execute(sa.select(LEADS.c.email, LEADS.c.attributes)).all())
        raw = conn.execute(sa.select(QUARANTINE.c.raw).where(QUARANTINE.c.line == 5)).scalar_one()
    assert sizes == {"f@x.example": {"job_title": "CTO", "company_size": 9223372036854775807},
                     "g@x.example": {"job_title": "CTO", "company_size": 1000}}
    assert raw.startswith("d@x.example,xxx") and raw.endswith("(200,015 characters in all)")
    json_leads = _jsonl(tmp_path / "leads.jsonl", [{"email": "h@x.example", "company_size": 10**30},
                                                   {"email": "i@x.example", "company_size": 12}])
    report = _load(nurture, json_leads, "leads")
    assert report.accepted == 1 and "beyond the 64-bit range" in report.rejected[0].reason


def test_a_byte_order_mark_and_cr_line_endings_load(sqlite_url, clock, tmp_path):
    nurture = make_nurture(sqlite_url, clock)
    leads = tmp_path / "leads.csv"
    leads.write_bytes("\ufeffemail,job_title\rann@acme.example,VP\rbob@acme.example,CTO\rcid,x\r".encode())
    report = _load(nurture, leads, "leads")
    assert (report.accepted, [(r.line, r.reason[:19]) for r in report.rejected]) == (2, [(4, "invalid email 'cid'")])
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\r" for r in [
        GOOD, {**GOOD, "type": "nope"}, {**GOOD, "lead": "bob@acme.example"}]).encode())
    report = _load(nurture, events)
    assert report.accepted == 2 and [r.line for r in report.rejected] == [2]
    crlf = _jsonl(tmp_path / "crlf.jsonl", [{**GOOD, "lead": "cid@acme.example"}], end="\r\n")
    assert _load(nurture, crlf).accepted == 1


def test_a_duplicate_header_name_is_one_message_and_reads_nothing(sqlite_url, clock, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,job_title,company_size,job_title\n" + "".join(
        f"l{i}@x.example,VP,10,CTO\n" for i in range(500)))
    nurture = make_nurture(sqlite_url, clock)
    report = _load(nurture, path, "leads")
    assert report.accepted == 0 and len(report.rejected) == 1
    assert report.rejected[0].line == 1
    assert report.rejected[0].reason.startswith("the header names `job_title` twice (columns 2 and 4)")
    assert _count(nurture, LEADS) == 0


def test_every_occurrence_of_a_repeated_bad_line_is_kept_once(db_url, clock, tmp_path):
    bad = {**GOOD, "type": "page.veiwed"}
    path = _jsonl(tmp_path / "events.jsonl", [bad, GOOD, bad, bad])
    nurture = make_nurture(db_url, clock)
    _load(nurture, path)
    assert sorted(_quarantined(nurture)) == [1, 3, 4]
    _load(nurture, path)  # the same file again adds nothing
    assert _count(nurture, QUARANTINE) == 3


def test_long_event_ids_are_kept_whole_not_truncated_into_duplicates(db_url, clock, tmp_path):
    prefix = "https://tracker.example/e/" + "x" * 200
    rows = [{**GOOD, "id": prefix + "A"}, {**GOOD, "id": prefix + "B", "at": "2026-03-02T09:30:00Z"},
            {**GOOD, "id": "short", "at": "2026-03-03T09:30:00Z"}]
    path = _jsonl(tmp_path / "events.jsonl", rows)
    nurture = make_nurture(db_url, clock)
    assert _load(nurture, path).accepted == 3
    again = _load(nurture, path)
    assert (again.accepted, again.duplicates) == (0, 3)
    with nurture.store.engine.connect() as conn:
        keys = conn.execute(sa.select(EVENTS.c.key)).scalars().all()
    assert "id:short" in keys and all(len(k) <= 200 for k in keys)


@pytest.mark.parametrize("address, reason", [
    ("a\x07b@x.example", "invalid characters before the @-sign: U+0007"),
    ("ann\n@x.example", "invalid characters"),
    ("jörg@x.example", "internationalized characters before the @-sign are not supported"),
    ("ann@acme", "should have a period"),
    ("ann@@acme.example", "invalid email"),
])
def test_undeliverable_addresses_are_refused_at_import(sqlite_url, clock, tmp_path, address, reason):
    nurture = make_nurture(sqlite_url, clock)
    report = _load(nurture, _jsonl(tmp_path / "events.jsonl", [{**GOOD, "lead": address}, GOOD]))
    assert report.accepted == 1 and report.rejected[0].line == 1
    assert reason in report.rejected[0].reason
    leads = _jsonl(tmp_path / "leads.jsonl", [{"email": address}, {"email": "ok@x.example"}])
    report = _load(nurture, leads, "leads")
    assert report.accepted == 1 and reason in report.rejected[0].reason
    assert _count(nurture, LEADS) == 2


def test_an_international_domain_is_kept_in_the_form_every_server_delivers_to(sqlite_url, clock, tmp_path):
    nurture = make_nurture(sqlite_url, clock)
    path = _jsonl(tmp_path / "events.jsonl", [
        {**GOOD, "lead": "Ann@Bücher.example"},
        {**GOOD, "lead": "ann@xn--bcher-kva.example", "at": "2026-03-02T09:00:00Z"}])
    assert _load(nurture, path).accepted == 2
    with nurture.store.engine.connect() as conn:
        assert conn.execute(sa.select(LEADS.c.email)).scalars().all() == ["ann@xn--bcher-kva.example"]
        shown = queries.show_lead(conn, nurture.processor().rules, "ann@bücher.example", clock.now())
    assert shown["email"] == "ann@xn--bcher-kva.example" and len(shown["recent_events"]) == 2


def test_an_event_at_the_first_instant_of_1970_is_kept_as_the_leads_last_event(db_url, clock, tmp_path):
    # epoch 0 is a real time here, not a missing one
    nurture = make_nurture(db_url, clock)
    report = _load(nurture, _jsonl(tmp_path / "events.jsonl", [{**GOOD, "at": "1970-01-01T00:00:00Z"}]))
    assert report.accepted == 1
    with nurture.store.engine.connect() as conn:
        [last] = conn.execute(sa.select(LEADS.c.last_event_at)).scalars().all()
    assert last is not None and (last.year, last.month, last.day, last.hour, last.second) == (1970, 1, 1, 0, 0)
