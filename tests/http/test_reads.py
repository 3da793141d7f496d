"""GET endpoints read the store as it is: they never create or upgrade one, and reading a lead writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from engine.delivery.tokens import sign
from engine.store import Store

from .live import EXAMPLE, SECRET, Live, event, snapshot

VP = {"email": "vp@bigco.example", "job_title": "VP Engineering", "company_size": 1000, "country": "US"}


def test_requests_to_a_missing_store_are_503_with_the_fix_and_create_nothing(
        serve: Callable[..., Live], sqlite_url: str, tmp_path: Path) -> None:
    live = serve(sqlite_url)
    absent = tmp_path / "absent.db"
    live.reconfigure(database_url=f"sqlite:///{absent}")  # before any request: the store is opened on first use
    sentence = f"no Nurture store at sqlite:///{absent} - run `nurture apply` (or `nurture db upgrade`) first"
    lead = live.client.get(f"/v1/leads/{VP['email']}")
    assert (lead.status_code, lead.json()) == (503, {"error": sentence})
    posted = live.client.post("/v1/events", json=event(VP["email"], "page.viewed", live.clock.now(), url="/"))
    assert (posted.status_code, posted.json()) == (503, {"error": sentence})
    assert live.anonymous.get("/healthz").status_code == 503
    assert "nurture_store_up 0" in live.anonymous.get("/metrics").text
    pixel = live.anonymous.get(f"/t/o/{sign({'l': 1, 'm': 'x', 'k': 'o'}, SECRET)}")
    assert pixel.status_code == 200  # the reader gets the pixel all the same
    assert not absent.exists()


def test_a_store_without_an_applied_campaign_is_503_and_nothing_is_applied(
        serve: Callable[..., Live], sqlite_url: str, tmp_path: Path) -> None:
    live = serve(sqlite_url)
    bare = f"sqlite:///{tmp_path / 'bare.db'}"
    Store.open(bare).dispose()  # the schema, and no campaign version
    live.reconfigure(database_url=bare)
    response = live.client.post("/v1/events", json=event(VP["email"], "page.viewed", live.clock.now(), url="/"))
    assert response.status_code == 503
    assert response.json()["error"] == (f"no campaign version has been applied to the store at {bare} - run "
                                        "`nurture apply` first")
    assert snapshot(bare)["campaign_versions"] == []


def test_reading_a_lead_writes_nothing_not_even_a_stage_that_time_has_moved(
        serve: Callable[..., Live], db_url: str) -> None:
    live = serve(db_url, campaign=EXAMPLE)
    assert live.client.post("/v1/leads", json=VP).status_code == 200
    live.client.post("/v1/events", json=event(VP["email"], "trial.started", live.clock.now()))
    assert live.client.get(f"/v1/leads/{VP['email']}").json()["stage"] == "mql"
    live.clock.advance(dt.timedelta(days=60))  # engagement has decayed below `back to lead when engagement < 15`
    before = snapshot(db_url)
    response = live.client.get(f"/v1/leads/{VP['email']}")
    assert response.status_code == 200 and response.json()["stage"] == "mql"
    assert live.anonymous.get("/healthz").status_code == 200
    assert live.anonymous.get("/metrics").status_code == 200
    assert snapshot(db_url) == before
    assert live.nurture.processor().sweep() == 1  # the daemon's sweep is what moves it
