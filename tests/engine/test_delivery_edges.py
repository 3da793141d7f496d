"""Delivery's edges, end to end through the daemon to real SMTP servers on 127.0.0.1: emails of ended journeys,
one bad message among good ones, bounces recorded as events, and our own faults never suppressing a reader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.core.journeys import Enqueue, MessageKind
from engine.daemon.build import daemon_for
from engine.daemon.journeys import JourneyRunner
from engine.delivery.transport import TransportRouter
from engine.lab.capture import CaptureServer
from engine.store.tables import ENROLLMENTS, EVENTS, LEDGER, OUTBOX, SUPPRESSIONS

from .daemon_helpers import ANN, BOB, CAMPAIGN, DAY, HOUR, T0, Harness, parse, run, serving


def subjects(capture: CaptureServer) -> list[str]:
    return [parse(data)["Subject"] for _, _, data in capture.messages]


def campaign_copy(tmp_path: Path) -> Path:
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    return campaign


async def queue_the_nudge(h: Harness) -> None:
    """Hello goes out Monday 09:00 New York; on Wednesday at 10:00 the nudge is queued for Thursday 09:00."""
    h.leads(ANN)
    h.events(("ann@acme.example", "signed.up", T0, {}))
    await h.tick()
    await h.tick(T0 + 2 * DAY + HOUR)
    queued = [row for row in h.outbox() if row.status == "queued"]
    assert [(row.template, row.due_at) for row in queued] == [("nudge", T0 + 3 * DAY)]


# ----- an email whose journey has ended is not sent ------------------------------------------------------


def test_an_email_queued_before_the_goal_is_cancelled_with_the_journey(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port)
        await queue_the_nudge(h)
        h.events(("ann@acme.example", "page.viewed", T0 + 2 * DAY + 2 * HOUR, {"url": "/pricing"}))
        await h.tick(T0 + 2 * DAY + 2 * HOUR)
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert enrollment.status == "done" and enrollment.goal_at is not None
        hello, nudge = h.outbox()
        assert nudge.status == "cancelled"  # by the goal itself, in the same transaction
        assert nudge.last_error == 'journey onboarding ended: goal reached: page.viewed where url contains "/pricing"'
        await h.tick(T0 + 3 * DAY)
        assert subjects(capture) == ["Hello for Ann"]  # the reader who converted gets no nudge
        await h.mailer.close()

    run(scenario())


def test_an_email_another_daemon_held_when_the_journey_ended_is_cancelled_at_send_time(db_url, capture):
    """The journey's end leaves a message under another daemon's live lease alone; the send-time check stops it."""

    async def scenario():
        h = Harness(db_url, capture.port)
        await queue_the_nudge(h)
        with h.nurture.store.engine.begin() as conn:  # another daemon holds the nudge for the next hours
            conn.execute(OUTBOX.update().where(OUTBOX.c.template == "nudge")
                         .values(leased_by="other", leased_until=T0 + 2 * DAY + 5 * HOUR))
        h.events(("ann@acme.example", "page.viewed", T0 + 2 * DAY + 2 * HOUR, {"url": "/pricing"}))
        await h.tick(T0 + 2 * DAY + 2 * HOUR)
        assert h.outbox()[1].status == "queued"
        stats = await h.tick(T0 + 3 * DAY)  # the other daemon's lease has run out: this one claims the nudge
        assert subjects(capture) == ["Hello for Ann"]
        hello, nudge = h.outbox()
        assert (hello.status, nudge.status) == ("sent", "cancelled")
        assert nudge.last_error == 'journey onboarding ended: goal reached: page.viewed where url contains "/pricing"'
        assert nudge.leased_by is None and nudge.sent_at is None
        assert stats.delivery.cancelled == 1 and stats.delivery.sent == 0
        await h.mailer.close()

    run(scenario())


def test_an_email_of_a_removed_journey_is_cancelled_at_send_time(sqlite_url, capture, tmp_path):
    campaign = campaign_copy(tmp_path)

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        await queue_the_nudge(h)
        source = campaign / "journeys" / "campaign.nurture"
        text = source.read_text()
        source.write_text(text[:text.index("journey onboarding")])
        h.nurture.apply()
        await h.tick(T0 + 3 * DAY)
        assert subjects(capture) == ["Hello for Ann"]
        nudge = h.outbox()[-1]
        assert (nudge.status, nudge.last_error) == ("cancelled",
                                                    "journey onboarding ended: journey removed from the campaign")
        await h.mailer.close()

    run(scenario())


def later_journey(tmp_path: Path) -> Path:
    """A journey whose one email waits for the next weekday 09:00 (Berlin), and which a demo request leaves."""
    campaign = campaign_copy(tmp_path)
    (campaign / "journeys" / "later.nurture").write_text(
        'journey later {\n  enter when page.viewed\n  exit when demo.requested\n'
        '  send "tips" at 09:00 on weekdays\n}\n')
    return campaign


def test_an_email_at_a_set_time_goes_out_then_and_its_journey_finishes_with_it(sqlite_url, capture, tmp_path):
    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=later_journey(tmp_path))
        h.leads(ANN)
        h.events(("ann@acme.example", "page.viewed", T0 + HOUR, {"url": "/blog"}))
        await h.tick(T0 + HOUR)  # Monday 10:00: tips waits for Tuesday 09:00, and the journey waits with it
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert (enrollment.status, enrollment.step) == ("waiting", "send_tips")
        await h.tick(T0 + DAY)
        assert subjects(capture) == ["Tips for Ann"]
        assert [row.status for row in h.outbox()] == ["sent"]
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert (enrollment.status, enrollment.end_reason) == ("done", "finished")
        await h.mailer.close()

    run(scenario())


def test_an_exit_before_an_emails_set_time_cancels_it_even_when_it_is_the_last_step(sqlite_url, capture,
                                                                                    tmp_path):
    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=later_journey(tmp_path))
        h.leads(ANN)
        h.events(("ann@acme.example", "page.viewed", T0 + HOUR, {"url": "/blog"}))
        await h.tick(T0 + HOUR)
        h.events(("ann@acme.example", "demo.requested", T0 + 2 * HOUR, {}))
        await h.tick(T0 + 2 * HOUR)
        await h.tick(T0 + DAY)
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert (enrollment.status, enrollment.end_reason) == ("exited", "exit when demo.requested")
        [tips] = [row for row in h.outbox() if row.template == "tips"]
        assert (tips.status, tips.last_error) == ("cancelled", "journey later ended: exit when demo.requested")
        assert "Tips for Ann" not in subjects(capture)  # a demo request also sends sales an alert
        await h.mailer.close()

    run(scenario())


def late_journey(tmp_path: Path) -> Path:
    """A one-email journey that a demo request leaves and a pricing page converts."""
    campaign = campaign_copy(tmp_path)
    (campaign / "journeys" / "late.nurture").write_text(
        'journey late {\n  enter when page.viewed\n  exit when demo.requested\n'
        '  goal page.viewed where url contains "/pricing"\n  send "tips"\n}\n')
    return campaign


async def finish_with_tips_held_back(h: Harness) -> None:
    """At 22:00 in New York the journey runs to its end, and quiet hours hold its one email back."""
    h.leads(ANN)
    h.events(("ann@acme.example", "page.viewed", T0 + 13 * HOUR, {"url": "/blog"}))
    await h.tick(T0 + 13 * HOUR)
    [enrollment] = h.query(sa.select(ENROLLMENTS))
    assert (enrollment.status, enrollment.end_reason) == ("done", "finished")
    [tips] = h.outbox()
    assert (tips.status, tips.deferrals) == ("queued", 1)


def test_an_exit_cancels_an_email_that_outlived_its_finished_journey(db_url, capture, tmp_path):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=late_journey(tmp_path))
        await finish_with_tips_held_back(h)
        [finished] = h.query(sa.select(ENROLLMENTS))
        h.events(("ann@acme.example", "demo.requested", T0 + 14 * HOUR, {}))
        await h.tick(T0 + 14 * HOUR)
        await h.tick(T0 + DAY)
        [tips] = [row for row in h.outbox() if row.template == "tips"]
        assert (tips.status, tips.last_error) == ("cancelled", "journey late ended: exit when demo.requested")
        assert "Tips for Ann" not in subjects(capture)
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        # it still ran every step, when it did; what came after is said, and it is no conversion
        assert (enrollment.status, enrollment.ended_at, enrollment.goal_at) == ("done", finished.ended_at, None)
        assert enrollment.end_reason == "finished, then exit when demo.requested"
        await h.mailer.close()

    run(scenario())


def test_an_exit_stops_an_email_of_a_finished_journey_that_another_daemon_held(db_url, capture, tmp_path):
    """The exit leaves a message under another daemon's live lease alone; the send-time check must see that
    the finished journey's lead has left it since."""

    async def scenario():
        h = Harness(db_url, capture.port, campaign=late_journey(tmp_path))
        await finish_with_tips_held_back(h)
        with h.nurture.store.engine.begin() as conn:  # another daemon holds tips until New York's morning
            conn.execute(OUTBOX.update().where(OUTBOX.c.template == "tips")
                         .values(leased_by="other", leased_until=T0 + DAY - HOUR))
        h.events(("ann@acme.example", "demo.requested", T0 + 14 * HOUR, {}))
        await h.tick(T0 + 14 * HOUR)
        [tips] = [row for row in h.outbox() if row.template == "tips"]
        assert (tips.status, tips.leased_by) == ("queued", "other")
        stats = await h.tick(T0 + DAY)  # the lease has run out: this daemon claims tips, after quiet hours
        [tips] = [row for row in h.outbox() if row.template == "tips"]
        assert (tips.status, tips.sent_at, tips.leased_by) == ("cancelled", None, None)
        assert tips.last_error == "journey late ended: finished, then exit when demo.requested"
        assert "Tips for Ann" not in subjects(capture)
        assert stats.delivery.cancelled == 1
        await h.mailer.close()

    run(scenario())


def test_a_goal_after_a_journey_finished_counts_and_cancels_its_waiting_email(db_url, capture, tmp_path):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=late_journey(tmp_path))
        await finish_with_tips_held_back(h)
        h.events(("ann@acme.example", "page.viewed", T0 + 14 * HOUR, {"url": "/pricing"}))
        await h.tick(T0 + 14 * HOUR)
        await h.tick(T0 + DAY)
        [tips] = [row for row in h.outbox() if row.template == "tips"]
        assert (tips.status, tips.last_error) == (
            "cancelled", 'journey late ended: goal reached: page.viewed where url contains "/pricing"')
        assert "Tips for Ann" not in subjects(capture)
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert (enrollment.status, enrollment.goal_at) == ("done", T0 + 14 * HOUR)
        assert enrollment.end_reason == 'finished, then goal reached: page.viewed where url contains "/pricing"'
        with h.nurture.store.transaction() as tx:  # the journey's report counts the conversion
            counts = tx.insights.journey_steps("late", ["send_tips"])
        assert (counts["enrolled"], counts["goal"], counts["steps"][0].goal) == (1, 1, 1)
        await h.mailer.close()

    run(scenario())


# ----- one bad message never stops the rest ---------------------------------------------------------------


def test_messages_that_cannot_be_composed_or_sent_fail_alone(sqlite_url, capture):
    async def scenario():
        # the webhook URL cannot even be parsed: posting to it raises rather than answering
        h = Harness(sqlite_url, capture.port, sales_webhook_url="http://[::1", webhook_secret="s")
        h.leads(ANN, BOB)
        version_id, rules = h.nurture.rules()
        with h.nurture.store.transaction() as tx:
            runner = JourneyRunner(tx, rules, version_id, T0, lambda *args: None)
            for n, to in enumerate(["josé@acme.example", "ann\x01@acme.example", "ann@acme.example"]):
                runner.enqueue(Enqueue(f"manual:{n}", 1, MessageKind.MARKETING, to, "hello", T0, None,
                                       f"manual_{n}", None))
        h.events(("bob@acme.example", "demo.requested", T0, {}))  # an SQL: a sales email and a webhook
        stats = await h.tick()
        rows = {(row.kind, row.to_address): row for row in h.outbox()}
        assert rows["marketing", "ann@acme.example"].status == "sent"
        assert rows["sales", "sales@test.example"].status == "sent"
        for key, reason in [(("marketing", "josé@acme.example"), "is not ASCII"),
                            (("marketing", "ann\x01@acme.example"), "control character"),
                            (("webhook", "http://[::1"), "Invalid port")]:
            assert rows[key].status == "failed" and reason in rows[key].last_error, rows[key].last_error
            assert rows[key].leased_by is None
        assert sorted(r[1] for r in capture.messages) == [["ann@acme.example"], ["sales@test.example"]]
        assert stats.delivery.sent == 2 and stats.delivery.failed == 3
        assert h.query(sa.select(SUPPRESSIONS)) == []  # none of it says anything about a reader's address
        await h.tick(T0 + HOUR)  # nothing comes back every lease period
        assert len(capture.messages) == 2
        await h.mailer.close()

    run(scenario())


def test_a_message_whose_transport_raises_fails_alone(sqlite_url, capture):
    async def scenario():
        h = Harness(sqlite_url, capture.port, sales_webhook_url="https://crm.example/hooks", webhook_secret="s")
        h.daemon = daemon_for(h.nurture, TransportRouter(h.mailer), worker="test", seed=1)  # no webhook transport
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}), ("ann@acme.example", "demo.requested", T0, {}))
        stats = await h.tick()
        rows = {row.kind: row for row in h.outbox()}
        assert rows["sales"].status == "sent"
        assert rows["webhook"].status == "failed" and rows["webhook"].leased_by is None
        assert rows["webhook"].last_error.startswith("could not be sent: LookupError: a webhook is queued but no")
        assert stats.delivery.failed == 1
        await h.mailer.close()

    run(scenario())


def test_a_template_that_never_ends_fails_its_send_alone(sqlite_url, capture, tmp_path):
    campaign = campaign_copy(tmp_path)
    (campaign / "templates" / "hello.html").write_text(
        '{% block subject %}Hello{% endblock %}<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
        '{% if lead.plan == "loop" %}{% for i in range(100000) %}{% for j in range(100000) %}'
        '{{ j }}{% endfor %}{% endfor %}{% endif %}')

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads({**ANN, "plan": "loop"}, BOB)
        h.events(("ann@acme.example", "signed.up", T0, {}), ("bob@acme.example", "signed.up", T0, {}))
        stats = await h.tick()
        rows = {row.to_address: row for row in h.outbox()}
        assert rows["bob@acme.example"].status == "sent"
        assert rows["ann@acme.example"].status == "failed"
        assert rows["ann@acme.example"].last_error.startswith("render: template hello.html")
        assert "limit" in rows["ann@acme.example"].last_error
        assert stats.delivery.sent == 1 and stats.delivery.failed == 1
        await h.mailer.close()

    run(scenario())


# ----- bounces are events; our own faults never suppress a reader -------------------------------------------


class Refusing:
    """An SMTP server that refuses ``address`` at RCPT with ``reply`` and accepts everyone else."""

    def __init__(self, address: str, reply: str) -> None:
        self.address, self.reply = address, reply
        self.accepted: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if address == self.address:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.accepted.append(envelope.content)
        return "250 OK"




def test_a_bounce_is_recorded_once_as_an_event_that_scoring_sees(db_url, tmp_path):
    campaign = campaign_copy(tmp_path)
    source = campaign / "journeys" / "campaign.nurture"
    source.write_text(source.read_text().replace("+50 per demo.requested",
                                                 "+50 per demo.requested\n  -20 per email.bounced"))
    handler = Refusing("ann@acme.example", "550 5.1.1 <ann@acme.example>: user unknown")

    async def scenario(port):
        h = Harness(db_url, port, campaign=campaign)
        h.leads(ANN, BOB)
        h.events(("ann@acme.example", "signed.up", T0, {}), ("bob@acme.example", "signed.up", T0, {}))
        await h.tick()
        rows = {row.to_address: row for row in h.outbox()}
        assert rows["ann@acme.example"].status == "failed" and rows["bob@acme.example"].status == "sent"
        [bounce] = h.query(sa.select(EVENTS).where(EVENTS.c.type == "email.bounced"))
        assert bounce.lead_id == rows["ann@acme.example"].lead_id and bounce.at == T0
        assert bounce.props == {"reason": "550 5.1.1 <ann@acme.example>: user unknown"}
        assert bounce.key == f"id:bounce:{rows['ann@acme.example'].key}"
        [line] = h.query(sa.select(LEDGER).where(LEDGER.c.lead_id == bounce.lead_id))
        assert line.points == -20  # scored like any event: through ingestion
        assert [s.email for s in h.query(sa.select(SUPPRESSIONS))] == ["ann@acme.example"]

        # the daemon died after the bounce was stored, before the outcome was: the message is sent again
        with h.nurture.store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE outbox SET status = 'queued', attempts = 0, last_error = NULL "
                                 "WHERE to_address = 'ann@acme.example'"))
            conn.execute(SUPPRESSIONS.delete())
        await h.tick(T0 + HOUR)
        assert len(h.query(sa.select(EVENTS).where(EVENTS.c.type == "email.bounced"))) == 1
        assert len(h.query(sa.select(LEDGER).where(LEDGER.c.lead_id == bounce.lead_id))) == 1
        await h.mailer.close()

    with serving(handler) as port:
        run(scenario(port))


class RefusingData(Refusing):
    """Refuses every message at DATA with ``reply``."""

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.reply


@pytest.mark.parametrize("reply", ["554 5.7.1 Message rejected: spam content", "500 Line too long"])
def test_a_refusal_of_our_message_fails_it_but_never_suppresses_the_reader(sqlite_url, reply):
    handler = RefusingData("", reply)

    async def scenario(port):
        h = Harness(sqlite_url, port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [row] = h.outbox()
        assert row.status == "failed" and row.last_error == reply
        assert h.query(sa.select(SUPPRESSIONS)) == []
        assert h.query(sa.select(EVENTS).where(EVENTS.c.type == "email.bounced")) == []
        await h.tick(T0 + 2 * DAY)  # the journey's next email is still tried, not dropped as suppressed
        assert [(r.status, r.last_error) for r in h.outbox()] == [("failed", reply), ("failed", reply)]
        await h.mailer.close()

    with serving(handler) as port:
        run(scenario(port))


def test_a_huge_subject_fails_at_compose_time_and_the_reader_stays_subscribed(sqlite_url, capture, tmp_path):
    campaign = campaign_copy(tmp_path)
    (campaign / "templates" / "hello.html").write_text(
        '{% block subject %}{% for i in range(1000) %}Pricing{{ i }}{% endfor %}{% endblock %}'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads(ANN, BOB)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [row] = h.outbox()
        assert row.status == "failed" and capture.messages == []
        assert row.last_error.startswith("compose: the subject is ") and "at most 1,000" in row.last_error
        assert h.query(sa.select(SUPPRESSIONS)) == []
        await h.mailer.close()

    run(scenario())
