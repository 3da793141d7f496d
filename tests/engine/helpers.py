"""Helpers for engine tests: an engine on the test campaign, and event rows."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.config import Config
from engine.core.clock import VirtualClock
from engine.ingest.rows import Row
from engine.service import Nurture

CAMPAIGN = Path(__file__).parent / "campaign"
T = TypeVar("T")


def make_nurture(url: str, clock: VirtualClock, campaign: Path = CAMPAIGN, batch_size: int = 500) -> Nurture:
    config = Config(database_url=url, campaign_dir=campaign / "journeys", template_dir=campaign / "templates",
                    batch_size=batch_size)
    return Nurture(config, clock)


def event(lead: str, etype: str, at: dt.datetime, line: int = 1, **props) -> Row:
    data = {"lead": lead, "type": etype, "at": at.isoformat().replace("+00:00", "Z")}
    if props:
        data["props"] = props
    return Row(line, json.dumps(data), data)


def rows_of(lines: list[dict]) -> list[Row]:
    return [Row(i, json.dumps(d), d) for i, d in enumerate(lines, start=1)]


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``condition`` until it returns something true, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.05)
