"""The tracking snippet in a real browser: a page on one loopback port includes /t.js from the server on
another, sends a page view on load, then identifies the visitor when the signup form is submitted."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import SystemClock

from .live import EXAMPLE, Live

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.exists(p) or shutil.which(Path(p).name))]
    if missing:
        problem = f"no {' or '.join(missing)}; install Debian's chromium and chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI=true requires the browser test to run)")
        pytest.skip(problem)


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
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _until(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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

    _until(lambda: _anonymous(live), "the page view to arrive")
    chrome.find_element(By.ID, "email").send_keys("Ann@Example.com")
    chrome.find_element(By.ID, "go").click()
    _until(lambda: "thanks.html" in chrome.current_url, "the form to be submitted")

    answer = _until(lambda: (r := live.client.get("/v1/leads/ann@example.com")).status_code == 200 and r,
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
