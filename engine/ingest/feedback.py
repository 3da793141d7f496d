"""Bounces and complaints a relay reports after it accepted a message: notices in, suppressions and events out.

Relays (SES, SendGrid, Postmark, Mailgun) accept every message at SMTP time and report what happened later,
by webhook or by a delivery status notification. Whatever the source, each report becomes a `Notice`, and
`apply_notices` applies a batch of them the same way:

- a hard bounce suppresses the address and records `email.bounced` with the reason;
- a complaint (the reader marked the email as spam) suppresses it and records `email.complained`;
- a soft bounce (mailbox full, greylisted, ...) is counted per address, once per report; the address is
  suppressed, and `email.bounced` recorded, when it has gathered `soft_bounce_limit` of them.

Events go through the Processor like any other, with an id derived from the report, so a webhook delivered
twice records once. Addresses that are not leads are ignored: a relay retries on errors, and the report
may concern mail this engine never sent.

This lives in ingest, not delivery: it is a write path for what comes in (events recorded through the
Processor, consent changed through the store), and nothing here sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.ingest.processor import Processor
from engine.ingest.rows import InvalidRow, Row, normalise_email
from engine.store import Store

Kind = Literal["hard", "soft", "complaint"]
KINDS: tuple[Kind, ...] = ("hard", "soft", "complaint")
EVENTS: dict[Kind, str] = {"hard": "email.bounced", "soft": "email.bounced", "complaint": "email.complained"}


@dataclass(frozen=True)
class Notice:
    """One report about one address."""

    email: str
    kind: Kind
    reason: str
    at: dt.datetime
    #: where the report came from: "postmark", "sendgrid", "mailgun", "ses", "dsn"
    provider: str
    #: the relay's id of the message or event, or our Message-ID, when the report carries one
    message_id: str | None = None

    @property
    def key(self) -> str:
        """The same for the same report however often it is delivered; a stable digest, short enough for ids."""
        parts = [self.kind, self.email.lower()]
        parts += [self.provider, self.message_id] if self.message_id else [self.provider, self.at.isoformat()]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


@dataclass
class FeedbackReport:
    notices: int = 0
    #: addresses suppressed by this batch (including ones that were suppressed already)
    suppressed: list[str] = field(default_factory=list)
    #: events recorded, and events that were recorded before (a report delivered again)
    recorded: int = 0
    duplicates: int = 0
    soft: int = 0
    #: notices about addresses that are not leads, or that are not addresses at all
    ignored: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"notices": self.notices, "suppressed": len(self.suppressed), "recorded": self.recorded,
                "duplicates": self.duplicates, "soft_bounces": self.soft, "ignored": self.ignored}


def _event(notice: Notice, email: str, event_id: str, reason: str, line: int) -> Row:
    at = notice.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"id": event_id, "lead": email, "type": EVENTS[notice.kind], "at": at,
                            "props": {"reason": reason[:1000]}}
    return Row(line, "", data)


def apply_notices(store: Store, processor: Processor, notices: Sequence[Notice] | Iterable[Notice], *,
                  soft_limit: int, origin: str) -> FeedbackReport:
    """Suppress and record what ``notices`` say; safe to run again with the same notices."""
    notices = list(notices)
    report = FeedbackReport(notices=len(notices))
    valid: list[tuple[str, Notice]] = []
    for notice in notices:
        try:
            valid.append((normalise_email(notice.email), notice))
        except InvalidRow:
            report.ignored += 1
    rows: list[Row] = []
    with store.transaction() as tx:
        known = tx.leads.ids_by_email(sorted({email for email, _ in valid}))
        for email, notice in valid:
            if email not in known:
                report.ignored += 1
                continue
            source = f"({notice.provider}): {notice.reason}"
            if notice.kind == "soft":
                report.soft += 1
                count = tx.suppressions.soft_bounce(notice.key, email, notice.reason, notice.at)
                if count < soft_limit:
                    continue
                reason = f"{count} soft bounces {source}"
                event_id = "feedback:soft:" + hashlib.sha256(email.encode()).hexdigest()[:40]
            else:
                reason = f"{'bounced' if notice.kind == 'hard' else 'complained'} {source}"
                event_id = f"feedback:{notice.key}"
            tx.suppressions.bounced(email, reason, notice.at)
            report.suppressed.append(email)
            rows.append(_event(notice, email, event_id, notice.reason if notice.kind != "soft" else reason,
                               len(rows) + 1))
    if rows:
        ingested = processor.ingest_events(rows, origin)
        report.recorded, report.duplicates = ingested.accepted, ingested.duplicates
    return report
