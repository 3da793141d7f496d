"""The timeline that led to a failed expectation: what happened to the scenario's lead, in time order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dsl.formatter import text_of
from engine.lab.expectations import ended, snapshot, source, times
from engine.lab.play import Play
from engine.lab.topics import topics_left
from engine.store.history import Email


@dataclass
class Entry:
    """One line of the timeline that led to a failure."""

    at: str
    kind: str  # event, score, stage, owner, journey, email, sales
    text: str


#: the order of lines that happen at the same instant: cause before effect
_ORDER = {"event": 0, "score": 1, "stage": 2, "owner": 3, "journey": 4, "email": 5, "sales": 6, "ended": 7}


def timeline(play: Play, until: dt.datetime) -> list[Entry]:
    """Everything that happened to the lead up to ``until``, in time order: events, points, stage changes,
    owners, journeys entered and left, emails and sales notifications."""
    found: list[tuple[dt.datetime, str, str]] = []
    for at, event in play.events:
        if at <= until:
            # another of the scenario's leads did it: say who
            by = "" if event.by is None or str(event.by).lower() == play.email else f' by "{event.by}"'
            props = "" if not event.props else " {" + ", ".join(text_of(p) for p in event.props) + "}"
            found.append((at, "event", str(event.event) + by + props))
    found += [(at, "event", f"unsubscribed from `{topic}`") for at, topic in topics_left(play) if at <= until]
    with play.run.nurture.store.transaction() as tx:
        state = snapshot(play, tx, until)
        ledger = tx.history.points(play.lead_id, until)
        owners = tx.history.owners_assigned(play.lead_id, until)
        arms = tx.experiments.arms_of_lead(play.lead_id)  # split steps' arms
    for line in ledger:
        found.append((line.at, "score", f"{line.score} {line.points:+g} from `{line.rule}`"))
    for change in state.changes:
        if change.at <= until:
            found.append((change.at, "stage", f"{change.from_stage} -> {change.to_stage}  {change.reason}"))
    for owner in owners:
        found.append((owner.at, "owner", f"{owner.owner}  {owner.reason}"))
    for run in state.journeys:
        found.append((run.entered_at, "journey", f"entered `{run.journey}`"))
        if run.ended_at is not None and run.ended_at <= until:
            found.append((run.ended_at, "ended", f"`{run.journey}` {ended(run)}"))
    for split, (arm, at) in arms.items():
        found.append((at, "journey", f"arm `{arm}` of split `{split}`"))
    for email in state.emails:
        found += _email_lines(play, email, until)
    found.sort(key=lambda f: (f[0], _ORDER[f[1]]))
    return [Entry(play.when(at), "journey" if kind == "ended" else kind, text) for at, kind, text in found
            if at <= until]


def _email_lines(play: Play, email: Email, until: dt.datetime) -> list[tuple[dt.datetime, str, str]]:
    kind = "email" if email.kind == "marketing" else "sales"
    to = "" if email.kind == "marketing" else f" to {email.to_address}"
    what = f'"{email.template}" from {source(email)}{to}'
    if email.status == "sent" and email.sent_at is not None and email.sent_at <= until:
        held = f" (queued at {play.when(email.created_at)}, held back {times(email.deferrals)} by quiet hours or " \
            "a frequency cap)" if email.deferrals else ""
        return [(email.sent_at, kind, f"{what}{held}")]
    if email.created_at > until:
        return []
    if email.status in ("queued", "sent"):
        return [(email.created_at, kind, f"{what} queued for {play.when(email.due_at)}" if email.status == "queued"
                 else f"{what} queued")]
    return [(email.created_at, kind, f"{what} {email.status}: {email.last_error or ''}".rstrip(": "))]
