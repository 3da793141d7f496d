"""The retry policy every transport shares: what an answer means, how often to try, and how long to wait."""

from __future__ import annotations

import random
import re
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

#: the SMTP commands whose refusal can be about this recipient (never MAIL: that one is about our sender)
RECIPIENT_STAGES = ("rcpt", "data")
#: an RFC 3463 enhanced status code at the start of a reply: class.subject.detail
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
#: enhanced codes of the address and mailbox subjects (5.1.x, 5.2.x) that are about our sender or our
#: message rather than the recipient's mailbox: bad sender syntax or system, message too big for it
_NOT_THE_RECIPIENT = {(1, 7), (1, 8), (2, 3)}
#: basic codes that, at RCPT and without an enhanced code, mean the mailbox is refused (unknown, not local,
#: name not allowed)
_MAILBOX_REFUSED = (550, 551, 553)


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


def enhanced_code(reply: str) -> tuple[int, int, int] | None:
    """The RFC 3463 enhanced status code a reply starts with (``5.1.1 user unknown``), if any."""
    match = _ENHANCED.match(reply)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def concerns_recipient(status: Status, stage: str | None, code: int | None = None, reply: str = "") -> bool:
    """A permanent refusal that says the reader's address or mailbox is bad, so it is suppressed.

    Only the recipient's own faults count: an enhanced code of the address or mailbox status (5.1.x, 5.2.x)
    at RCPT or DATA, or, at RCPT from a server that gives no enhanced code, 550/551/553. Never a refusal of our
    sender (MAIL, 5.1.7, 5.1.8), of our message (line too long, 5.2.3 too big, syntax) or a policy refusal
    (5.7.x spam, relaying): those are our faults or our reputation's, and suppressing the reader would lose
    a lead for them.
    """
    if status != "permanent" or stage not in RECIPIENT_STAGES:
        return False
    enhanced = enhanced_code(reply)
    if enhanced is not None:
        return enhanced[0] == 5 and enhanced[1] in (1, 2) and enhanced[1:] not in _NOT_THE_RECIPIENT
    return stage == "rcpt" and code in _MAILBOX_REFUSED


def outcome(status: Status, attempts: int) -> Outcome:
    """What the outbox does after its ``attempts``-th try (this one included) ended in ``status``."""
    if status == "sent":
        return "sent"
    return "retry" if status == "temporary" and attempts < MAX_ATTEMPTS else "failed"
