"""Follow-up SLAs in the daemon, on a real SQLite (and PostgreSQL with CI=true) store, delivering to a real
SMTP server on loopback: a missed follow-up reminds and reassigns once, a met one sends nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path

import sqlalchemy as sa

from engine.daemon.build import daemon_for, router_for
from engine.ingest.rows import Row
from engine.store.sla import SLA_CLOCKS
from engine.store.tables import CHANGES, LEADS

from .daemon_helpers import ANN, BOB, CAMPAIGN, HOUR, T0, Harness, parse, run

FOLLOW_UP = '''  notify sales with "sql_alert"
  assign owner round robin ["ana@test.example"]
  follow up within 2 business hours by sales.contacted {
    notify owner with "sla_reminder"
    reassign round robin ["ana@test.example", "bo@test.example"]
    back to lead
  }
'''
SETTINGS = '''settings {
  business hours 09:00 to 17:00 on weekdays
  owner "ana@test.example" timezone "Europe/Berlin"
}

events {
  sales.contacted
}
'''


def sla_campaign(tmp_path: Path) -> Path:
    """The daemon tests' campaign, with a follow-up on its SQL stage; Ana works in Berlin."""
    root = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, root)
    stages = root / "journeys" / "campaign.nurture"
    text = stages.read_text()
    stages.write_text(text.replace('  notify sales with "sql_alert"\n', FOLLOW_UP))
    (root / "journeys" / "sla.nurture").write_text(SETTINGS)
    (root / "templates" / "sla_reminder.html").write_text(
        '{% extends "_layout.html" %}{% block subject %}Overdue: {{ lead.email }}{% endblock %}'
        "{% block body %}<p>Nobody has contacted {{ lead.email }} yet.</p>{% endblock %}")
    return root


def _reminders(capture) -> list[tuple[list[str], str]]:
    return [(rcpt, parse(data)["Subject"]) for _, rcpt, data in capture.messages
            if parse(data)["Subject"].startswith("Overdue")]


def test_missed_follow_up_reminds_reassigns_and_recycles_once(db_url, capture, tmp_path):
    async def scenario():
        campaign = sla_campaign(tmp_path)
        h = Harness(db_url, capture.port, campaign=campaign)  # Monday 09:00 New York, 15:00 in Berlin
        second = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="second", seed=2)
        h.leads(ANN)
        h.events(("ann@acme.example", "demo.requested", T0, {}))
        await h.tick()
        [clock] = h.query(sa.select(SLA_CLOCKS))
        # two working hours of Ana's Berlin day: 15:00 -> 17:00 Berlin, 16:00 UTC
        assert (clock.stage, clock.status, clock.owner) == ("sql", "open", "ana@test.example")
        assert clock.deadline == dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC)
        await h.tick(T0 + HOUR)
        assert _reminders(capture) == []
        # both daemons see the deadline come; the breach acts once
        h.clock.set(T0 + 2 * HOUR)
        await h.daemon.tick()
        await second.tick()
        await h.tick(T0 + 3 * HOUR)
        assert _reminders(capture) == [(["ana@test.example"], "Overdue: ann@acme.example")]
        [clock] = h.query(sa.select(SLA_CLOCKS))
        assert clock.status == "breached"
        assert clock.outcome == ('notified ana@test.example with "sla_reminder"; reassigned to bo@test.example; '
                                 "back to lead")
        [lead] = h.query(sa.select(LEADS.c.owner, LEADS.c.stage))
        assert (lead.owner, lead.stage) == ("bo@test.example", "lead")
        last = h.query(sa.select(CHANGES.c.to_stage, CHANGES.c.reason).order_by(CHANGES.c.id))[-1]
        assert last.to_stage == "lead" and "missed: back to lead" in last.reason
        await h.mailer.close()

    run(scenario())


def test_met_follow_up_sends_nothing(db_url, capture, tmp_path):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=sla_campaign(tmp_path))
        h.leads(ANN)
        h.events(("ann@acme.example", "demo.requested", T0, {}))
        await h.tick()
        h.events(("ann@acme.example", "sales.contacted", T0 + HOUR, {}))
        await h.tick(T0 + HOUR)
        for hours in (2, 5, 48):
            await h.tick(T0 + hours * HOUR)
        [clock] = h.query(sa.select(SLA_CLOCKS))
        assert clock.status == "met" and clock.closed_at == T0 + HOUR
        assert _reminders(capture) == []
        [lead] = h.query(sa.select(LEADS.c.owner, LEADS.c.stage))
        assert (lead.owner, lead.stage) == ("ana@test.example", "sql")
        await h.mailer.close()

    run(scenario())


def test_two_daemons_at_once_breach_each_follow_up_once(db_url, capture, tmp_path):
    """Many deadlines at one instant, two daemons ticking at the same time (each with its own store thread):
    every lead is reminded once and reassigned once."""
    async def scenario():
        h = Harness(db_url, capture.port, campaign=sla_campaign(tmp_path))
        second = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="second", seed=2)
        leads = [{**ANN, "email": f"lead{i:02d}@acme.example"} for i in range(24)]
        h.leads(*leads)
        h.events(*((lead["email"], "demo.requested", T0, {}) for lead in leads))
        await h.tick()
        h.clock.set(T0 + 2 * HOUR)
        first_stats, second_stats = await asyncio.gather(h.daemon.tick(), second.tick())
        assert first_stats.sla_breaches + second_stats.sla_breaches == len(leads)
        await h.tick(T0 + 3 * HOUR)
        reminded = sorted(subject for _, subject in _reminders(capture))
        assert reminded == sorted(f"Overdue: {lead['email']}" for lead in leads)
        clocks = h.query(sa.select(SLA_CLOCKS.c.status, SLA_CLOCKS.c.outcome))
        assert {c.status for c in clocks} == {"breached"} and len(clocks) == len(leads)
        assert all(c.outcome.count("reassigned") == 1 for c in clocks)
        await h.mailer.close()

    run(scenario())


def test_a_breach_is_claimed_by_one_transaction_only(db_url, tmp_path, capture):
    """The claim itself: two transactions that both read the clock open; only the first update wins."""
    h = Harness(db_url, capture.port, campaign=sla_campaign(tmp_path))
    h.leads(ANN)
    h.events(("ann@acme.example", "demo.requested", T0, {}))
    run(h.tick())
    [clock] = h.query(sa.select(SLA_CLOCKS.c.id))
    engine = h.nurture.store.engine
    with engine.connect() as one, engine.connect() as two:
        from engine.store.sla import SlaClocks

        at = T0 + 2 * HOUR
        first = SlaClocks(one).close(clock.id, "breached", at)
        one.commit()
        second = SlaClocks(two).close(clock.id, "breached", at)
        two.commit()
    assert (first, second) == (True, False)


def test_clocks_start_and_are_met_as_events_are_stored(sqlite_url, capture, tmp_path):
    """Without a daemon tick: the entry starts a clock, the follow-up event meets it in its own transaction, a
    late event that replays the lead keeps one clock, and history recorded after its deadline starts none."""
    h = Harness(sqlite_url, capture.port, campaign=sla_campaign(tmp_path))
    h.leads(ANN, BOB)
    h.events(("ann@acme.example", "demo.requested", T0, {}))
    assert [c.status for c in h.query(sa.select(SLA_CLOCKS.c.status))] == ["open"]
    h.clock.set(T0 + HOUR)
    h.events(("ann@acme.example", "sales.contacted", T0 + HOUR, {}))
    [clock] = h.query(sa.select(SLA_CLOCKS.c.status, SLA_CLOCKS.c.closed_at))
    assert (clock.status, clock.closed_at) == ("met", T0 + HOUR)
    # an event from before the entry arrives late: the lead is replayed, its entry is the same, one clock
    h.events(("ann@acme.example", "page.viewed", T0 - HOUR, {"url": "/docs"}))
    assert len(h.query(sa.select(SLA_CLOCKS))) == 1
    # Bob's demo request of last week is imported today: its deadline passed long ago, so no clock, no reminder
    h.clock.set(T0 + 8 * 24 * HOUR)
    h.events(("bob@acme.example", "demo.requested", T0, {}))
    [lead] = h.query(sa.select(LEADS.c.stage).where(LEADS.c.email == "bob@acme.example"))
    assert lead.stage == "sql"
    assert len(h.query(sa.select(SLA_CLOCKS))) == 1


def test_a_missed_follow_up_is_not_undone_by_a_processor_that_kept_the_lead(db_url, capture, tmp_path):
    """A long import keeps the leads it saved in memory between its batches, and uses a kept lead only while
    the store holds the revision it saved. A breach that reassigns and recycles the lead in between must make
    the import's next batch read it again, not carry on from the stage it kept."""
    async def scenario():
        h = Harness(db_url, capture.port, campaign=sla_campaign(tmp_path))
        h.leads(ANN)
        importer = h.nurture.processor()

        def event(etype: str, at: dt.datetime) -> None:
            data = {"lead": "ann@acme.example", "type": etype, "at": at.isoformat(), "props": {}}
            assert not importer.ingest_events([Row(1, json.dumps(data), data)], "import").rejected

        event("demo.requested", T0)
        await h.tick()
        await h.tick(T0 + 2 * HOUR)
        await h.tick(T0 + 3 * HOUR)  # the follow-up was missed: reassigned to Bo, back to lead
        [clock] = h.query(sa.select(SLA_CLOCKS.c.status))
        assert clock.status == "breached"
        event("page.viewed", T0 + 3 * HOUR)
        # read again, the lead is back in "lead", and its demo request takes it to SQL once more, on record
        assert importer.cache.hits == 0
        stages = [row.to_stage for row in h.query(sa.select(CHANGES.c.to_stage).order_by(CHANGES.c.id))]
        assert stages[-2:] == ["lead", "sql"]
        [lead] = h.query(sa.select(LEADS.c.stage, LEADS.c.revision))
        assert lead.stage == "sql"
        await h.mailer.close()

    run(scenario())
