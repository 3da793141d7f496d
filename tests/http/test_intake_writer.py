"""The intake writer under concurrent requests from one event loop: every request gets exactly its own answer."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from engine.store.privacy import REFUSED
from engine.store.tables import EVENTS

from .live import TOKENS, Live, event
from .test_intake import AT, pricing


def _post_all(live: Live, payloads: list) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.base, headers={"Authorization": f"Bearer {TOKENS[0]}"},
                                     timeout=60, limits=httpx.Limits(max_connections=16)) as client:
            return list(await asyncio.gather(*(client.post("/v1/events", json=p) for p in payloads)))

    return asyncio.run(go())


def test_concurrent_single_events_new_repeated_refused_and_bad_each_get_their_own_answer(live: Live) -> None:
    """Passes that take many requests at once (all new; some new and some not; refused addresses) still
    answer each request for its own events."""
    known = [pricing(f"old{i}@acme.example", minute=i) for i in range(5)]
    assert live.client.post("/v1/events", json=known).json()["accepted"] == 5
    live.client.post("/v1/events", json=pricing("gone@acme.example"))
    with live.nurture.store.transaction() as tx:
        assert tx.privacy.erase("gone@acme.example", "test", AT) is not None

    fresh = [pricing(f"new{i}@acme.example", minute=i) for i in range(40)]
    refused = [event("gone@acme.example", "page.viewed", AT + dt.timedelta(minutes=i), url="/") for i in range(3)]
    bad = [{"lead": "bad@acme.example", "type": "no.such.event", "at": AT.isoformat()}]
    payloads = fresh + known + refused + bad + fresh[:5]
    bodies = [r.json() for r in _post_all(live, payloads)]

    new, again = bodies[:40], bodies[40:45]
    assert sum(b["accepted"] for b in new + bodies[-5:]) == 40  # each new event taken once, whichever came first
    assert sum(b["duplicates"] for b in new + bodies[-5:]) == 5
    assert all((b["accepted"], b["duplicates"], b["rejected"]) == (0, 1, []) for b in again)
    for b in bodies[45:48]:
        assert (b["accepted"], b["duplicates"]) == (0, 0) and [r["error"] for r in b["rejected"]] == [REFUSED]
    [wrong] = bodies[48]["rejected"]
    assert wrong["index"] == 0 and wrong["field"] == "type" and "no.such.event" in wrong["error"]
    assert live.count(EVENTS) == 45


def test_events_from_the_loop_and_from_thread_pool_routes_share_passes_and_each_get_their_answer(live: Live) -> None:
    """Sales feedback runs in the thread pool and hands its event to the loop's writer, beside single events."""
    assert live.client.post("/v1/events", json=pricing("ann@acme.example")).json()["accepted"] == 1

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.base, headers={"Authorization": f"Bearer {TOKENS[0]}"},
                                     timeout=60, limits=httpx.Limits(max_connections=16)) as client:
            singles = [client.post("/v1/events", json=pricing(f"new{i}@acme.example", minute=i)) for i in range(20)]
            feedback = [client.post("/v1/leads/ann@acme.example/feedback",
                                    json={"verdict": "reject", "reason": "no budget", "id": f"crm-{i}"})
                        for i in range(5)]
            return list(await asyncio.gather(*singles, *feedback))

    answers = asyncio.run(go())
    assert [r.status_code for r in answers] == [200] * 25
    assert all(r.json()["accepted"] == 1 for r in answers[:20])
    assert all(r.json()["duplicate"] is False for r in answers[20:])
    assert live.count(EVENTS) == 1 + 20 + 5
