"""The tracking snippet in a real browser: a page on one loopback port includes /t.js from the server on
another, sends a page view on load, then identifies the visitor when the signup form is submitted."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import SystemClock

from ..browser import headless_chromium, until
from .live import EXAMPLE, Live


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static site on loopback: (its directory, its origin)."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    yield from headless_chromium(tmp_path / "chrome-profile")


def test_a_visit_then_a_signup_make_a_scored_lead(serve: Callable[..., Live], sqlite_url: str,
                                                  pages: tuple[Path, str], chrome: Any) -> None:
    from selenium.webdriver.common.by import By

    live = serve(sqlite_url, campaign=EXAMPLE, clock=SystemClock())
    root, origin = pages
    with live.nurture.store.transaction() as tx:
        tx.visitors.add_key("pk_browser_test", [origin], live.clock.now())
    (root / "pricing.html").write_text(f"""<!doctype html>
<html><head><title>Pricing</title>
<script src="{live.base}/t.js" data-key="pk_browser_test"></script></head>
<body><form name="signup" action="/thanks.html" method="get">
<input type="email" name="email" id="email"><button id="go" type="submit">Sign up</button></form></body></html>
""")
    (root / "thanks.html").write_text("<!doctype html><title>Thanks</title><p>Thanks!</p>")

    chrome.get(f"{origin}/pricing.html")

    until(lambda: _anonymous(live), "the page view to arrive")
    chrome.find_element(By.ID, "email").send_keys("Ann@Example.com")
    chrome.find_element(By.ID, "go").click()
    until(lambda: "thanks.html" in chrome.current_url, "the form to be submitted")

    answer = until(lambda: (r := live.client.get("/v1/leads/ann@example.com")).status_code == 200 and r,
                    "the lead to exist")
    lead = answer.json()
    events = list(reversed(lead["recent_events"]))
    assert [e["type"] for e in events] == ["page.viewed", "form.submitted"]
    assert events[0]["props"] == {"url": "/pricing.html"}
    assert events[1]["props"] == {"form": "signup"}
    assert events[0]["at"] < events[1]["at"]
    assert "page.viewed" in str(lead["explanation"]) and lead["scores"]["engagement"] > 0, lead
    assert not _anonymous(live)  # the anonymous history moved onto the lead


def _anonymous(live: Live) -> list[Any]:
    import sqlalchemy as sa

    return live.rows(sa.text("SELECT key FROM anonymous_events"))
