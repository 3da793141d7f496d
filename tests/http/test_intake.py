"""POST /v1/events over a real socket: auth, validation, partial batches, idempotency, limits."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
import sqlalchemy as sa

from engine.http import Limits
from engine.store.tables import EVENTS, LEADS, QUARANTINE

from .live import TOKENS, Live, event

AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def pricing(lead: str, minute: int = 0, **kw) -> dict:
    return event(lead, "page.viewed", AT + dt.timedelta(minutes=minute), url="/pricing", **kw)


# ----- auth ------------------------------------------------------------------------------------


def test_without_a_token_the_answer_is_401_with_a_challenge(live: Live) -> None:
    response = live.anonymous.post("/v1/events", json=pricing("ann@acme.example"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]
    assert live.count(EVENTS) == 0


@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer token-on", "Basic dG9rZW4tb25lOg==", "token-one",
                                    "Bearer token-one,token-two"])
def test_a_wrong_token_is_401(live: Live, header: str) -> None:
    response = live.anonymous.post("/v1/events", json=pricing("ann@acme.example"), headers={"Authorization": header})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert live.count(EVENTS) == 0


@pytest.mark.parametrize("token", TOKENS)
def test_each_configured_token_is_accepted(live: Live, token: str) -> None:
    response = live.anonymous.post("/v1/events", json=pricing("ann@acme.example"),
                                   headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_without_a_configured_token_the_api_is_off(serve: Callable[..., Live], sqlite_url: str) -> None:
    live = serve(sqlite_url, api_token=None)
    response = live.client.post("/v1/events", json=pricing("ann@acme.example"))
    assert response.status_code == 503
    assert "NURTURE_API_TOKEN" in response.json()["error"]
    assert live.count(EVENTS) == 0


# ----- taking events ---------------------------------------------------------------------------


def test_one_event_is_stored_scored_and_readable(live: Live) -> None:
    response = live.client.post("/v1/events", json=pricing("Ann@Acme.example"))
    assert response.status_code == 200
    assert live.scalar(sa.select(LEADS.c.email)) == "ann@acme.example"
    lead = live.client.get("/v1/leads/ann@acme.example").json()
    assert lead["scores"]["engagement"] == 20
    assert lead["recent_events"][0]["props"] == {"url": "/pricing"}


def test_validation_errors_name_the_item_and_field(live: Live) -> None:
    items = [
        pricing("ann@acme.example"),
        {"lead": "not-an-email", "type": "page.viewed", "at": "2026-03-01T09:00:00Z"},
        {"lead": "bob@acme.example", "type": "page.veiwed", "at": "2026-03-01T09:00:00Z"},
        {"lead": "bob@acme.example", "type": "page.viewed", "at": "yesterday"},
        {"lead": "bob@acme.example", "type": "page.viewed", "at": "2026-03-01T09:00:00"},
        {"lead": "bob@acme.example", "type": "page.viewed", "at": "2026-03-01T09:00:00Z", "props": {"path": "/"}},
        {"lead": "bob@acme.example", "type": "page.viewed", "at": "2026-03-01T09:00:00Z", "props": {"url": 5}},
        {"lead": "bob@acme.example", "type": "page.viewed", "at": "2026-03-01T09:00:00Z", "props": []},
        {"type": "page.viewed", "at": "2026-03-01T09:00:00Z"},
        "page.viewed",
        pricing("cid@acme.example"),
    ]
    response = live.client.post("/v1/events", json=items)
    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    found = {r["index"]: (r["field"], r["error"]) for r in body["rejected"]}
    assert {i: f for i, (f, _) in found.items()} == {
        1: "lead", 2: "type", 3: "at", 4: "at", 5: "props.path", 6: "props.url", 7: "props", 8: "lead", 9: None}
    assert "did you mean 'page.viewed'" in found[2][1]
    assert "no timezone" in found[4][1]
    assert "2 of 11" not in body["error"] and "9 of 11 events were rejected" in body["error"]


def test_a_partial_batch_keeps_the_good_and_quarantines_the_bad(live: Live) -> None:
    items = [pricing("ann@acme.example"), {"lead": "bob@acme.example", "type": "nope", "at": "2026-03-01T09:00:00Z"},
             pricing("cid@acme.example")]
    body = live.client.post("/v1/events", json=items).json()
    assert (body["accepted"], [r["index"] for r in body["rejected"]]) == (2, [1])
    assert sorted(live.rows(sa.select(LEADS.c.email)))[0][0] == "ann@acme.example"
    assert live.count(EVENTS) == 2
    kept = live.rows(sa.select(QUARANTINE.c.origin, QUARANTINE.c.line, QUARANTINE.c.raw, QUARANTINE.c.reason))
    assert len(kept) == 1
    origin, line, raw, reason = kept[0]
    assert origin == "http POST /v1/events" and line == 2 and orjson.loads(raw) == items[1]
    assert "unknown event type 'nope'" in reason


def test_reposting_counts_duplicates_by_id_or_by_content(live: Live) -> None:
    batch = [pricing("ann@acme.example", event_id="evt-1"), pricing("ann@acme.example", minute=5)]
    first = live.client.post("/v1/events", json=batch).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    again = live.client.post("/v1/events", json=batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    # the same id with other content is the same event: the first one stands
    changed = live.client.post("/v1/events", json=pricing("ann@acme.example", minute=9, event_id="evt-1")).json()
    assert (changed["accepted"], changed["duplicates"]) == (0, 1)
    within = live.client.post("/v1/events", json=[pricing("bob@acme.example")] * 3).json()
    assert (within["accepted"], within["duplicates"]) == (1, 2)
    assert live.count(EVENTS) == 3


def test_an_empty_list_takes_nothing(live: Live) -> None:
    response = live.client.post("/v1/events", json=[])
    assert response.status_code == 200 and response.json()["accepted"] == 0


@pytest.mark.parametrize("body, message", [(b"{", "not valid JSON"), (b"", "empty"), (b"42", "got int"),
                                           (b'"text"', "got str")])
def test_a_body_that_is_not_events_is_400(live: Live, body: bytes, message: str) -> None:
    response = live.client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]


# ----- limits ----------------------------------------------------------------------------------


@pytest.fixture
def small(serve: Callable[..., Live], sqlite_url: str) -> Live:
    return serve(sqlite_url, limits=Limits(max_body_bytes=20_000, max_batch=50))


def test_a_body_over_the_limit_is_413_before_it_is_read(small: Live) -> None:
    items = [event(f"lead{i}@acme.example", "page.viewed", AT, url="/" + "x" * 600) for i in range(40)]  # 26 kB
    response = small.client.post("/v1/events", content=orjson.dumps(items),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "20,000 bytes" in response.json()["error"]
    assert small.count(EVENTS) == 0


def test_a_streamed_body_without_length_is_limited_too(small: Live) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for i in range(300):
            yield (b"," if i else b"") + orjson.dumps(pricing(f"lead{i}@acme.example"))
        yield b"]"

    response = small.client.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert small.count(EVENTS) == 0


def test_a_batch_over_the_limit_is_413(small: Live) -> None:
    response = small.client.post("/v1/events", json=[pricing(f"l{i}@acme.example") for i in range(51)])
    assert response.status_code == 413
    assert "at most 50" in response.json()["error"]
    assert small.count(EVENTS) == 0
    assert small.client.post("/v1/events", json=[pricing(f"l{i}@acme.example") for i in range(50)]).status_code == 200


# ----- concurrency and PostgreSQL --------------------------------------------------------------


def _post_concurrently(live: Live, payloads: list) -> list[httpx.Response]:
    results: list[httpx.Response] = [None] * len(payloads)  # type: ignore[list-item]

    def post(worker: int) -> None:
        with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {TOKENS[1]}"}, timeout=60) as c:
            for i in range(worker, len(payloads), 8):
                results[i] = c.post("/v1/events", json=payloads[i])

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_requests_each_get_their_own_counts(live: Live) -> None:
    # 120 distinct events, each posted twice by different requests, some with a bad item
    payloads: list = [pricing(f"lead{i % 40}@acme.example", minute=i) for i in range(120)] * 2
    payloads += [[pricing("x@acme.example", minute=999), {"lead": "x@acme.example", "type": "?", "at": "?"}]] * 4
    responses = _post_concurrently(live, payloads)
    bodies = [r.json() for r in responses]
    assert sum(b["accepted"] for b in bodies) == 121
    assert sum(b["accepted"] + b["duplicates"] for b in bodies) == 244
    assert all(len(b["rejected"]) == 1 for b in bodies[240:]) and all(r.status_code == 422 for r in responses[240:])
    assert all(r.status_code == 200 for r in responses[:240])
    assert live.count(EVENTS) == 121


@pytest.mark.postgres
def test_intake_on_postgresql(serve: Callable[..., Live], postgres_url: str) -> None:
    live = serve(postgres_url)
    items = [pricing("ann@acme.example", event_id="a"), {"lead": "bob@acme.example", "type": "nope", "at": "x"},
             event("ann@acme.example", "demo.requested", AT)]
    response = live.client.post("/v1/events", json=items)
    assert response.status_code == 422
    body = response.json()
    assert (body["accepted"], body["duplicates"], [r["index"] for r in body["rejected"]]) == (2, 0, [1])
    again = live.client.post("/v1/events", json=items[:1] + items[2:]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert live.count(EVENTS) == 2 and live.count(QUARANTINE) == 1
    assert live.client.get("/v1/leads/ann@acme.example").json()["stage"] == "sql"
    responses = _post_concurrently(live, [pricing(f"p{i % 10}@acme.example", minute=i) for i in range(60)] * 2)
    assert sum(r.json()["accepted"] for r in responses) == 60
    assert live.count(EVENTS) == 62
