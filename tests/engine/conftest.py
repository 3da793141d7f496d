"""Fixtures the engine's integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.lab.capture import CaptureServer


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    """A real SMTP server on loopback that keeps every message it accepts."""
    with CaptureServer() as server:
        yield server
