"""Prometheus text exposition: this process's counters and totals read from the store."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass

from engine.store.figures import Backlog, Totals


class Counters:
    """Counters kept by this process since it started (each `nurture serve` process has its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def add(self, name: str, amount: int = 1, **labels: str) -> None:
        if amount:
            with self._lock:
                self._values[(name, tuple(sorted(labels.items())))] += amount

    def get(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._values[(name, tuple(sorted(labels.items())))]

    def snapshot(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
        with self._lock:
            return dict(self._values)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    help: str


#: what this process counts, and what each counter means
PROCESS = [
    Metric("nurture_http_requests_total", "counter", "HTTP requests answered by this process, by route and status"),
    Metric("nurture_http_events_accepted_total", "counter", "Events this process stored"),
    Metric("nurture_http_events_duplicate_total", "counter", "Events this process received that were already stored"),
    Metric("nurture_http_events_rejected_total", "counter", "Events this process rejected (kept in quarantine)"),
    Metric("nurture_http_leads_accepted_total", "counter", "Lead upserts this process stored"),
    Metric("nurture_http_leads_rejected_total", "counter", "Lead upserts this process rejected"),
    Metric("nurture_http_tracking_total", "counter", "Opens and clicks recorded by this process, by kind"),
    Metric("nurture_http_prefetches_total", "counter", "Opens and clicks by known link scanners and image proxies"),
    Metric("nurture_http_feedback_total", "counter", "Bounce and complaint notices relays sent this process"),
    Metric("nurture_http_unsubscribes_total", "counter", "Unsubscribes (and resubscribes) taken by this process"),
]


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _age(at: dt.datetime | None, now: dt.datetime) -> float:
    """Seconds ``at`` lies in the past; 0 when nothing waits."""
    return 0.0 if at is None else max(0.0, (now - at).total_seconds())


def figures_of(totals: Totals, now: dt.datetime, backlog: Backlog | None = None,
               smtp_failures_last_hour: int | None = None) -> dict[str, float | int | None]:
    """The store's totals as the metrics below name them; the scheduler lag is seconds since the newest heartbeat,
    the backlog ages seconds since the oldest waiting work became due (0: none waits)."""
    newest = totals.newest_heartbeat
    backlog = backlog or Backlog(None, None, None)
    return {
        "signal_age": _age(backlog.oldest_signal_at, now),
        "step_age": _age(backlog.oldest_due_step_at, now),
        "message_age": _age(backlog.oldest_due_message_at, now),
        "events": totals.events,
        "quarantined": totals.quarantined,
        "sent": totals.messages.get("sent", 0),
        "failed": totals.messages.get("failed", 0),
        "suppressed": totals.messages.get("suppressed", 0),
        "queued": totals.messages.get("queued", 0),
        "deferred": totals.deferrals,
        "daemons": totals.daemons,
        "lag": None if newest is None else max(0.0, (now - newest).total_seconds()),
        "smtp_failures": smtp_failures_last_hour,
    }


STORE = [
    ("nurture_events_stored_total", "counter", "events", "Events in the store"),
    ("nurture_events_quarantined_total", "counter", "quarantined", "Rows kept in quarantine with their reason"),
    ("nurture_emails_sent_total", "counter", "sent", "Emails delivered to the SMTP server"),
    ("nurture_emails_failed_total", "counter", "failed", "Emails that failed for good"),
    ("nurture_emails_suppressed_total", "counter", "suppressed", "Emails withheld at send time (consent)"),
    ("nurture_emails_deferred_total", "counter", "deferred", "Times emails were put off by quiet hours or caps"),
    ("nurture_outbox_queue_depth", "gauge", "queued", "Emails queued for sending"),
    ("nurture_daemons", "gauge", "daemons", "Daemons registered in the store"),
    ("nurture_scheduler_lag_seconds", "gauge", "lag", "Seconds since the newest daemon heartbeat (NaN: no daemon)"),
    ("nurture_oldest_signal_age_seconds", "gauge", "signal_age",
     "Age of the oldest lead change journeys have not reacted to yet (0: none waits)"),
    ("nurture_oldest_due_step_age_seconds", "gauge", "step_age",
     "Seconds since the oldest due journey step that has not run became due (0: none is due)"),
    ("nurture_oldest_due_email_age_seconds", "gauge", "message_age",
     "Seconds since the oldest due email that is not sent yet became due (0: none is due)"),
    ("nurture_smtp_failures_last_hour", "gauge", "smtp_failures",
     "Emails refused by the SMTP server (waiting for a retry, or failed for good) in the last hour, as the "
     "console's health page counts them"),
    # follow-up SLAs
    ("nurture_sla_breached_total", "counter", "sla_breached",
     "Follow-ups whose deadline passed without the follow-up event (their actions ran)"),
    ("nurture_sla_open_overdue", "gauge", "sla_open_overdue",
     "Follow-ups past their deadline that no daemon has handled yet (0 while the daemon keeps up)"),
]


def render(counters: Counters, figures: dict[str, float | int | None] | None) -> str:
    lines: list[str] = []
    values = counters.snapshot()
    for metric in PROCESS:
        lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.kind}"]
        series = sorted((labels, v) for (name, labels), v in values.items() if name == metric.name)
        if not series and metric.kind == "counter" and not metric.name.endswith("requests_total"):
            series = [((), 0)]
        lines += [f"{metric.name}{_labels(labels)} {v}" for labels, v in series]
    lines += ["# HELP nurture_store_up Whether the store answered this scrape", "# TYPE nurture_store_up gauge",
              f"nurture_store_up {0 if figures is None else 1}"]
    if figures is not None:
        for name, kind, key, text in STORE:
            if key in figures:
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {_number(figures[key])}"]
    return "\n".join(lines) + "\n"
