"""Moving an in-flight enrolment to a new campaign version, by step label.

The rule (README, "Editing a journey with leads in it"):
- A lead at step L (about to run it, or in the wait L) stays at L when the new version has a step
  labelled L. In a wait it keeps waiting until the same time; if L is no longer a wait, L runs when
  the lead's wait would have ended.
- When L was removed, the lead goes on at the first step after L, in the old version's order, that
  the new version still has: now, if L was a wait (a removed wait holds nobody), else when L was due.
  When no later step is left, its journey is finished.
- A removed journey exits its leads.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.core.journey_plan import JourneyPlan, SendStep, WaitEventStep, WaitStep, WaitTimeStep
from engine.core.journeys import Enrollment, EnrollmentStatus, position

#: the steps an enrolment waits in: the waits, and a send with a time (`send ... at 09:30`), which waits for it
WAITS = (WaitStep, WaitTimeStep, WaitEventStep, SendStep)


@dataclass(frozen=True)
class Move:
    """Where leads at one step go: ``to`` is the new step (None: finished), ``how`` says why."""

    journey: str
    step: str | None
    to: str | None
    how: str  # "stay", "next" (the step was removed), "finish", "exit" (the journey was removed)

    def describe(self, leads: int) -> str:
        at = f"`{self.step}`" if self.step else "the end"
        one = leads == 1
        count = f"{leads:,} lead{'' if one else 's'}"
        if self.how == "exit":
            return f"{self.journey}: {count} at {at} {'exits' if one else 'exit'} (journey removed)"
        if self.how == "stay":
            return f"{self.journey}: {count} {'stays' if one else 'stay'} at {at}"
        if self.how == "finish":
            return f"{self.journey}: {count} at {at} (removed) {'finishes' if one else 'finish'}: no later step is left"
        return f"{self.journey}: {count} at {at} (removed) {'moves' if one else 'move'} to `{self.to}`"


@dataclass
class Migration:
    """What moving the in-flight enrolments did (or, for `plan`, would do), counted per step label."""

    moves: Counter[Move] = field(default_factory=Counter)

    @property
    def kept(self) -> int:
        return sum(n for move, n in self.moves.items() if move.how == "stay")

    @property
    def moved(self) -> int:
        return sum(n for move, n in self.moves.items() if move.how in ("next", "finish"))

    @property
    def exited(self) -> int:
        return sum(n for move, n in self.moves.items() if move.how == "exit")

    def lines(self) -> list[str]:
        """One line per journey and step, in journey order, moves first."""
        ranked = sorted(self.moves.items(), key=lambda kv: (kv[0].journey, kv[0].how == "stay", kv[0].step or ""))
        return [move.describe(n) for move, n in ranked]

    def as_json(self) -> list[dict[str, Any]]:
        return [{"journey": m.journey, "step": m.step, "to": m.to, "how": m.how, "leads": n}
                for m, n in sorted(self.moves.items(), key=lambda kv: (kv[0].journey, kv[0].step or ""))]


def move(enrollment: Enrollment, old: JourneyPlan | None, new: JourneyPlan | None, version_id: int,
         now: dt.datetime, result: Migration) -> dict[str, Any]:
    """The columns to set on ``enrollment`` for ``version_id``; the move is counted in ``result``."""
    wait, following = position(enrollment, old) if old is not None else (None, enrollment.step)
    label = wait or following
    if new is None:
        result.moves[Move(enrollment.journey, label, None, "exit")] += 1
        return {"status": EnrollmentStatus.EXITED, "due_at": None, "step": None, "waiting_for": None,
                "ended_at": now, "end_reason": "journey removed from the campaign"}
    values: dict[str, Any] = {"version_id": version_id, "waiting_for": None}
    if label is None or label in new.program:
        result.moves[Move(enrollment.journey, label, label, "stay")] += 1
        values["step"] = label
        if wait is not None and not isinstance(new.program[wait], WAITS):
            values["status"] = EnrollmentStatus.ACTIVE  # no longer a wait: it runs when the wait would have ended
        return values
    old_order = old.order if old is not None else new.order
    later = old_order[old_order.index(label) + 1:] if label in old_order else []
    target = next((candidate for candidate in later if candidate in new.program), None)
    result.moves[Move(enrollment.journey, label, target, "next" if target else "finish")] += 1
    values["step"] = target
    if wait is not None:  # a removed wait holds nobody: go on now
        values.update(status=EnrollmentStatus.ACTIVE, due_at=now)
    return values
