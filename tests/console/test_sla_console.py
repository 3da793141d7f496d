"""Follow-up SLAs in the console and /metrics, over a real socket: the real daemon misses one lead's
follow-up (a reminder over real SMTP), the Follow-ups page and the lead's page in headless Chromium show the
breach, the "Record follow-up" button meets another lead's, and /metrics counts breached and overdue ones."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from engine.console.passwords import hash_password
from engine.lab.capture import CaptureServer
from engine.store.sla import SLA_CLOCKS
from engine.store.tables import EVENTS, LEADS

from ..browser import headless_chromium
from ..engine.daemon_helpers import ANN, BOB, HOUR, T0, Harness
from ..engine.test_daemon_sla import sla_campaign
from ..http.live import Live
from .conftest import ARTIFACTS, PASSWORD
from .test_browser import Browser

SALES = "sam@console.example"
CARL = {**ANN, "email": "carl@acme.example", "first_name": "Carl"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, capture: CaptureServer) -> Iterator[tuple[Live, Harness]]:
    """Ann's follow-up missed (due 16:00 UTC, ticked at 17:00), Bob's open; Carl enters later and is open."""
    root = tmp_path_factory.mktemp("sla-console")
    url = f"sqlite:///{root / 'nurture.db'}"
    h = Harness(url, capture.port, campaign=sla_campaign(root))
    h.leads(ANN, BOB, CARL)
    h.events(("ann@acme.example", "demo.requested", T0, {}),
             ("bob@acme.example", "demo.requested", T0 + 2 * HOUR, {}))

    async def days_work() -> None:  # one event loop: the SMTP connections belong to it
        await h.tick(T0)
        await h.tick(T0 + 2 * HOUR)
        await h.tick(T0 + 3 * HOUR)
        h.events(("carl@acme.example", "demo.requested", T0 + 3 * HOUR, {}))
        await h.tick(T0 + 3 * HOUR)
        await h.mailer.close()

    asyncio.run(days_work())
    with h.nurture.store.transaction() as tx:
        tx.users.save(SALES, "sales", hash_password(PASSWORD), h.clock.now())
    live = Live(url, h.clock, campaign=sla_campaign(root / "served"))
    yield live, h
    live.stop()


def _states(live: Live) -> dict[str, str]:
    rows = live.rows(sa.select(LEADS.c.email, SLA_CLOCKS.c.status).join(LEADS, LEADS.c.id == SLA_CLOCKS.c.lead_id))
    return {row.email: row.status for row in rows}


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    yield from headless_chromium(tmp_path / "chrome-profile")


def test_the_console_shows_a_breach_and_records_a_follow_up(chrome: Any, served: tuple[Live, Harness],
                                                            capture: CaptureServer) -> None:
    live, _ = served
    assert _states(live) == {"ann@acme.example": "breached", "bob@acme.example": "open",
                             "carl@acme.example": "open"}
    reminders = [rcpt for _, rcpt, data in capture.messages if b"Overdue: ann@acme.example" in data]
    assert reminders == [["ana@test.example"]]
    b = Browser(chrome, live.base)
    b.sign_in(SALES)
    b.open("/sla")
    assert b.find("#sla-breached").text == "1"
    breaches = b.find("#sla-breaches").text
    assert "ann@acme.example" in breaches and "bob@acme.example" not in breaches
    assert "reassigned to bo@test.example" in breaches
    b.shot("sla-01-breaches")

    b.find(f"a[href='/leads/{quote('ann@acme.example', safe='')}']").click()
    follow_up = b.find("#follow-up")
    assert "breached" in follow_up.text and "sales.contacted" in follow_up.text
    assert not chrome.find_elements(b.by.CSS_SELECTOR, "form[action$='/follow-up']")  # nothing left to record
    b.shot("sla-02-lead-breached")

    b.open(f"/leads/{quote('bob@acme.example')}")
    assert "open" in b.find("#follow-up").text
    b.find("form[action$='/follow-up'] button").click()
    assert "Recorded sales.contacted; the sql follow-up is met." in b.find(".note").text
    assert "met" in b.find("#follow-up").text
    b.shot("sla-03-lead-met")
    assert _states(live)["bob@acme.example"] == "met"
    recorded = live.rows(sa.select(EVENTS.c.type).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
                         .where(LEADS.c.email == "bob@acme.example"))
    assert [row.type for row in recorded] == ["demo.requested", "sales.contacted"]  # through normal ingest
    assert (ARTIFACTS / "sla-01-breaches.png").exists()


def test_metrics_count_breached_and_overdue_follow_ups(served: tuple[Live, Harness]) -> None:
    live, h = served
    text = live.anonymous.get("/metrics").text
    assert "# TYPE nurture_sla_breached_total counter" in text
    assert "\nnurture_sla_breached_total 1\n" in text
    assert "\nnurture_sla_open_overdue 0\n" in text
    # Carl's deadline passes while no daemon runs: overdue, not yet breached (Bob's too, unless recorded)
    carl = live.scalar(sa.select(SLA_CLOCKS.c.deadline).join(LEADS, LEADS.c.id == SLA_CLOCKS.c.lead_id)
                       .where(LEADS.c.email == "carl@acme.example"))
    h.clock.set(carl + dt.timedelta(minutes=1))
    waiting = live.scalar(sa.select(sa.func.count()).select_from(SLA_CLOCKS).where(SLA_CLOCKS.c.status == "open"))
    assert waiting >= 1
    text = live.anonymous.get("/metrics").text
    assert f"\nnurture_sla_open_overdue {waiting}\n" in text and "\nnurture_sla_breached_total 1\n" in text
