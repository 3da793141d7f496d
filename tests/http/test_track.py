"""POST /v1/track with publishable keys: origins, CORS, the browser events only, revocation, rate limits,
and anonymous visitors merged into the lead when they identify."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from engine.core.clock import VirtualClock
from engine.http.ratelimit import Buckets, TrackLimits

from .live import EXAMPLE, Live

SITE = "https://www.example.com"


@pytest.fixture
def site(serve: Callable[..., Live], sqlite_url: str) -> tuple[Live, str]:
    live = serve(sqlite_url, campaign=EXAMPLE)
    with live.nurture.store.transaction() as tx:
        tx.visitors.add_key("pk_test_key", [SITE], live.clock.now())
    return live, "pk_test_key"


def _event(key: str, etype: str = "page.viewed", **extra: object) -> dict[str, object]:
    return {"key": key, "anonymous_id": "visitor-0001", "type": etype, "props": {"url": "/pricing"}, **extra}


def test_page_views_then_identify_merge_into_the_lead_in_order(site: tuple[Live, str], clock: VirtualClock) -> None:
    live, key = site
    answer = live.anonymous.post("/v1/track", json=_event(key, id="a1"), headers={"Origin": SITE})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": "anonymous"}
    assert answer.headers["access-control-allow-origin"] == SITE
    clock.advance(dt.timedelta(minutes=2))
    answer = live.anonymous.post("/v1/track", headers={"Origin": SITE}, json=_event(
        key, "form.submitted", props={"form": "signup", "unknown": 1}, email="Ann@Example.com", id="a2"))
    assert answer.json() == {"stored": "lead", "merged": 1}
    clock.advance(dt.timedelta(minutes=2))
    later = live.anonymous.post("/v1/track", json=_event(key, id="a3"), headers={"Origin": SITE})
    assert later.json() == {"stored": "lead"}
    lead = live.client.get("/v1/leads/ann@example.com").json()
    types = [e["type"] for e in reversed(lead["recent_events"])]
    assert types == ["page.viewed", "form.submitted", "page.viewed"]
    assert lead["scores"]["engagement"] > 0


def test_wrong_or_missing_origin_is_403(site: tuple[Live, str]) -> None:
    live, key = site
    wrong = {"Origin": "https://evil.example"}
    assert live.anonymous.post("/v1/track", json=_event(key), headers=wrong).status_code == 403
    assert live.anonymous.post("/v1/track", json=_event(key)).status_code == 403


@pytest.mark.parametrize("etype", ["demo.requested", "email.opened", "nothing.declared"])
def test_only_declared_browser_events_are_taken(site: tuple[Live, str], etype: str) -> None:
    live, key = site
    answer = live.anonymous.post("/v1/track", json=_event(key, etype, props={}), headers={"Origin": SITE})
    assert answer.status_code == 422
    assert "page.viewed and form.submitted" in answer.json()["error"]


def test_a_revoked_or_unknown_key_is_401(site: tuple[Live, str]) -> None:
    live, key = site
    with live.nurture.store.transaction() as tx:
        assert tx.visitors.revoke_key(key, live.clock.now())
    assert live.anonymous.post("/v1/track", json=_event(key), headers={"Origin": SITE}).status_code == 401
    assert live.anonymous.post("/v1/track", json=_event("pk_nope"), headers={"Origin": SITE}).status_code == 401
    assert live.anonymous.post("/v1/track", json=_event("sk"), headers={"Origin": SITE}).status_code == 401


def test_cors_preflight_answers_the_keys_origins_only(site: tuple[Live, str]) -> None:
    live, _ = site
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    good = live.anonymous.options("/v1/track", headers={"Origin": SITE, **asked})
    assert good.status_code == 204
    assert good.headers["access-control-allow-origin"] == SITE
    assert "POST" in good.headers["access-control-allow-methods"]
    bad = live.anonymous.options("/v1/track", headers={"Origin": "https://evil.example", **asked})
    assert bad.status_code == 403
    assert "access-control-allow-origin" not in bad.headers


def test_over_the_rate_limit_is_429_with_retry_after(site: tuple[Live, str]) -> None:
    live, key = site
    live.app.state.track_limits = TrackLimits(Buckets(100, 100), Buckets(0.5, 3))
    codes = [live.anonymous.post("/v1/track", json=_event(key), headers={"Origin": SITE}) for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1


def test_the_snippet_is_served_as_javascript(site: tuple[Live, str]) -> None:
    live, _ = site
    answer = live.anonymous.get("/t.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert "/v1/track" in answer.text and "localStorage" in answer.text


def test_buckets_refill_over_time() -> None:
    now = [0.0]
    buckets = Buckets(1, 2, now=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert buckets.take("a") == 0
    assert buckets.take("b") == 0
