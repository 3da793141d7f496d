"""Built-in events the HTTP side records on a lead's behalf: sales feedback, opens, clicks, unsubscribes."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson

from engine.core.clock import epoch
from engine.ingest.rows import Row

VERDICTS = {"accept": "sales.accepted", "reject": "sales.rejected"}
#: loads of the same link within one bucket are one event (a reader's double click, a client's reload)
BUCKET_SECONDS = 60


def instant(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def event_row(email: str, etype: str, at: dt.datetime, props: dict[str, Any] | None = None,
              event_id: str | None = None, line: int = 1) -> Row:
    data: dict[str, Any] = {"lead": email, "type": etype, "at": instant(at)}
    if event_id:
        data["id"] = event_id
    if props:
        data["props"] = props
    return Row(line, orjson.dumps(data).decode(), data)


def feedback_row(email: str, verdict: str, reason: str | None, at: dt.datetime, event_id: str | None = None) -> Row:
    """sales.accepted or sales.rejected now: the campaign's stages and journeys decide what follows."""
    return event_row(email, VERDICTS[verdict], at, {"reason": reason} if reason else None, event_id)


def link_event_id(kind: str, token: str, at: dt.datetime) -> str:
    """The same signed link loaded twice within a bucket is the same event."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return f"{kind}:{digest}:{int(epoch(at) // BUCKET_SECONDS)}"
