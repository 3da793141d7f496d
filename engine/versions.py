"""What changes between two campaign versions, and moving in-flight leads to the new one."""

from __future__ import annotations

import datetime as dt

from dsl import ast as a
from dsl.campaign import Campaign
from engine.core.journeys import EnrollmentStatus
from engine.core.migration import Migration, move
from engine.core.rules import Rules
from engine.store import Tx

_KINDS = {a.Score: "score", a.Stage: "stage", a.Journey: "journey"}


def _named(campaign: Campaign | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in campaign.items() if campaign else ():
        if isinstance(item, a.Score | a.Stage | a.Journey):
            found[f"{_KINDS[type(item)]} {item.name}"] = repr(item)
        elif isinstance(item, a.Events):
            found.update({f"event {d.name}": repr(d) for d in item.decls})
        elif isinstance(item, a.Attributes):
            found.update({f"attribute {d.name}": repr(d) for d in item.decls})
        elif isinstance(item, a.Settings):
            found["settings"] = found.get("settings", "") + repr(item)
    return found


def describe_changes(old: Campaign | None, new: Campaign) -> list[str]:
    """One line per added, removed or changed declaration (layout and comments do not count)."""
    before, after = _named(old), _named(new)
    lines = [f"+ {name}" for name in after if name not in before]
    lines += [f"- {name}" for name in before if name not in after]
    lines += [f"~ {name}" for name in after if name in before and before[name] != after[name]]
    return sorted(lines, key=lambda line: (line[2:], line[0]))


def migrate_enrollments(tx: Tx, old: Rules | None, new: Rules, version_id: int, now: dt.datetime,
                        batch: int = 1000) -> Migration:
    """Move every in-flight enrolment to ``version_id`` by step label (see engine.core.migration)."""
    result = Migration()
    last = 0
    while enrollments := tx.enrollments.in_flight(last, batch):
        for enrollment in enrollments:
            old_plan = old.journeys.get(enrollment.journey) if old else None
            values = move(enrollment, old_plan, new.journeys.get(enrollment.journey), version_id, now, result)
            tx.enrollments.move(enrollment.id, **values)
            if values.get("status") == EnrollmentStatus.EXITED:
                tx.outbox.cancel_queued(enrollment.id, enrollment.journey, values["end_reason"], now)
        last = enrollments[-1].id
    return result
