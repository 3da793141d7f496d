"""The preference page in real headless Chromium: a reader unticks a topic, saves, and sees it left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.core.clock import SystemClock
from engine.lab.capture import CaptureServer
from engine.store.tables import TOPIC_OPTOUTS

from ..browser import headless_chromium, until
from ..engine.test_topics_delivery import TOPICS_CAMPAIGN
from .live import Live, event, tick
from .test_preferences import ANN, SUBJECTS, Inbox


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    yield from headless_chromium(tmp_path / "chrome-profile")


def test_a_reader_unticks_a_topic_and_saves(serve: Callable[..., Live], sqlite_url: str, capture: CaptureServer,
                                            chrome: Any) -> None:
    from selenium.webdriver.common.by import By

    live = serve(sqlite_url, campaign=TOPICS_CAMPAIGN, clock=SystemClock())
    assert live.client.post("/v1/events", json=event(ANN, "signed.up", live.clock.now())).status_code == 200
    tick(live, capture)
    chrome.get(Inbox(capture.messages).preferences(SUBJECTS["product"]))

    product = chrome.find_element(By.ID, "topic-product")
    events = chrome.find_element(By.ID, "topic-events")
    assert product.is_selected() and events.is_selected()
    assert "Product news" in chrome.find_element(By.TAG_NAME, "main").text
    product.click()  # the reader unticks product news
    assert not product.is_selected()
    chrome.find_element(By.ID, "save").click()

    saved = until(lambda: chrome.find_elements(By.ID, "saved"), "the saved page")
    assert saved[0].text == "You left Product news."
    assert not chrome.find_element(By.ID, "topic-product").is_selected()
    assert chrome.find_element(By.ID, "topic-events").is_selected()
    assert live.rows(sa.select(TOPIC_OPTOUTS.c.topic)) == [("product",)]
