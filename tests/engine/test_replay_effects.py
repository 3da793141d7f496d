"""What a replay does to a lead's stage entry actions, and stages held on fit alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil

import sqlalchemy as sa

from engine.ingest.rows import Row
from engine.store import reports as queries
from engine.store.tables import ACTIONS, TURNS

from .helpers import CAMPAIGN, event, make_nurture

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _notes(nurture) -> list[tuple[str, str | None]]:
    with nurture.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(ACTIONS.c.status, ACTIONS.c.last_error)
                                               .where(ACTIONS.c.kind == "notify").order_by(ACTIONS.c.id))]


def _show(nurture, email: str) -> dict:
    with nurture.store.engine.connect() as conn:
        return queries.show_lead(conn, nurture.processor().rules, email, nurture.clock.now())


def test_a_sent_notification_is_not_sent_again_and_the_owner_stays(db_url, clock):
    clock.set(T0 + 20 * DAY)
    nurture = make_nurture(db_url, clock)
    processor = nurture.processor()
    processor.ingest_events([event("ann@acme.example", "demo.requested", T0 + 10 * DAY)], "live")
    with nurture.store.transaction() as tx:  # the daemon notified sales
        (note,) = tx.actions.pending_notifications(10)
        tx.actions.mark_done(note.id, clock.now())
    assert _show(nurture, "ann@acme.example")["owner"] == "ann@test.example"
    # history backfilled: an earlier demo request moves the entry into sql five days back
    report = processor.ingest_events([event("ann@acme.example", "demo.requested", T0 + 5 * DAY)], "backfill")
    lead = _show(nurture, "ann@acme.example")
    assert [(c["at"], c["to"]) for c in lead["stage_history"]] == [((T0 + 5 * DAY).isoformat(), "sql")]
    assert report.stage_changes == 2  # the entry at day 10 is gone, one at day 5 is new
    assert _notes(nurture) == [("done", None)]  # sent once, for the one entry into sql
    assert lead["owner"] == "ann@test.example"  # kept: the round robin took no second turn
    with nurture.store.engine.connect() as conn:
        assert conn.execute(sa.select(TURNS.c.counter).where(TURNS.c.stage == "sql")).scalar_one() == 1


def test_a_pending_notification_of_an_entry_a_replay_no_longer_makes_is_cancelled_with_the_reason(db_url, clock):
    clock.set(T0 + 2 * DAY)
    nurture = make_nurture(db_url, clock)
    processor = nurture.processor()
    downloads = [event("bob@acme.example", "content.downloaded", T0 + i * dt.timedelta(minutes=5), asset=f"a{i}")
                 for i in range(11)]
    processor.ingest_events(downloads, "live")  # 110 points: sql, owner by round robin, sales to be notified
    assert _show(nurture, "bob@acme.example")["stage"] == "sql"
    assert _notes(nurture) == [("pending", None)]
    # an unsubscribe from before them arrives late: 80 points at most, never sql
    processor.ingest_events([event("bob@acme.example", "email.unsubscribed", T0 - dt.timedelta(hours=1))], "late")
    lead = _show(nurture, "bob@acme.example")
    assert lead["stage"] == "lead" and lead["stage_history"] == []
    ((status, reason),) = _notes(nurture)
    assert status == "cancelled" and "no longer makes this stage change, so nothing was sent" in reason
    assert lead["owner"] == "ann@test.example"  # an owner once assigned stays


def test_a_stage_held_on_fit_alone_survives_a_backfill(db_url, clock, tmp_path):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    source = campaign / "journeys" / "campaign.nurture"
    source.write_text(source.read_text().replace(
        "  when fit >= 20 and engagement >= 40\n  back to lead when engagement < 15\n",
        "  when fit >= 25\n  back to lead when fit < 25 and engagement < 15\n"))
    clock.set(T0 + 30 * DAY)
    nurture = make_nurture(db_url, clock, campaign)
    processor = nurture.processor()
    processor.import_leads([Row(1, "", {"email": "vp@acme.example", "job_title": "VP Data",
                                        "company_size": 900})], "crm.csv")
    assert _show(nurture, "vp@acme.example")["stage"] == "mql"
    # history from before the import, none of it worth points
    report = processor.ingest_events([event("vp@acme.example", "page.viewed", T0 + i * DAY, url="/blog")
                                      for i in range(3)], "history.jsonl")
    lead = _show(nurture, "vp@acme.example")
    assert lead["stage"] == "mql"
    assert [(c["at"], c["to"]) for c in lead["stage_history"]] == [(T0.isoformat(), "mql")]  # fit from the start
    assert report.stage_changes == 2  # the entry moved from the import to the lead's first event
