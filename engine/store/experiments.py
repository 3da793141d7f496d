"""Split steps (A/B experiments) in the store: each lead's arm, once, and each split's winner, once.

Both are written with "insert unless it exists" on their unique key, so two daemons on one PostgreSQL, or a
daemon restarted halfway, can never give a lead a second arm or a split a second winner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.base import Repository
from engine.store.tables import EVENTS, EXPERIMENT_ASSIGNMENTS, EXPERIMENT_DECISIONS

#: assignments read per query while counting a split's figures
_BATCH = 1000


class Decision(NamedTuple):
    split: str
    winner: str
    decided_at: dt.datetime
    reason: str
    figures: dict[str, Any]
    decided_by: str


class Tally(NamedTuple):
    """One arm's leads: assigned, measured (their goal window has closed), and of those, the goal reached."""

    assigned: int
    measured: int
    reached: int


#: (arm, the goal event's props) -> whether the event counts as the goal for a lead in that arm
GoalTest = Callable[[str, dict[str, Any]], bool]


class Experiments(Repository):
    """Split steps (A/B experiments): each lead's arm, once, and each split's winner, once."""

    def _insert_new(self, table: sa.Table, row: dict[str, Any], keys: list[str]) -> bool:
        dialect = postgresql if self.postgres else sqlite
        stmt = dialect.insert(table).values(**row).on_conflict_do_nothing(index_elements=keys)
        # a row comes back only when this statement inserted it (rowcount is not reliable on every driver)
        return self.conn.execute(stmt.returning(table.c[keys[0]])).first() is not None

    # ----- assignments ------------------------------------------------------------------------------

    def assign(self, lead_id: int, split: str, arm: str, journey: str, enrollment_id: int | None,
               at: dt.datetime) -> bool:
        """Record the lead's arm unless it has one; True when this call recorded it."""
        return self._insert_new(EXPERIMENT_ASSIGNMENTS, {
            "split": split, "lead_id": lead_id, "arm": arm, "journey": journey,
            "enrollment_id": enrollment_id, "assigned_at": at}, ["split", "lead_id"])

    def arm_of(self, lead_id: int, split: str) -> str | None:
        t = EXPERIMENT_ASSIGNMENTS
        return self.conn.execute(sa.select(t.c.arm).where(t.c.split == split, t.c.lead_id == lead_id)).scalar()

    def arms_of_lead(self, lead_id: int) -> dict[str, tuple[str, dt.datetime]]:
        """Every split the lead went through: split -> (arm, when)."""
        t = EXPERIMENT_ASSIGNMENTS
        rows = self.conn.execute(sa.select(t.c.split, t.c.arm, t.c.assigned_at).where(t.c.lead_id == lead_id))
        return {row.split: (row.arm, row.assigned_at) for row in rows}

    def splits(self) -> list[str]:
        """Splits with at least one lead assigned or a winner recorded, by name."""
        found = set(self.conn.execute(sa.select(EXPERIMENT_ASSIGNMENTS.c.split).distinct()).scalars())
        found |= set(self.conn.execute(sa.select(EXPERIMENT_DECISIONS.c.split)).scalars())
        return sorted(found)

    def tally(self, split: str, arms: Sequence[str], goal_event: str, goal: GoalTest, window: dt.timedelta,
              now: dt.datetime) -> dict[str, Tally]:
        """Each arm's figures at ``now``: a lead is measured once its goal window has closed, and reached the
        goal when one of its ``goal_event`` events at or after its assignment and within ``window`` passes
        ``goal``. Assignments are read a batch at a time, never all at once."""
        counts = {arm: [0, 0, 0] for arm in arms}
        t = EXPERIMENT_ASSIGNMENTS
        last = 0
        while True:
            batch = list(self.conn.execute(
                sa.select(t.c.id, t.c.lead_id, t.c.arm, t.c.assigned_at)
                .where(t.c.split == split, t.c.id > last, t.c.assigned_at <= now).order_by(t.c.id).limit(_BATCH)))
            if not batch:
                break
            last = batch[-1].id
            measured = [row for row in batch if row.arm in counts and row.assigned_at + window <= now]
            for row in batch:
                if row.arm in counts:
                    counts[row.arm][0] += 1
            reached = self._reached(measured, goal_event, goal, window)
            for row in measured:
                counts[row.arm][1] += 1
                counts[row.arm][2] += row.lead_id in reached
        return {arm: Tally(*values) for arm, values in counts.items()}

    def _reached(self, rows: Sequence[Any], goal_event: str, goal: GoalTest, window: dt.timedelta) -> set[int]:
        if not rows:
            return set()
        by_lead = {row.lead_id: row for row in rows}
        start = min(row.assigned_at for row in rows)
        end = max(row.assigned_at for row in rows) + window
        events = self.conn.execute(
            sa.select(EVENTS.c.lead_id, EVENTS.c.at, EVENTS.c.props)
            .where(EVENTS.c.lead_id.in_(list(by_lead)), EVENTS.c.type == goal_event,
                   EVENTS.c.at >= start, EVENTS.c.at <= end))
        reached: set[int] = set()
        for event in events:
            row = by_lead[event.lead_id]
            if row.assigned_at <= event.at <= row.assigned_at + window and goal(row.arm, event.props or {}):
                reached.add(event.lead_id)
        return reached

    # ----- decisions --------------------------------------------------------------------------------

    def decide(self, split: str, winner: str, at: dt.datetime, reason: str, figures: dict[str, Any],
               by: str) -> bool:
        """Record the split's winner unless one is recorded; True when this call recorded it."""
        return self._insert_new(EXPERIMENT_DECISIONS, {
            "split": split, "winner": winner, "decided_at": at, "reason": reason[:2000], "figures": figures,
            "decided_by": by[:100]}, ["split"])

    def decision(self, split: str) -> Decision | None:
        t = EXPERIMENT_DECISIONS
        row = self.conn.execute(sa.select(t).where(t.c.split == split)).first()
        return None if row is None else Decision(row.split, row.winner, row.decided_at, row.reason,
                                                 dict(row.figures or {}), row.decided_by)

    def decisions(self) -> dict[str, Decision]:
        t = EXPERIMENT_DECISIONS
        return {row.split: Decision(row.split, row.winner, row.decided_at, row.reason, dict(row.figures or {}),
                                    row.decided_by) for row in self.conn.execute(sa.select(t))}

    def winner(self, split: str) -> str | None:
        t = EXPERIMENT_DECISIONS
        return self.conn.execute(sa.select(t.c.winner).where(t.c.split == split)).scalar()
