"""The console in real headless Chromium: sign in, read the funnel, a lead, a journey and the outbox, accept a
lead, preview and test-send an email, and the refusals (a viewer cancelling mail, a form without its CSRF
token). A screenshot of each page is saved under test-artifacts/console/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from engine.lab.capture import CaptureServer
from engine.store.tables import EVENTS, LEADS

from ..browser import headless_chromium, until
from ..http.live import Live
from .conftest import ARTIFACTS, PASSWORD, USERS
from .test_routes import _outbox_row
from .world import World


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    yield from headless_chromium(tmp_path / "chrome-profile")


class Browser:
    def __init__(self, driver: Any, base: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.base, self.by = driver, base, By
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str) -> Any:
        found = until(lambda: self.driver.find_elements(self.by.CSS_SELECTOR, css),
                       f"{css} on {self.driver.current_url}")
        return found[0]

    def text(self) -> str:
        return self.driver.find_element(self.by.TAG_NAME, "body").text

    def shot(self, name: str) -> None:
        assert self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def sign_in(self, email: str) -> None:
        self.open("/login")
        self.find("input[name=email]").send_keys(email)
        self.find("input[name=password]").send_keys(PASSWORD)
        self.find("form[action='/login'] button").click()
        until(lambda: "/login" not in self.driver.current_url, "the overview after signing in")

    def sign_out(self) -> None:
        self.find("form[action='/logout'] button").click()
        until(lambda: "/login" in self.driver.current_url, "the sign-in page")

    def post_without_form(self, path: str, fields: dict[str, str]) -> int:
        """POST from the page's own script (same origin, with the session cookie); the answer's status."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {method: 'POST', body: new URLSearchParams(arguments[1]), redirect: 'manual'})"
            ".then(r => done(r.status));", path, fields)


def test_a_day_in_the_console(chrome: Any, console: Live, world: World, capture: CaptureServer) -> None:
    b = Browser(chrome, console.base)
    b.open("/funnel")
    assert "/login" in chrome.current_url
    b.shot("01-sign-in")
    b.sign_in(USERS["sales"])
    assert "Which lead source converts best?" in b.text()
    b.shot("02-overview")

    b.find("a[href='/funnel?by=lead_source']").click()
    best = b.find("#best").text
    assert best.startswith("Converts best to sql:")
    b.shot("03-funnel-by-source")

    lead = next(x for x in world.leads if "demo.requested" in x.events and x.email != world.leads[6].email)
    b.open(f"/leads?email={quote(lead.email)}")
    b.find(f"a[href='/leads/{quote(lead.email, safe='')}']").click()
    assert "+100 per demo.requested" in b.find("#why").text
    b.find("#feedback input[name=reason]").send_keys("talking to their CFO")
    b.find("#feedback button[value=accept]").click()
    assert "Recorded sales.accepted" in b.find(".note").text
    b.shot("04-lead-accepted")
    with console.nurture.store.engine.connect() as conn:
        props = conn.execute(sa.select(EVENTS.c.props).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
                             .where(LEADS.c.email == lead.email, EVENTS.c.type == "sales.accepted")).scalar_one()
    assert props == {"reason": "talking to their CFO"}

    b.open("/journeys/welcome")
    diagram = b.find("#diagram").text
    assert "intro: send \"welcome\"" in diagram and "entered" in diagram
    b.shot("05-journey")
    b.open("/outbox")
    assert b.find("#outbox").text
    b.shot("06-outbox")
    b.sign_out()

    # a viewer sees no cancel button, and posting the form anyway is refused
    queued = _outbox_row(console, world, "queued")
    b.sign_in(USERS["viewer"])
    b.open(f"/outbox/{queued}")
    assert "Only admins can cancel or retry mail." in b.text()
    assert not chrome.find_elements(b.by.CSS_SELECTOR, "#cancel")
    csrf = b.find("form[action='/logout'] input[name=csrf]").get_attribute("value")
    assert b.post_without_form(f"/outbox/{queued}/cancel", {"csrf": csrf}) == 403
    b.shot("07-viewer-message")
    b.sign_out()

    b.sign_in(USERS["admin"])
    # a request without the CSRF token is refused, even from a signed-in admin
    b.open(f"/outbox/{queued}")
    assert b.post_without_form(f"/outbox/{queued}/cancel", {}) == 403
    b.open(f"/preview?template=welcome&lead={quote(lead.email)}")
    assert "Subject" in b.find("#headers").text
    b.shot("08-preview")
    before = len(capture.messages)
    b.find("input[name=to]").send_keys("qa@test.example")
    b.find("#send-test").click()
    assert "Test of welcome sent to qa@test.example" in b.find(".note").text
    _, recipients, _ = until(lambda: capture.messages[before:], "the test email at the SMTP server")[0]
    assert recipients == ["qa@test.example"]
    b.shot("09-test-sent")
    b.open(f"/outbox/{queued}")
    b.find("#cancel").click()
    assert "Cancelled" in b.find(".note").text

    # on a phone the pages fit the screen: nothing scrolls sideways but the tables in their own boxes
    chrome.set_window_size(390, 844)
    for path, name in [(f"/leads/{quote(lead.email)}", "10-phone-lead"),
                       ("/funnel?by=lead_source", "11-phone-funnel"), ("/outbox", "12-phone-outbox")]:
        b.open(path)
        b.find("main")
        overflow = chrome.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        b.shot(name)
