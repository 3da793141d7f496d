"""What changes between two campaign versions, and moving in-flight leads to the new one.

In-flight rule: a lead waiting at step L of a journey continues at L in the new version. If L was
removed, it continues at the first step after L (in the old version's order) that still exists;
if none does, its journey is finished. A removed journey exits its leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dsl import ast as a
from dsl.campaign import Campaign
from engine.core.rules import Rules
from engine.store.tables import ENROLLMENTS

_KINDS = {a.Score: "score", a.Stage: "stage", a.Journey: "journey"}


@dataclass
class Migration:
    kept: int = 0
    moved: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)


def _named(campaign: Campaign | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in campaign.items() if campaign else ():
        if type(item) in _KINDS:
            found[f"{_KINDS[type(item)]} {item.name}"] = repr(item)  # type: ignore[attr-defined]
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


def migrate_enrollments(conn: Connection, old: Rules | None, new: Rules, version_id: int,
                        batch: int = 1000) -> Migration:
    """Move every in-flight enrolment to ``version_id`` by step label."""
    result = Migration()
    last = 0
    while True:
        rows = conn.execute(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.status.in_(("active", "waiting")),
                                                         ENROLLMENTS.c.id > last)
                            .order_by(ENROLLMENTS.c.id).limit(batch)).all()
        if not rows:
            return result
        last = rows[-1].id
        for row in rows:
            _move(conn, row, old, new, version_id, result)


def _move(conn: Connection, row, old: Rules | None, new: Rules, version_id: int, result: Migration) -> None:
    plan = new.journeys.get(row.journey)
    where = ENROLLMENTS.c.id == row.id
    if plan is None:
        conn.execute(ENROLLMENTS.update().where(where).values(status="exited", due_at=None, step=None,
                                                              end_reason="journey removed from the campaign"))
        result.exited.append(f"{row.journey}#{row.id}")
        return
    old_plan = old.journeys.get(row.journey) if old else None
    old_order = old_plan.order if old_plan else plan.order
    values: dict = {"version_id": version_id}
    if row.status == "waiting" and row.waiting_for is not None and old_plan is not None:
        waited = old_order[row.waiting_for] if row.waiting_for < len(old_order) else None
        if waited in plan.program:
            values["waiting_for"] = plan.order.index(waited)
        else:  # the wait itself was removed: stop waiting and go on now
            values.update(status="active", waiting_for=None)
    label = row.step
    if label is None or label in plan.program:
        result.kept += 1
    else:
        later = old_order[old_order.index(label) + 1:] if label in old_order else []
        target = next((candidate for candidate in later if candidate in plan.program), None)
        values["step"] = target
        result.moved.append(f"{row.journey}#{row.id}: {label} -> {target or 'end'}")
    conn.execute(ENROLLMENTS.update().where(where).values(**values))
