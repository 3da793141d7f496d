"""Journey enrolments: entering, due steps, waits, ends and moves between versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.core.journeys import (
    FINISHED,
    OPEN_STATUSES,
    End,
    Enrollment,
    EnrollmentStatus,
    MessageKind,
    Park,
    Wake,
    finished_then,
)
from engine.store.base import Repository, chunks
from engine.store.bulk import insert_many
from engine.store.tables import ENROLLMENTS, OUTBOX

# Statements built once and executed with parameters. Building one (and its cache key) costs
# SQLAlchemy ~150 us, six times executing it; at a few per step that was a large share of the
# daemon's time. `_UPDATE` sets the columns named in the parameters it is given.
_UPDATE = ENROLLMENTS.update().where(ENROLLMENTS.c.id == sa.bindparam("_id"))
_LAST_ENTRY = (sa.select(ENROLLMENTS.c.entry, ENROLLMENTS.c.entered_at)
               .where(ENROLLMENTS.c.lead_id == sa.bindparam("_lead"), ENROLLMENTS.c.journey == sa.bindparam("_journey"))
               .order_by(ENROLLMENTS.c.entry.desc()).limit(1))
_ENROLLED = sa.select(ENROLLMENTS).where(
    ENROLLMENTS.c.lead_id == sa.bindparam("_lead"), ENROLLMENTS.c.journey == sa.bindparam("_journey"),
    ENROLLMENTS.c.entry == sa.bindparam("_entry"))
_OPEN = [str(status) for status in OPEN_STATUSES]


class Entry(NamedTuple):
    """One of a lead's entries into a journey: 1 for the first, 2 for a re-entry, ...; and when."""

    number: int
    at: dt.datetime


def _enrollment(row: Any) -> Enrollment:
    return Enrollment(row.id, row.lead_id, row.journey, row.entry, row.version_id, row.step,
                      EnrollmentStatus(row.status), row.due_at, row.waiting_for, dict(row.marks or {}),
                      row.entered_at, row.goal_at)


class Enrollments(Repository):
    """Journey enrolments: entering, due steps, waits, ends and moves between versions."""

    def open_of(self, lead_ids: Sequence[int]) -> dict[int, dict[str, Enrollment]]:
        """Open (active or waiting) enrolments of these leads: lead -> journey -> enrolment, in one query."""
        found: dict[int, dict[str, Enrollment]] = {lead_id: {} for lead_id in lead_ids}
        for part in chunks(sorted(set(lead_ids))):
            for row in self.conn.execute(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.lead_id.in_(part),
                                                                      ENROLLMENTS.c.status.in_(_OPEN))
                                         .order_by(ENROLLMENTS.c.id)):
                found[row.lead_id][row.journey] = _enrollment(row)
        return found

    def finished_with_mail(self, lead_ids: Sequence[int]) -> dict[int, list[Enrollment]]:
        """Enrolments of these leads that ran to their end, and met no exit or goal since, while a marketing
        email they queued has yet to go (its time has not come, or a cap or quiet hours put it off):
        lead -> enrolments, in one query."""
        found: dict[int, list[Enrollment]] = {lead_id: [] for lead_id in lead_ids}
        for part in chunks(sorted(set(lead_ids))):
            unsent = sa.select(OUTBOX.c.enrollment_id).where(
                OUTBOX.c.lead_id.in_(part), OUTBOX.c.sent_at.is_(None), OUTBOX.c.status == "queued",
                OUTBOX.c.kind == str(MessageKind.MARKETING))
            for row in self.conn.execute(sa.select(ENROLLMENTS).where(
                    ENROLLMENTS.c.id.in_(unsent), ENROLLMENTS.c.status == str(EnrollmentStatus.DONE),
                    ENROLLMENTS.c.end_reason == FINISHED).order_by(ENROLLMENTS.c.id)):
                found[row.lead_id].append(_enrollment(row))
        return found

    def due(self, now: dt.datetime, limit: int) -> list[Enrollment]:
        """Open enrolments whose step is due, oldest first; on PostgreSQL locked for this transaction,
        skipping those another daemon holds."""
        query = (sa.select(ENROLLMENTS).where(ENROLLMENTS.c.status.in_(_OPEN), ENROLLMENTS.c.due_at <= now)
                 .order_by(ENROLLMENTS.c.due_at, ENROLLMENTS.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [_enrollment(row) for row in self.conn.execute(query)]

    def in_flight(self, after_id: int, limit: int) -> list[Enrollment]:
        """Open enrolments by id after ``after_id``: moving them to a new version, a batch at a time."""
        return [_enrollment(row) for row in self.conn.execute(
            sa.select(ENROLLMENTS).where(ENROLLMENTS.c.status.in_(_OPEN), ENROLLMENTS.c.id > after_id)
            .order_by(ENROLLMENTS.c.id).limit(limit))]

    def journey_of(self, enrollment_id: int) -> str:
        return str(self.conn.execute(sa.select(ENROLLMENTS.c.journey).where(ENROLLMENTS.c.id == enrollment_id))
                   .scalar_one())

    def last_entry(self, lead_id: int, journey: str) -> Entry | None:
        """The lead's latest entry into ``journey`` (None: it never entered it)."""
        row = self.conn.execute(_LAST_ENTRY, {"_lead": lead_id, "_journey": journey}).first()
        return None if row is None else Entry(row.entry, row.entered_at)

    def enroll(self, lead_id: int, journey: str, start: str | None, version_id: int, now: dt.datetime,
               last: Entry | None) -> Enrollment:
        """A new enrolment at step ``start`` (None: a journey without steps, finished at once), after the lead's
        ``last`` entry into the journey (`last_entry`, read in the same transaction)."""
        entry = (0 if last is None else last.number) + 1
        insert_many(self.conn, ENROLLMENTS, [{
            "lead_id": lead_id, "journey": journey, "entry": entry, "version_id": version_id, "step": start,
            "status": str(EnrollmentStatus.ACTIVE if start else EnrollmentStatus.DONE), "due_at": now,
            "waiting_for": None, "marks": {}, "entered_at": now, "ended_at": None if start else now,
            "end_reason": None if start else "no steps", "goal_at": None, "leased_by": None,
            "leased_until": None}], ignore_conflicts_on="lead_id, journey, entry")
        return _enrollment(self.conn.execute(_ENROLLED, {"_lead": lead_id, "_journey": journey,
                                                         "_entry": entry}).one())

    def end(self, end: End, now: dt.datetime) -> None:
        values: dict[str, Any] = {"status": str(end.status), "ended_at": now, "end_reason": end.reason[:500],
                                  "due_at": None, "step": None}
        if end.goal:
            values["goal_at"] = now
        if end.marks is not None:
            values["marks"] = end.marks
        self.conn.execute(_UPDATE, {"_id": end.enrollment_id, **values})

    def end_after_finishing(self, end: End, now: dt.datetime) -> None:
        """An enrolment that ran to its end meets an exit or its goal (``end``) while an email it queued waits.
        It stays finished, at the time it finished; its reason says what came after, and a goal counts as
        reached now. The send-time check reads that, so the email stops even in a daemon that already holds it.
        """
        values: dict[str, Any] = {"end_reason": finished_then(end.reason)[:500]}
        if end.goal:
            values["goal_at"] = now
        self.conn.execute(_UPDATE, {"_id": end.enrollment_id, **values})

    def wake(self, wake: Wake, now: dt.datetime) -> None:
        """A waiting enrolment whose event arrived leaves its wait: its next step is due now."""
        self.conn.execute(_UPDATE, {"_id": wake.enrollment_id, "step": wake.step,
                                    "status": str(EnrollmentStatus.ACTIVE), "due_at": now, "waiting_for": None})

    def park(self, park: Park) -> None:
        """The enrolment is in the wait ``park.step`` until ``park.due_at``."""
        self.conn.execute(_UPDATE, {"_id": park.enrollment_id, "step": park.step,
                                    "status": str(EnrollmentStatus.WAITING), "due_at": park.due_at,
                                    "waiting_for": None, "marks": park.marks, "version_id": park.version_id})

    def move(self, enrollment_id: int, **values: Any) -> None:
        """Set columns of one enrolment (moving it to a new campaign version)."""
        if "status" in values:
            values["status"] = str(values["status"])
        self.conn.execute(_UPDATE, {"_id": enrollment_id, **values})
