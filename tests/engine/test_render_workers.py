"""Rendering in worker processes (`render_workers`): the same bytes as rendering in the daemon's own process,
failures kept to their message, and a worker that dies costs one batch, not the daemon."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from engine.core.journeys import Enqueue, MessageKind
from engine.daemon.build import daemon_for, router_for
from engine.daemon.journeys import JourneyRunner
from engine.delivery.compose import Composer
from engine.delivery.pool import PooledComposer
from engine.delivery.render import RenderError
from engine.store.outbox import QueuedMessage

from .daemon_helpers import ANN, T0, Harness, parse, run

NAMES = ["Ann", "Bob", "Bad", "Cy"]


def _queue(h: Harness) -> None:
    h.leads(*({**ANN, "email": f"{name.lower()}@acme.example", "first_name": name} for name in NAMES))
    version_id, rules = h.nurture.rules()
    now = h.clock.now()
    with h.nurture.store.transaction() as tx:
        runner = JourneyRunner(tx, rules, version_id, now, lambda *args: None)
        for lead in runner.leads(range(1, len(NAMES) + 1)).values():
            runner.enqueue(Enqueue(f"hello:{lead.id}", lead.id, MessageKind.MARKETING, lead.email, "hello", now,
                                   "onboarding", "hello", None))


def test_a_daemon_rendering_in_a_worker_sends_the_bytes_it_would_render_itself(tmp_path, capture):
    async def deliver(url: str, workers: int) -> int:
        h = Harness(url, capture.port, render_workers=workers)
        _queue(h)
        stats = await h.daemon.deliver()
        await h.daemon.close()
        return stats.sent

    assert run(deliver(f"sqlite:///{tmp_path / 'itself.db'}", 0)) == len(NAMES)
    itself = {to[0]: data for _, to, data in capture.messages}
    capture.messages.clear()
    assert run(deliver(f"sqlite:///{tmp_path / 'pooled.db'}", 1)) == len(NAMES)
    pooled = {to[0]: data for _, to, data in capture.messages}
    assert sorted(pooled) == sorted(itself) == sorted(f"{n.lower()}@acme.example" for n in NAMES)
    for address, data in pooled.items():  # the same key, clock and message keys: the very same bytes
        assert data == itself[address]
    assert "Hello for Bad" in parse(pooled["bad@acme.example"])["Subject"]


FAILING = {"templates/greet.html": '{% block subject %}Hi {{ lead.first_name }}{% endblock %}'
                                   '{% block body %}<p>{{ 1 // (lead.first_name != "Bad") }}</p>{% endblock %}'}


def _drafts() -> list[tuple[QueuedMessage, object]]:
    def context_for(name: str):
        return lambda unsubscribe: {"lead": {"first_name": name}, "unsubscribe_url": unsubscribe}

    return [(QueuedMessage(n, f"greet:{n}", n, "marketing", None, "greet", f"{name.lower()}@acme.example",
                           f"<greet.{n}@nurture>", 0, 0, None), context_for(name))
            for n, name in enumerate(NAMES, 1)]


def test_a_template_failing_in_a_worker_fails_that_message_alone_with_the_same_reason():
    settings = {"sender address": "hello@acme.example", "sender name": "Acme"}
    now = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
    itself = Composer("https://n.test.example", lambda: "test-key")
    pooled = PooledComposer(Composer("https://n.test.example", lambda: "test-key"), 2)
    try:
        expected = itself.compose_all(_drafts(), settings, (1, FAILING), now)  # type: ignore[arg-type]
        got = pooled.compose_all(_drafts(), settings, (1, FAILING), now)  # type: ignore[arg-type]
    finally:
        pooled.close()
    assert [type(r) for r in got] == [bytes, bytes, RenderError, bytes]
    assert got[0] == expected[0] and got[1] == expected[1] and got[3] == expected[3]
    assert str(got[2]) == str(expected[2]) and "division" in str(got[2])


def test_a_render_worker_that_dies_fails_one_batch_and_the_next_batch_starts_another():
    settings = {"sender address": "hello@acme.example"}
    now = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
    templates = (1, {"templates/greet.html": FAILING["templates/greet.html"].replace("Bad", "nobody")})
    before = {child.pid for child in multiprocessing.active_children()}
    pooled = PooledComposer(Composer("https://n.test.example", lambda: "test-key"), 1)
    try:
        pooled.ready()
        [worker] = [child for child in multiprocessing.active_children() if child.pid not in before]
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
        with pytest.raises(BrokenProcessPool):
            pooled.compose_all(_drafts(), settings, templates, now)  # type: ignore[arg-type]
        again = pooled.compose_all(_drafts(), settings, templates, now)  # type: ignore[arg-type]
        assert all(isinstance(data, bytes) for data in again) and len(again) == len(NAMES)
    finally:
        pooled.close()


def test_a_daemon_whose_worker_died_sends_the_batch_after_the_lease(tmp_path, capture):
    """The batch a dead worker was rendering stays leased, unsent; once the lease runs out the next tick renders
    it in a new worker and sends each message once."""

    async def scenario() -> tuple[int, int]:
        h = Harness(f"sqlite:///{tmp_path / 'n.db'}", capture.port, render_workers=1)
        _queue(h)
        daemon = daemon_for(h.nurture, router_for(h.nurture.config, h.mailer), worker="dies", seed=1)
        before = {child.pid for child in multiprocessing.active_children()}
        daemon.composer.ready()
        for child in multiprocessing.active_children():
            if child.pid not in before and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)
                child.join()
        with pytest.raises(BrokenProcessPool):
            await daemon.deliver()
        first = len(capture.messages)
        h.clock.set(T0 + dt.timedelta(minutes=10))  # the lease (120 s) has run out
        stats = await daemon.deliver()
        await daemon.close()
        return first, stats.sent

    first, sent = run(scenario())
    assert first == 0 and sent == len(NAMES)
    addresses = [to[0] for _, to, _ in capture.messages]
    assert sorted(addresses) == sorted(f"{n.lower()}@acme.example" for n in NAMES)
