"""Items that used to answer 500 or slip into the store answer 422 per item over a real socket."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
import sqlalchemy as sa

from engine.store.tables import EVENTS, LEADS, QUARANTINE

from .live import Live

GOOD = {"lead": "ann@acme.example", "type": "page.viewed", "at": "2026-03-01T09:30:00Z", "props": {"url": "/pricing"}}


def _post(live: Live, path: str, items: list) -> tuple[int, dict]:
    # orjson keeps a NUL as \\u0000 and integers of any size as written, as a client would send them
    body = orjson.dumps(items).replace(b"7654321", b"123456789012345678901234567890")
    response = live.client.post(path, content=body, headers={"Content-Type": "application/json"})
    return response.status_code, response.json()


@pytest.mark.parametrize("server", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_events_that_crashed_intake_are_422_per_item(serve: Callable[..., Live], request, server: str) -> None:
    live = serve(request.getfixturevalue(f"{server}_url"))
    items = [GOOD,
             {**GOOD, "at": "0001-01-01T00:00:00+01:00"},
             {**GOOD, "at": "9999-12-31T23:59:59-05:00"},
             {**GOOD, "props": {"url": "/pricing\x00"}},
             {**GOOD, "lead": "jörg@x.example"},
             {**GOOD, "lead": "a\x07b@x.example"},
             {**GOOD, "id": "evt\x00"},
             {**GOOD, "lead": "bob@acme.example"}]
    status, body = _post(live, "/v1/events", items)
    assert status == 422, body
    assert body["accepted"] == 2
    found = {r["index"]: (r["field"], r["error"]) for r in body["rejected"]}
    assert {i: f for i, (f, _) in found.items()} == {1: "at", 2: "at", 3: "props.url", 4: "lead", 5: "lead", 6: "id"}
    assert "outside the calendar once moved to UTC" in found[1][1]
    assert "not supported" in found[4][1]
    assert live.count(EVENTS) == 2 and live.count(QUARANTINE) == 6
    raw = live.scalar(sa.select(QUARANTINE.c.raw).where(QUARANTINE.c.line == 4))
    assert orjson.loads(raw) == items[3]  # kept as sent: escaped in JSON, a NUL is text every database stores


@pytest.mark.parametrize("server", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_leads_with_huge_numbers_or_undeliverable_addresses_are_422_per_item(serve: Callable[..., Live], request,
                                                                            server: str) -> None:
    live = serve(request.getfixturevalue(f"{server}_url"))
    items = [{"email": "ann@acme.example", "company_size": 500},
             {"email": "bob@acme.example", "company_size": 7654321},
             {"email": "jörg@acme.example"},
             {"email": "cid@acme.example", "country": "DE\x00"},
             {"email": "Dora@Bücher.example", "job_title": "VP"}]
    status, body = _post(live, "/v1/leads", items)
    assert status == 422, body
    assert body["accepted"] == 2
    found = {r["index"]: (r["field"], r["error"]) for r in body["rejected"]}
    assert {i: f for i, (f, _) in found.items()} == {1: "company_size", 2: "email", 3: "country"}
    assert "beyond the 64-bit range" in found[1][1]
    assert sorted(live.rows(sa.select(LEADS.c.email))) == [("ann@acme.example",), ("dora@xn--bcher-kva.example",)]
    assert live.client.get("/v1/leads/dora@bücher.example").json()["email"] == "dora@xn--bcher-kva.example"
