"""Moving an in-flight enrolment to a new campaign version, by step label.

In-flight rule: a lead at step L of a journey continues at L in the new version. If L was removed,
it continues at the first step after L (in the old version's order) that still exists; if none
does, its journey is finished. A lead waiting for an event whose wait was removed stops waiting
and goes on now. A removed journey exits its leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core.journey_plan import JourneyPlan
from engine.core.journeys import Enrollment, EnrollmentStatus, waiting_label


@dataclass
class Migration:
    """What moving the in-flight enrolments did (or, for `plan`, would do)."""

    kept: int = 0
    moved: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)


def move(enrollment: Enrollment, old: JourneyPlan | None, new: JourneyPlan | None, version_id: int,
         result: Migration) -> dict[str, Any]:
    """The columns to set on ``enrollment`` for ``version_id``; the outcome is added to ``result``."""
    name = f"{enrollment.journey}#{enrollment.id}"
    if new is None:
        result.exited.append(name)
        return {"status": EnrollmentStatus.EXITED, "due_at": None, "step": None,
                "end_reason": "journey removed from the campaign"}
    values: dict[str, Any] = {"version_id": version_id}
    old_order = old.order if old else new.order
    if enrollment.status == EnrollmentStatus.WAITING and enrollment.waiting_for is not None and old is not None:
        waited = waiting_label(enrollment, old)
        if waited in new.program:
            values["waiting_for"] = new.order.index(waited)
        else:  # the wait itself was removed: stop waiting and go on now
            values.update(status=EnrollmentStatus.ACTIVE, waiting_for=None)
    label = enrollment.step
    if label is None or label in new.program:
        result.kept += 1
    else:
        later = old_order[old_order.index(label) + 1:] if label in old_order else []
        target = next((candidate for candidate in later if candidate in new.program), None)
        values["step"] = target
        result.moved.append(f"{name}: {label} -> {target or 'end'}")
    return values
