"""Events in, scores, ledger and stages out: on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
import shutil

import pytest
import sqlalchemy as sa

from engine.ingest.rows import Row
from engine.store import reports as queries
from engine.store.tables import ACTIONS, CHANGES, EVENTS, LEADS, LEDGER, QUARANTINE

from .helpers import CAMPAIGN, event, make_nurture

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HALF = 0.5 ** (1 / 30)  # engagement keeps this much per day (50% every 30 days)


def ingest(nurture, rows):
    return nurture.processor().ingest_events(rows, "test.jsonl")


def show(nurture, email):
    with nurture.store.engine.connect() as conn:
        return queries.show_lead(conn, nurture.processor().rules, email, nurture.clock.now())


def test_promotion_to_sql_records_reasons_actions_and_owner(db_url, clock):
    nurture = make_nurture(db_url, clock)
    nurture.processor().import_leads([Row(1, "", {"email": "Ann@Acme.example", "job_title": "VP Sales",
                                                  "company_size": 500})], "leads.csv")
    report = ingest(nurture, [
        event("ann@acme.example", "page.viewed", T0, url="/pricing"),
        event("ann@acme.example", "page.viewed", T0 + dt.timedelta(minutes=1), url="/pricing"),
        event("ann@acme.example", "demo.requested", T0 + DAY),
    ])
    assert report.accepted == 3 and report.stage_changes == 2
    clock.set(T0 + DAY)
    lead = show(nurture, "ann@acme.example")
    assert lead["stage"] == "sql"
    assert [(c["from"], c["to"]) for c in lead["stage_history"]] == [("lead", "mql"), ("mql", "sql")]
    assert lead["stage_history"][0]["at"] == (T0 + dt.timedelta(minutes=1)).isoformat()
    assert lead["stage_history"][0]["reason"].startswith("when fit >= 20 and engagement >= 40 (engagement = 40")
    assert lead["owner"] == "ann@test.example"  # first turn of the round robin
    with nurture.store.engine.connect() as conn:
        actions = conn.execute(sa.select(ACTIONS.c.kind, ACTIONS.c.status, ACTIONS.c.payload)).all()
    notify = [a for a in actions if a.kind == "notify"]
    assert len(notify) == 1 and notify[0].status == "pending"
    assert notify[0].payload["template"] == "sql_alert" and notify[0].payload["stage"] == "sql"


def test_owner_rule_by_attribute_wins_over_round_robin(db_url, clock):
    nurture = make_nurture(db_url, clock)
    nurture.processor().import_leads([Row(1, "", {"email": "de@x.example", "country": "DE"})], "leads")
    ingest(nurture, [event("de@x.example", "demo.requested", T0)])
    assert show(nurture, "de@x.example")["owner"] == "emea@test.example"


def _dump(nurture):
    with nurture.store.engine.connect() as conn:
        return {
            "leads": conn.execute(sa.select(LEADS.c.email, LEADS.c.stage, LEADS.c.state, LEADS.c.owner)
                                  .order_by(LEADS.c.email)).all(),
            "events": conn.execute(sa.select(EVENTS.c.key, EVENTS.c.type, EVENTS.c.at).order_by(EVENTS.c.key)).all(),
            "ledger": conn.execute(sa.select(LEDGER.c.score, LEDGER.c.rule, LEDGER.c.points, LEDGER.c.event_key)
                                   .order_by(LEDGER.c.event_key, LEDGER.c.score)).all(),
            "changes": conn.execute(sa.select(CHANGES.c.at, CHANGES.c.from_stage, CHANGES.c.to_stage)
                                    .order_by(CHANGES.c.at)).all(),
            "actions": conn.execute(sa.select(ACTIONS.c.key).order_by(ACTIONS.c.key)).all(),
            "quarantine": conn.execute(sa.select(QUARANTINE.c.raw).order_by(QUARANTINE.c.raw)).all(),
        }


def test_ingesting_the_same_rows_twice_changes_nothing(db_url, clock):
    nurture = make_nurture(db_url, clock)
    rows = [event("a@x.example", "page.viewed", T0 + i * DAY, line=i, url="/pricing") for i in range(5)]
    rows += [event("b@x.example", "demo.requested", T0), Row(9, "not json", None, "not valid JSON")]
    first = ingest(nurture, rows)
    before = _dump(nurture)
    second = ingest(nurture, rows)
    assert first.accepted == 6 and second.accepted == 0 and second.duplicates == 6
    assert _dump(nurture) == before


def test_out_of_order_arrival_equals_in_order(db_url, clock, tmp_path):
    rows = [event("a@x.example", "page.viewed", T0 + i * DAY, url="/pricing") for i in range(4)]
    rows += [event("a@x.example", "email.opened", T0 + dt.timedelta(hours=i)) for i in range(5)]
    rows += [event("a@x.example", "demo.requested", T0 + 3 * DAY)]
    in_order = make_nurture(db_url, clock)
    ingest(in_order, sorted(rows, key=lambda r: r.data["at"]))
    shuffled = make_nurture(f"sqlite:///{tmp_path / 'b.db'}", clock)
    for row in reversed(rows):  # newest first: every row arrives late
        ingest(shuffled, [row])
    a, b = _dump(in_order), _dump(shuffled)
    assert a["leads"] == b["leads"]
    assert sorted(a["ledger"]) == sorted(b["ledger"])
    assert a["changes"] == b["changes"]


def test_decayed_score_is_exact_at_any_instant(db_url, clock):
    nurture = make_nurture(db_url, clock)
    ingest(nurture, [event("a@x.example", "content.downloaded", T0, asset="guide")])
    for days in (0, 3.5, 9.9, 10, 17.25, 45, 200):
        clock.set(T0 + dt.timedelta(days=days))
        if days == 10:
            ingest(nurture, [event("a@x.example", "demo.requested", T0 + 10 * DAY)])
        expected = 10 * HALF ** days + (50 * HALF ** (days - 10) if days >= 10 else 0)
        assert show(nurture, "a@x.example")["scores"]["engagement"] == math.floor(expected + 0.5)


def test_caps_limit_points_in_any_rolling_window(db_url, clock):
    nurture = make_nurture(db_url, clock)
    # +5 per open, max 15 per 30 days: four opens in a week earn 15; a fifth 31 days later earns 5 more
    opens = [event("a@x.example", "email.opened", T0 + i * DAY) for i in range(4)]
    ingest(nurture, [*opens, event("a@x.example", "email.opened", T0 + 31 * DAY)])
    with nurture.store.engine.connect() as conn:
        points = conn.execute(sa.select(LEDGER.c.points).order_by(LEDGER.c.at)).scalars().all()
    assert points == [5, 5, 5, 5]


def test_stage_falls_back_by_time_alone(db_url, clock):
    nurture = make_nurture(db_url, clock)
    nurture.processor().import_leads([Row(1, "", {"email": "a@x.example", "job_title": "Director",
                                                  "company_size": 250})], "l")
    ingest(nurture, [event("a@x.example", "page.viewed", T0, url="/pricing"),
                     event("a@x.example", "page.viewed", T0 + dt.timedelta(hours=1), url="/pricing")])
    clock.set(T0 + dt.timedelta(hours=2))
    assert show(nurture, "a@x.example")["stage"] == "mql"
    # 40 points round below 15 (fall under 14.5) after 30 * log2(40 / 14.5) = 43.9 days, with no new event
    clock.set(T0 + 60 * DAY)
    assert nurture.processor().sweep() == 1
    lead = show(nurture, "a@x.example")
    assert lead["stage"] == "lead"
    demoted = dt.datetime.fromisoformat(lead["stage_history"][-1]["at"])
    points = 20 + 20 * 0.5 ** (1 / (30 * 24))  # the first visit had decayed for an hour
    crossing = T0 + dt.timedelta(hours=1) + dt.timedelta(days=30 * math.log2(points / 14.5))
    assert abs((demoted - crossing).total_seconds()) < 60
    assert lead["stage_history"][-1]["reason"].startswith("back to lead when engagement < 15 (engagement = 1")


def test_explain_lines_add_up_to_the_scores_shown(db_url, clock):
    nurture = make_nurture(db_url, clock)
    nurture.processor().import_leads([Row(1, "", {"email": "a@gmail.com", "job_title": "Head of Data",
                                                  "company_size": 300})], "l")
    ingest(nurture, [event("a@gmail.com", "email.opened", T0 + i * DAY) for i in range(5)]
           + [event("a@gmail.com", "email.unsubscribed", T0 + 6 * DAY)])
    clock.set(T0 + 9 * DAY)
    lead = show(nurture, "a@gmail.com")
    with nurture.store.engine.connect() as conn:
        explained = queries.explain_lead(conn, nurture.processor().rules, "a@gmail.com", clock.now())
    for score in explained["scores"]:
        assert sum(line["now"] for line in score["lines"]) == pytest.approx(score["exact"], abs=1e-3)
        assert score["total"] == math.floor(score["exact"] + 0.5) == lead["scores"][score["score"]]
    engagement = next(s for s in explained["scores"] if s["score"] == "engagement")
    assert engagement["total"] == 0 and engagement["lines"][-1]["kind"] == "floor"


def test_changed_rules_rescore_every_lead(db_url, clock, tmp_path):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    nurture = make_nurture(db_url, clock, campaign)
    ingest(nurture, [event(f"l{i}@x.example", "content.downloaded", T0, asset="a") for i in range(3)])
    assert show(nurture, "l1@x.example")["scores"]["engagement"] == pytest.approx(10, abs=0.01)
    source = campaign / "journeys" / "campaign.nurture"
    source.write_text(source.read_text().replace("+10 per content.downloaded", "+25 per content.downloaded"))
    applied = nurture.apply()
    assert applied.rules_changed and applied.rescored.leads_updated == 3
    assert show(nurture, "l1@x.example")["scores"]["engagement"] == pytest.approx(25, abs=0.01)
    assert nurture.apply().created is False  # applying the same files again is a no-op
