"""Health as the console and /metrics show it: daemons and their heartbeats, tick lag, queue depth, the oldest
due message, and SMTP failures in the last hour."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import Tx

HOUR = dt.timedelta(hours=1)


def health_report(tx: Tx, now: dt.datetime) -> dict[str, Any]:
    beats = tx.figures.heartbeats()
    daemons = [{"name": b.name, "started_at": b.started_at.isoformat(), "heartbeat_at": b.heartbeat_at.isoformat(),
                "seconds_since_heartbeat": round(max(0.0, (now - b.heartbeat_at).total_seconds()), 1)}
               for b in beats]
    counts = tx.mailroom.counts()
    oldest = tx.mailroom.oldest_due(now)
    backlog = tx.figures.backlog(now)
    return {
        "daemons": daemons,
        "tick_lag_seconds": daemons[0]["seconds_since_heartbeat"] if daemons else None,
        "queue_depth": sum(counts.get(s, 0) for s in ("queued", "deferred", "retrying")),
        "outbox": counts,
        "oldest_due": None if oldest is None else {
            "id": oldest.id, "to": oldest.to_address, "template": oldest.template, "due_at": oldest.due_at.isoformat(),
            "waiting_seconds": round(max(0.0, (now - oldest.due_at).total_seconds()), 1)},
        "oldest_due_step_at": None if backlog.oldest_due_step_at is None else backlog.oldest_due_step_at.isoformat(),
        "smtp_failures_last_hour": tx.mailroom.failures_since(now - HOUR),
    }
