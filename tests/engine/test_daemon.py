"""The daemon end to end: journeys, sales alerts, consent, pacing, DST, retries, bounces, edits mid-flight.

Every test delivers over SMTP to a real aiosmtpd server on 127.0.0.1 and reads what arrived.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from engine.core.journeys import Enqueue, MessageKind
from engine.daemon.build import daemon_for, router_for
from engine.daemon.journeys import JourneyRunner
from engine.store.tables import ENROLLMENTS, LEADS, SIGNALS, SUPPRESSIONS

from .daemon_helpers import ANN, CAMPAIGN, DAY, T0, Harness, message_ids, parse, run, serving


def test_journey_sends_waits_branches_and_finishes(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        assert len(capture.messages) == 1
        hello = parse(capture.messages[0][2])
        assert hello["Subject"] == "Hello for Ann" and hello["To"] == "ann@acme.example"
        assert hello["From"] == "Test Co <hello@test.example>"
        assert hello["Message-ID"] == h.outbox()[0].message_id
        unsubscribe = hello["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://n.test.example/u/") and "<mailto:hello@test.example" in unsubscribe
        assert hello["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert hello.get_content_type() == "multipart/alternative"
        html = hello.get_body(("html",)).get_content()
        assert "https://n.test.example/t/c/" in html and "https://n.test.example/t/o/" in html
        assert "https://test.example/docs" not in html  # links are tracked, never bare

        await h.tick(T0 + DAY)  # the journey waits two days
        assert len(capture.messages) == 1
        await h.tick(T0 + 2 * DAY)  # Wednesday 09:00 New York: no page view since hello -> nudge
        assert [parse(m[2])["Subject"] for m in capture.messages] == ["Hello for Ann", "Nudge for Ann"]

        h.events(("ann@acme.example", "page.viewed", T0 + 2 * DAY + dt.timedelta(hours=2), {"url": "/docs/a"}))
        await h.tick(T0 + 2 * DAY + dt.timedelta(hours=2))
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert (enrollment.status, enrollment.end_reason) == ("done", "finished")
        [lead] = h.query(sa.select(LEADS.c.attributes))
        assert lead.attributes["plan"] == "nurtured"  # the `set` step ran after the wait was woken
        await h.mailer.close()

    run(scenario())


def test_restarted_daemon_never_sends_a_step_twice(sqlite_url, capture):
    async def scenario():
        h = Harness(sqlite_url, capture.port)
        h.leads(ANN, {**ANN, "email": "bob@acme.example", "first_name": "Bob"})
        h.events(("ann@acme.example", "signed.up", T0, {}), ("bob@acme.example", "signed.up", T0, {}))
        await h.tick()
        await h.mailer.close()
        again = Harness(sqlite_url, capture.port)  # a new process: same store, fresh memory
        for hours in range(0, 72, 6):
            await again.tick(T0 + dt.timedelta(hours=hours))
        ids = message_ids(capture.messages)
        assert len(ids) == len(set(ids)) == 4  # hello and nudge for each, once
        await again.mailer.close()

    run(scenario())


def test_sales_alert_once_per_transition_and_journey_exits(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}),
                 ("ann@acme.example", "demo.requested", T0 + dt.timedelta(hours=1), {}))
        await h.tick(T0 + dt.timedelta(hours=1))
        await h.tick(T0 + dt.timedelta(hours=2))
        alerts = [parse(d) for _, rcpt, d in capture.messages if rcpt == ["sales@test.example"]]
        assert len(alerts) == 1 and alerts[0]["Subject"] == "New SQL: ann@acme.example"
        assert "List-Unsubscribe" not in alerts[0]  # an internal notification, not marketing
        body = alerts[0].get_body(("html",)).get_content()
        assert "+50 per demo.requested: 50" in body and "(no plan yet)" in body  # unset attributes are None
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert enrollment.status == "exited" and enrollment.end_reason == "exit when stage becomes sql"
        await h.mailer.close()

    run(scenario())


def test_unsubscribed_between_enqueue_and_send_is_not_sent(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        h.daemon.journeys.react(T0)
        h.daemon.journeys.run_steps(T0)
        assert [row.status for row in h.outbox()] == ["queued"]
        with h.nurture.store.engine.begin() as conn:
            conn.execute(LEADS.update().values(unsubscribed_at=T0))
        await h.tick()
        assert capture.messages == []
        assert [row.status for row in h.outbox()] == ["suppressed"]
        await h.mailer.close()

    run(scenario())


def test_quiet_hours_defer_to_the_morning_in_the_leads_timezone(db_url, capture):
    async def scenario():
        late = dt.datetime(2026, 3, 3, 3, 0, tzinfo=dt.UTC)  # 22:00 in New York: quiet until 07:00 (12:00 UTC)
        h = Harness(db_url, capture.port, start=late)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", late, {}))
        await h.tick()
        [row] = h.outbox()
        assert capture.messages == [] and row.status == "queued" and row.deferrals == 1
        assert row.due_at == dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)
        assert row.last_error.startswith("quiet hours ") and row.last_error.endswith("(America/New_York)")
        await h.tick(dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC))
        assert len(capture.messages) == 1
        await h.mailer.close()

    run(scenario())


def test_frequency_cap_defers_the_third_email_of_a_day(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port)
        h.leads(ANN)
        version_id, rules = h.nurture.rules()
        with h.nurture.store.transaction() as tx:
            runner = JourneyRunner(tx, rules, version_id, T0, lambda *args: None)
            lead = runner.leads([1])[1]
            for i in range(3):
                runner.enqueue(Enqueue(f"manual:{i}", lead.id, MessageKind.MARKETING, lead.email, "hello",
                                       T0 + dt.timedelta(minutes=i), None, f"manual_{i}", None))
        await h.tick(T0 + dt.timedelta(minutes=5))
        rows = h.outbox()
        assert [r.status for r in rows] == ["sent", "sent", "queued"]
        assert rows[2].due_at == rows[0].sent_at + DAY
        await h.tick(rows[2].due_at)
        assert len(capture.messages) == 3
        await h.mailer.close()

    run(scenario())


def test_nine_oclock_send_stays_nine_oclock_across_dst(db_url, capture):
    async def scenario():
        friday = dt.datetime(2026, 3, 6, 14, 0, tzinfo=dt.UTC)  # 09:00 EST; DST starts Sunday March 8
        h = Harness(db_url, capture.port, start=friday)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", friday, {}))
        await h.tick()
        await h.tick(friday + 2 * DAY)  # Sunday: the wait is over, the send waits for a weekday 09:00
        nudge = h.outbox()[-1]
        assert nudge.template == "nudge"
        assert nudge.due_at == dt.datetime(2026, 3, 9, 13, 0, tzinfo=dt.UTC)  # 09:00 EDT, not 14:00 UTC
        await h.mailer.close()

    run(scenario())


class Flaky:
    """An SMTP handler that answers ``reply`` to the first ``failures`` messages, then accepts."""

    def __init__(self, reply: str, failures: int, stage: str = "DATA") -> None:
        self.reply, self.failures, self.stage = reply, failures, stage
        self.accepted: list[bytes] = []

    async def handle_MAIL(self, server, session, envelope, address, options) -> str:
        if self.stage == "MAIL" and self.failures > 0:
            self.failures -= 1
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if self.stage == "RCPT" and self.failures > 0:
            self.failures -= 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.stage == "DATA" and self.failures > 0:
            self.failures -= 1
            if self.reply == "drop":
                server.transport.close()
                return "421 closing"
            return self.reply
        self.accepted.append(envelope.content)
        return "250 OK"




@pytest.mark.parametrize("reply", ["451 4.3.0 try again later", "421 4.7.0 too busy", "drop"])
def test_temporary_failures_retry_with_backoff_then_deliver(sqlite_url, reply):
    handler = Flaky(reply, failures=2)

    async def scenario(port):
        h = Harness(sqlite_url, port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [row] = h.outbox()
        assert row.status == "queued" and row.attempts == 1 and row.due_at > T0
        if reply != "drop":
            assert row.last_error == reply
        first_delay = row.due_at - T0
        await h.tick(row.due_at)
        [row] = h.outbox()
        assert row.attempts == 2 and row.due_at - h.clock.now() > first_delay * 1.4  # the wait grows
        await h.tick(row.due_at)
        [row] = h.outbox()
        assert row.status == "sent" and row.attempts == 3 and len(handler.accepted) == 1
        await h.mailer.close()

    with serving(handler) as port:
        run(scenario(port))


def test_permanent_failure_is_recorded_and_the_address_suppressed(sqlite_url):
    handler = Flaky("550 5.1.1 mailbox unavailable", failures=1, stage="RCPT")

    async def scenario(port):
        h = Harness(sqlite_url, port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [row] = h.outbox()
        assert row.status == "failed" and row.last_error.startswith("550") and "mailbox unavailable" in row.last_error
        [suppressed] = h.query(sa.select(SUPPRESSIONS))
        assert suppressed.email == "ann@acme.example" and "550" in suppressed.reason
        await h.tick(T0 + 2 * DAY)  # the journey goes on, but nothing more reaches a bounced address
        assert [r.status for r in h.outbox()] == ["failed", "suppressed"] and handler.accepted == []
        await h.mailer.close()

    with serving(handler) as port:
        run(scenario(port))


def test_render_error_fails_one_send_and_not_the_others(sqlite_url, capture, tmp_path):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    # a template that checks fine but breaks at run time for leads without a plan
    (campaign / "templates" / "hello.html").write_text(
        '{% block subject %}Hello{% endblock %}<p>Your plan: {{ lead.plan.upper() }}</p>'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>')

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads(ANN, {**ANN, "email": "bob@acme.example", "plan": "pro"})
        h.events(("ann@acme.example", "signed.up", T0, {}), ("bob@acme.example", "signed.up", T0, {}))
        stats = await h.tick()
        by_lead = {r.to_address: r for r in h.outbox()}
        assert by_lead["bob@acme.example"].status == "sent"
        assert by_lead["ann@acme.example"].status == "failed"
        assert by_lead["ann@acme.example"].last_error.startswith("render: ")
        assert "hello.html" in by_lead["ann@acme.example"].last_error
        assert stats.delivery.sent == 1 and stats.delivery.failed == 1
        await h.mailer.close()

    run(scenario())


def test_journey_edited_mid_flight_moves_leads_by_label(sqlite_url, capture, tmp_path):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        # in the wait: the branch labelled tips runs after it
        assert (enrollment.step, enrollment.status) == ("wait_2_days", "waiting")
        source = campaign / "journeys" / "campaign.nurture"
        text = source.read_text()
        start, end = text.index("  tips: if"), text.index("  wait up to 3 days")
        source.write_text(text[:start] + '  send "nudge"\n' + text[end:])  # the branch is gone
        plan = h.nurture.apply(dry_run=True)
        assert plan.migration.lines() == ["onboarding: 1 lead stays at `wait_2_days`"]
        assert len(h.query(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.version_id == plan.version_id))) == 0
        applied = h.nurture.apply()
        assert applied.migration.moves == plan.migration.moves and "~ journey onboarding" in applied.changes
        await h.tick(T0 + 2 * DAY)
        assert [parse(m[2])["Subject"] for m in capture.messages] == ["Hello for Ann", "Nudge for Ann"]
        await h.mailer.close()

    run(scenario())


def test_time_alone_can_enter_a_journey(sqlite_url, capture, tmp_path):
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    with (campaign / "journeys" / "winback.nurture").open("w") as f:
        f.write('journey winback {\n  enter when engagement >= 10 and not page.viewed within 3 days\n'
                '  send "tips"\n}\n')

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads(ANN)
        h.events(("ann@acme.example", "page.viewed", T0, {"url": "/blog"}))
        await h.tick(T0 + DAY)  # viewed a day ago: not yet
        assert capture.messages == []
        await h.tick(T0 + 4 * DAY)  # no event since: only the periodic look can notice
        assert [parse(m[2])["Subject"] for m in capture.messages] == ["Tips for Ann"]
        [enrollment] = h.query(sa.select(ENROLLMENTS))
        assert enrollment.journey == "winback" and enrollment.status == "done"
        await h.mailer.close()

    run(scenario())


def test_a_refused_sender_fails_the_message_but_never_suppresses_the_lead(sqlite_url):
    handler = Flaky("553 5.7.1 sender address rejected", failures=1, stage="MAIL")

    async def scenario(port):
        h = Harness(sqlite_url, port)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        [row] = h.outbox()
        assert row.status == "failed" and row.last_error.startswith("553")
        assert h.query(sa.select(SUPPRESSIONS)) == []  # our configuration's fault, not the lead's address
        await h.mailer.close()

    with serving(handler) as port:
        run(scenario(port))


def test_a_step_inserted_right_after_the_wait_a_lead_is_in_runs(sqlite_url, capture, tmp_path):
    """A lead waiting in `wait 2 days` is in the wait: a step added right after it is not skipped."""
    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=campaign)
        h.leads(ANN)
        h.events(("ann@acme.example", "signed.up", T0, {}))
        await h.tick()
        source = campaign / "journeys" / "campaign.nurture"
        source.write_text(source.read_text().replace("  wait 2 days\n", '  wait 2 days\n  inserted: send "nudge"\n'))
        plan = h.nurture.apply(dry_run=True)
        assert plan.migration.lines() == ["onboarding: 1 lead stays at `wait_2_days`"]
        h.nurture.apply()
        await h.tick(T0 + 2 * DAY)
        steps = [r.step for r in h.outbox()]
        assert steps[:2] == ["hello", "inserted"]
        await h.mailer.close()

    run(scenario())


def test_a_burst_much_larger_than_a_batch_is_reacted_to_in_one_tick(sqlite_url, capture):
    """Journeys react to every changed lead of a burst in the next tick, batch after batch, not a batch a tick."""

    async def scenario():
        h = Harness(sqlite_url, capture.port)
        # without a budget, so the test does not depend on how fast this machine is
        daemon = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="burst", batch=20, budgeted=False)
        leads = [{**ANN, "email": f"lead{i}@acme.example"} for i in range(150)]
        h.leads(*leads)
        h.events(*((lead["email"], "signed.up", T0, {}) for lead in leads))
        h.clock.set(T0)
        stats = await daemon.tick()
        assert stats.signals >= 150  # 150 leads changed; batches of 20 would take 8 ticks
        assert h.query(sa.select(sa.func.count()).select_from(SIGNALS)) == [(0,)]
        enrolled = h.query(sa.select(sa.func.count()).select_from(ENROLLMENTS))
        assert enrolled == [(150,)]
        await daemon.close()
        await h.mailer.close()

    run(scenario())
