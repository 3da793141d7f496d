"""Delivery as a pipeline: batches prepared while others send, outcomes kept in groups with the bytes sent."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.core.clock import VirtualClock
from engine.core.journeys import Enqueue, MessageKind
from engine.daemon.build import composer_for, daemon_for, router_for
from engine.daemon.journeys import JourneyRunner
from engine.daemon.prepare import DeliveryStats, Preparer
from engine.store.outbox import SendOutcome
from engine.store.tables import OUTBOX

from .daemon_helpers import ANN, T0, Harness, message_ids, parse, run, serving


class FailsFirst:
    """Answers 451 to the first message, then accepts and keeps every message."""

    def __init__(self) -> None:
        self.failures = 1
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.failures:
            self.failures -= 1
            return "451 4.3.0 try again later"
        self.accepted.append(envelope.content)
        return "250 OK"


def _queue(h: Harness, count: int) -> None:
    """``count`` leads, each with one welcome email due now."""
    h.leads(*({**ANN, "email": f"lead{i}@acme.example", "first_name": f"Lead{i}"} for i in range(count)))
    version_id, rules = h.nurture.rules()
    now = h.clock.now()
    with h.nurture.store.transaction() as tx:
        runner = JourneyRunner(tx, rules, version_id, now, lambda *args: None)
        for lead in runner.leads(range(1, count + 1)).values():
            runner.enqueue(Enqueue(f"backlog:{lead.id}", lead.id, MessageKind.MARKETING, lead.email, "hello", now,
                                   "onboarding", "hello", None))


def test_a_backlog_of_many_batches_goes_out_once_each_with_the_bytes_kept(sqlite_url, capture):
    """Batches of 3 keep the senders busy while the next is prepared; every message is sent once, recorded
    with the very bytes the server received, and nothing is left leased."""

    async def scenario():
        h = Harness(sqlite_url, capture.port)
        _queue(h, 25)
        daemon = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="pipeline", batch=3)
        stats = await daemon.deliver()
        await daemon.close()
        return h, stats

    h, stats = run(scenario())
    ids = message_ids(capture.messages)
    assert stats.sent == 25 and len(ids) == len(set(ids)) == 25
    rows = h.outbox()
    assert {r.status for r in rows} == {"sent"} and all(r.leased_by is None and r.attempts == 1 for r in rows)
    received = {parse(data)["Message-ID"]: parse(data) for _, _, data in capture.messages}
    for row in rows:  # what the store keeps is what the reader got
        kept = parse(row.data)
        assert kept["Message-ID"] == row.message_id
        assert kept.get_body(("plain",)).get_content() == received[row.message_id].get_body(("plain",)).get_content()


def test_a_retry_goes_out_as_the_bytes_of_its_first_attempt(sqlite_url):
    handler = FailsFirst()

    async def scenario(port):
        h = Harness(sqlite_url, port)
        _queue(h, 1)
        await h.daemon.deliver()
        [row] = h.outbox()
        assert row.status == "queued" and row.attempts == 1 and row.leased_by is None
        first = row.data
        assert first is not None and parse(first)["Message-ID"] == row.message_id  # kept for the retry
        h.clock.set(row.due_at + dt.timedelta(hours=1))  # a later Date, were it composed again
        await h.daemon.deliver()
        [row] = h.outbox()
        assert row.status == "sent" and row.attempts == 2 and row.data == first
        await h.daemon.close()
        return first

    with serving(handler) as port:
        first = run(scenario(port))
    [accepted] = handler.accepted
    assert parse(accepted)["Date"] == parse(first)["Date"]


def test_outcomes_of_a_group_are_kept_only_where_the_lease_is_still_held(db_url):
    async def scenario(port):
        h = Harness(db_url, port)
        _queue(h, 3)
        store, clock = h.nurture.store, VirtualClock(T0)
        with store.transaction() as tx:
            ids = tx.outbox.claim("first", 10, dt.timedelta(minutes=2), clock)
            messages = tx.outbox.load(ids)
        with store.engine.begin() as conn:  # the lease on the second ran out and another daemon took it
            conn.execute(OUTBOX.update().where(OUTBOX.c.id == ids[1]).values(leased_by="second"))
        outcomes = [SendOutcome("sent", 1, T0), SendOutcome("sent", 1, T0),
                    SendOutcome("retry", 1, T0, "451 later", T0 + dt.timedelta(minutes=5))]
        with store.transaction() as tx:
            kept = tx.outbox.record_all([(m, o, b"bytes %d" % m.id) for m, o in zip(messages, outcomes, strict=True)],
                                        "first")
        assert kept == [True, False, True]
        rows = {r.id: r for r in h.query(sa.select(OUTBOX))}
        first, taken, retried = (rows[i] for i in ids)
        assert (first.status, first.sent_at is not None, first.leased_by, first.data) == ("sent", True, None,
                                                                                           b"bytes %d" % ids[0])
        assert (taken.status, taken.leased_by, taken.data, taken.attempts) == ("queued", "second", None, 0)
        assert (retried.status, retried.leased_by, retried.last_error, retried.attempts) == ("queued", None,
                                                                                             "451 later", 1)
        assert retried.due_at.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(minutes=5)
        assert retried.data == b"bytes %d" % ids[2]
        await h.daemon.close()

    with serving(FailsFirst()) as port:
        run(scenario(port))


def test_frequency_caps_count_the_batch_still_sending_when_the_next_is_prepared(sqlite_url, capture):
    """The campaign allows 2 emails a day. Ann's first email goes in one batch and her next two in the batch
    prepared while that one sends, before its outcome is kept: the cap still holds her to 2."""

    async def scenario():
        h = Harness(sqlite_url, capture.port, smtp_concurrency=1)  # claims of 8 messages
        h.leads(ANN, *({**ANN, "email": f"lead{i}@acme.example"} for i in range(7)))
        version_id, rules = h.nurture.rules()
        now = h.clock.now()
        with h.nurture.store.transaction() as tx:
            runner = JourneyRunner(tx, rules, version_id, now, lambda *args: None)
            leads = runner.leads(range(1, 9))
            order = [1, *range(2, 9), 1, 1]  # Ann's first email, the others', then Ann's next two
            for n, lead_id in enumerate(order):
                lead = leads[lead_id]
                runner.enqueue(Enqueue(f"capped:{n}", lead.id, MessageKind.MARKETING, lead.email, "hello", now,
                                       "onboarding", f"step_{n}", None))
        daemon = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="capped")
        stats = await daemon.deliver()
        await daemon.close()
        return h, stats

    h, stats = run(scenario())
    to_ann = [to for _, to, _ in capture.messages if to == ["ann@acme.example"]]
    assert len(to_ann) == 2 and stats.sent == 9 and stats.deferred == 1
    [waiting] = [row for row in h.outbox() if row.status == "queued"]
    assert waiting.to_address == "ann@acme.example" and "frequency cap" in waiting.last_error


def test_caps_count_mail_another_daemon_has_cleared_and_not_yet_recorded(db_url, capture):
    """Daemon A has cleared Ann's first two emails and is sending them when daemon B claims her third: B counts
    them (the campaign allows 2 a day) and holds the third back. Once A's lease has run out, they no longer count:
    A is gone, and whoever claims them next clears them again."""
    h = Harness(db_url, capture.port)
    h.leads(ANN)
    version_id, rules = h.nurture.rules()
    now = h.clock.now()
    with h.nurture.store.transaction() as tx:
        runner = JourneyRunner(tx, rules, version_id, now, lambda *args: None)
        [ann] = runner.leads([1]).values()
        for n in range(3):
            runner.enqueue(Enqueue(f"two-daemons:{n}", ann.id, MessageKind.MARKETING, ann.email, "hello", now,
                                   "onboarding", f"step_{n}", None))
    store, lease, templates = h.nurture.store, dt.timedelta(minutes=2), (version_id, h.nurture.version_files)
    daemons = {name: Preparer(store, composer_for(h.nurture), h.clock, name, lease) for name in ("a", "b")}
    with store.transaction() as tx:
        first = tx.outbox.claim("a", 2, lease, h.clock)
    assert len(daemons["a"].prepare(first, rules, templates, now, DeliveryStats())) == 2
    with store.transaction() as tx:
        third = tx.outbox.claim("b", 10, lease, h.clock)
    held_back = DeliveryStats()
    assert daemons["b"].prepare(third, rules, templates, now, held_back) == [] and held_back.deferred == 1
    [row] = [r for r in h.outbox() if r.id in third]
    assert row.status == "queued" and "frequency cap" in row.last_error and row.leased_by is None
    with store.transaction() as tx:
        assert len(tx.outbox.recent_sends([ann.id], now - dt.timedelta(days=1), now)[ann.id]) == 2
        assert tx.outbox.recent_sends([ann.id], now - dt.timedelta(days=1), now + 2 * lease) == {}
