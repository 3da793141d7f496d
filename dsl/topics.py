"""Which subscription topic an email belongs to: its send's own, else its journey's, else none."""

from __future__ import annotations

from . import ast as a


def journey_topic(journey: a.Journey) -> str | None:
    """The topic named by the journey's first `topic` line (`check` reports any other)."""
    return next((str(item.topic) for item in journey.items if isinstance(item, a.JourneyTopic)), None)


def email_topic(journey: a.Journey, send: a.Send) -> str | None:
    """The topic of the email ``send`` emails from ``journey``; None when neither names one."""
    return str(send.topic) if send.topic is not None else journey_topic(journey)
