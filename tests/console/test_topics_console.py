"""The console's lead page shows which subscription topics the lead has left, and when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from engine.console.passwords import hash_password
from engine.core.clock import VirtualClock
from engine.ingest.rows import Row

from ..engine.test_topics_delivery import TOPICS_CAMPAIGN
from ..http.live import Live
from .conftest import PASSWORD, sign_in

ANN = "ann@acme.example"


@pytest.fixture
def live(sqlite_url: str, clock: VirtualClock) -> Iterator[Live]:
    server = Live(sqlite_url, clock, campaign=TOPICS_CAMPAIGN)
    yield server
    server.stop()


def test_the_lead_page_shows_each_topic_and_the_ones_left(live: Live) -> None:
    now = live.clock.now()
    live.nurture.processor().import_leads([Row(1, "", {"email": ANN, "first_name": "Ann"})], "leads")
    with live.nurture.store.transaction() as tx:
        tx.users.save("viv@console.example", "viewer", hash_password(PASSWORD), now)
        lead_id = tx.history.lead_id(ANN)
        tx.topics.leave(lead_id, ["events"], now - dt.timedelta(days=2))
    viewer = sign_in(live.base, "viv@console.example")
    try:
        page = viewer.get(f"/leads/{quote(ANN)}").text
    finally:
        viewer.close()
    card = page.split('id="topics"', 1)[1].split("</div></div>", 1)[0]
    assert "Product news: gets it" in card
    assert "Events and webinars: <strong>left</strong>" in card
