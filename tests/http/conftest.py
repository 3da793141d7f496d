"""Fixtures: a live server per test over a fresh store (SQLite in tmp_path, or a PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.core.clock import VirtualClock
from engine.lab.capture import CaptureServer

from .live import Live


@pytest.fixture
def serve(clock: VirtualClock) -> Iterator[Callable[..., Live]]:
    """Start servers as the test needs them: serve(url, **options); all stop at the end."""
    started: list[Live] = []

    def start(url: str, **options: Any) -> Live:
        live = Live(url, options.pop("clock", clock), **options)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def live(serve: Callable[..., Live], sqlite_url: str) -> Live:
    return serve(sqlite_url)


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    """A real SMTP server on loopback that keeps every message it accepts."""
    with CaptureServer() as server:
        yield server
