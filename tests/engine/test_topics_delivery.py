"""Consent per topic at send time: a lead who left a topic gets the other topic's email and the email with no
topic, but not this topic's, delivered over SMTP to a real server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.store.tables import OUTBOX, TOPIC_OPTOUTS

from .daemon_helpers import ANN, BOB, T0, Harness, parse, run

TOPICS_CAMPAIGN = Path(__file__).parent / "topics_campaign"


def _statuses(h: Harness, email: str) -> dict[str, tuple[str, str | None, str | None]]:
    rows = h.query(sa.select(OUTBOX.c.template, OUTBOX.c.status, OUTBOX.c.topic, OUTBOX.c.last_error)
                   .where(OUTBOX.c.to_address == email))
    return {row.template: (row.status, row.topic, row.last_error) for row in rows}


def test_a_lead_who_left_a_topic_gets_every_email_but_that_topics(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=TOPICS_CAMPAIGN)
        h.leads(ANN, BOB)
        h.events((ANN["email"], "signed.up", T0, {}), (BOB["email"], "signed.up", T0, {}))
        # the emails are queued first: consent is checked when they go out, not only when they are queued
        h.daemon.journeys.react(T0)
        h.daemon.journeys.run_steps(T0)
        assert {row.template: row.topic for row in h.outbox() if row.to_address == ANN["email"]} == {
            "product_news": "product", "event_invite": "events", "account_notice": None}
        with h.nurture.store.transaction() as tx:
            ann = tx.history.lead_id(ANN["email"])
            assert tx.topics.leave(ann, ["product"], T0) == {"product"}
            assert tx.topics.leave(ann, ["product"], T0) == set()  # leaving twice changes nothing
        stats = await h.tick()
        await h.mailer.close()

        received = {(to[0], str(parse(data)["Subject"])) for _, to, data in capture.messages}
        assert (ANN["email"], "What is new") not in received
        assert {(ANN["email"], "Join our webinar"), (ANN["email"], "Your account")} <= received
        assert {(BOB["email"], s) for s in ("What is new", "Join our webinar", "Your account")} <= received
        assert len(capture.messages) == 5
        assert stats.delivery.suppressed == 1
        # never sent, never lost: the email stays in the outbox, held back with the reason
        assert _statuses(h, ANN["email"]) == {
            "product_news": ("suppressed", "product", "the lead left topic `product` at send time"),
            "event_invite": ("sent", "events", None),
            "account_notice": ("sent", None, None)}

    run(scenario())


def test_rejoining_a_topic_lets_its_next_emails_through(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=TOPICS_CAMPAIGN)
        h.leads(ANN)
        with h.nurture.store.transaction() as tx:
            ann = tx.history.lead_id(ANN["email"])
            tx.topics.leave(ann, ["product", "events"], T0)
            assert tx.topics.rejoin(ann, ["product", "nonexistent"]) == {"product"}
            assert tx.topics.of_lead(ann) == {"events"}
            assert tx.topics.among([ann, ann + 1]) == {ann: {"events"}}
        h.events((ANN["email"], "signed.up", T0, {}))
        await h.tick(T0)
        await h.mailer.close()
        subjects = sorted(str(parse(data)["Subject"]) for _, _, data in capture.messages)
        assert subjects == ["What is new", "Your account"]
        assert h.query(sa.select(TOPIC_OPTOUTS.c.topic)) == [("events",)]

    run(scenario())


def test_every_marketing_email_links_to_the_preference_page(sqlite_url, capture):
    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=TOPICS_CAMPAIGN)
        h.leads(ANN)
        h.events((ANN["email"], "signed.up", T0, {}))
        await h.tick(T0)
        await h.mailer.close()
        for _, _, data in capture.messages:
            html = parse(data).get_body(("html",)).get_content()
            # its own link, not a tracked click (opening one's settings is not interest)
            assert 'href="https://n.test.example/p/' in html
            assert "/t/c/" in html  # other links are tracked as usual

    run(scenario())
