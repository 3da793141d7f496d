"""The retry policy every transport shares: what an answer means, how often to try, and how long to wait."""

from __future__ import annotations

import random
from typing import Literal

#: what one attempt came to: accepted, worth another try, or never deliverable as it is
Status = Literal["sent", "temporary", "permanent"]
#: what the outbox makes of an attempt: sent, tried again later, or given up
Outcome = Literal["sent", "retry", "failed"]

#: after this many failed attempts a temporary failure is treated as permanent
MAX_ATTEMPTS = 16
BASE_DELAY = 60.0
MAX_DELAY = 6 * 3600.0
JITTER = 0.2

#: the SMTP commands whose refusal is about this recipient or message, not about our sender or server
RECIPIENT_STAGES = ("rcpt", "data")


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed try: 1, 2, 4 … minutes, at most 6 hours, ±20%.

    With MAX_ATTEMPTS = 16 a message is retried for about two days, like an MTA's queue lifetime, so an
    outage of the mail relay does not turn into permanent failures (and suppressed addresses).
    """
    if attempts < 1:
        raise ValueError("attempts counts failed tries and starts at 1")
    base = min(BASE_DELAY * 2 ** min(attempts - 1, 32), MAX_DELAY)
    # jitter spreads retries of a batch that failed together, so they do not all hit the server at once
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def smtp_status(code: int | None) -> Status:
    """2xx sent, 5xx permanent; 4xx and anything unexpected is worth another try."""
    if code is not None and 200 <= code < 300:
        return "sent"
    if code is not None and 500 <= code < 600:
        return "permanent"
    return "temporary"


def http_status(code: int) -> Status:
    """2xx sent; 408, 429 and 5xx (the receiver is busy or restarting) temporary; any other answer permanent."""
    if 200 <= code < 300:
        return "sent"
    return "temporary" if code in (408, 429) or code >= 500 else "permanent"


def concerns_recipient(status: Status, stage: str | None) -> bool:
    """A permanent refusal at RCPT or DATA says the address is bad, so it is suppressed; a refusal of our
    own sender at MAIL says nothing about the lead."""
    return status == "permanent" and stage in RECIPIENT_STAGES


def outcome(status: Status, attempts: int) -> Outcome:
    """What the outbox does after its ``attempts``-th try (this one included) ended in ``status``."""
    if status == "sent":
        return "sent"
    return "retry" if status == "temporary" and attempts < MAX_ATTEMPTS else "failed"
