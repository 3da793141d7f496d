"""The journey runtime: enrolment, exits and goals, and running steps until the next wait.

Trigger semantics (written down in the README):
- `stage becomes X` fires when the lead enters stage X.
- An event condition without `within`/`since` in a trigger means "this event just arrived"
  (`enter when sales.rejected`); with `within` it looks at the lead's history.
- Conditions on attributes, scores and stage hold or not whenever the daemon looks: after every
  change of the lead, and in a periodic sweep, so time alone (decay) can also enter or exit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.clock import epoch, from_epoch
from engine.core.journey_plan import Instruction, JourneyPlan, Trigger
from engine.core.rules import Rules
from engine.core.schedule import next_slot, zone
from engine.core.scoring import LeadState
from engine.delivery.message import message_id
from engine.store.bulk import insert_many
from engine.store.tables import ENROLLMENTS, EVENTS, LEADS, OUTBOX

#: steps one enrolment may run in one go (a journey has no loops; this bounds a bad version)
MAX_STEPS = 100

# Statements built once and executed with parameters. Building one (and its cache key) costs
# SQLAlchemy ~150 us, six times executing it; at a few per step that was a large share of the
# daemon's time. `_UPDATE` sets the columns named in the parameters it is given.
_UPDATE = ENROLLMENTS.update().where(ENROLLMENTS.c.id == sa.bindparam("_id"))
_LAST_ENTRY = (sa.select(ENROLLMENTS.c.entry, ENROLLMENTS.c.entered_at)
               .where(ENROLLMENTS.c.lead_id == sa.bindparam("_lead"), ENROLLMENTS.c.journey == sa.bindparam("_journey"))
               .order_by(ENROLLMENTS.c.entry.desc()).limit(1))
_MAX_ENTRY = sa.select(sa.func.max(ENROLLMENTS.c.entry)).where(
    ENROLLMENTS.c.lead_id == sa.bindparam("_lead"), ENROLLMENTS.c.journey == sa.bindparam("_journey"))
_ENROLLED = sa.select(ENROLLMENTS).where(
    ENROLLMENTS.c.lead_id == sa.bindparam("_lead"), ENROLLMENTS.c.journey == sa.bindparam("_journey"),
    ENROLLMENTS.c.entry == sa.bindparam("_entry"))


@dataclass
class LeadView:
    """A lead as journeys see it at one instant."""

    id: int
    email: str
    attributes: dict[str, Any]
    scores: dict[str, int]
    stage: str
    owner: str | None
    unsubscribed: bool
    #: events that just arrived, as (type, props, epoch): the edge for event triggers
    arrived: list[tuple[str, dict, float]] = field(default_factory=list)


_VIEW_COLUMNS = (LEADS.c.id, LEADS.c.email, LEADS.c.attributes, LEADS.c.state, LEADS.c.stage, LEADS.c.owner,
                 LEADS.c.unsubscribed_at)


def _view(row, rules: Rules, at: float) -> LeadView:
    state = LeadState(row.state)
    attrs = {**rules.symbols.defaults, **row.attributes, "email": row.email, "owner": row.owner}
    scores = {name: state.score(model, at) for name, model in rules.scores.items()}
    return LeadView(row.id, row.email, attrs, scores, row.stage, row.owner, row.unsubscribed_at is not None)


def load_lead(conn: Connection, rules: Rules, lead_id: int, now: dt.datetime) -> LeadView:
    return _view(conn.execute(sa.select(*_VIEW_COLUMNS).where(LEADS.c.id == lead_id)).one(), rules, epoch(now))


def load_leads(conn: Connection, rules: Rules, lead_ids: list[int], now: dt.datetime) -> dict[int, LeadView]:
    """Many leads in one query: the daemon's batches read hundreds at a time, and a query per lead
    cost more than everything journeys then do with them."""
    at = epoch(now)
    found: dict[int, LeadView] = {}
    unique = sorted(set(lead_ids))
    for start in range(0, len(unique), 500):  # bounded IN lists
        for row in conn.execute(sa.select(*_VIEW_COLUMNS).where(LEADS.c.id.in_(unique[start:start + 500]))):
            found[row.id] = _view(row, rules, at)
    return found


def active_enrollments(conn: Connection, lead_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Open (active or waiting) enrolments of these leads: lead -> journey -> row, in one query."""
    found: dict[int, dict[str, Any]] = {lead_id: {} for lead_id in lead_ids}
    unique = sorted(set(lead_ids))
    for start in range(0, len(unique), 500):
        for row in conn.execute(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.lead_id.in_(unique[start:start + 500]),
                                                            ENROLLMENTS.c.status.in_(("active", "waiting")))
                                .order_by(ENROLLMENTS.c.id)):
            found[row.lead_id][row.journey] = row
    return found


_COUNTS: dict[tuple[bool, bool], sa.Select] = {}


def _count_query(since: bool, within: bool) -> sa.Select:
    """The events an event condition counts, with or without `since` and `within` bounds (built once)."""
    if (since, within) not in _COUNTS:
        query = sa.select(EVENTS.c.props).where(EVENTS.c.lead_id == sa.bindparam("_lead"),
                                                EVENTS.c.type == sa.bindparam("_type"),
                                                EVENTS.c.at <= sa.bindparam("_now"))
        if since:
            query = query.where(EVENTS.c.at >= sa.bindparam("_since"))
        if within:
            query = query.where(EVENTS.c.at > sa.bindparam("_after"))
        _COUNTS[(since, within)] = query.limit(10_000)
    return _COUNTS[(since, within)]


class JourneyRuntime:
    def __init__(self, conn: Connection, rules: Rules, version_id: int, now: dt.datetime,
                 set_attribute: Callable[[LeadView, str, Any], None]) -> None:
        """``set_attribute`` applies a `set` step through the normal lead update (fit, stages)."""
        self.conn = conn
        self.rules = rules
        self.version_id = version_id
        self.now = now
        self.set_attribute = set_attribute
        self.settings = rules.symbols.settings

    # ----- conditions ------------------------------------------------------------------------

    def _holds(self, test, plan: JourneyPlan, lead: LeadView, marks: dict[str, float], edge: bool) -> bool:
        def hit(index: int) -> bool:
            atom = plan.atoms[index]
            if edge and atom.within is None and atom.since is None:
                return sum(1 for etype, props, _ in lead.arrived
                           if etype == atom.event and (atom.filter is None or atom.filter(props))) >= 1
            return self._count(lead.id, atom, marks) >= atom.times

        return bool(test(lead.attributes, lead.scores, hit, lead.stage))

    def _count(self, lead_id: int, atom, marks: dict[str, float]) -> int:
        params: dict[str, Any] = {"_lead": lead_id, "_type": atom.event, "_now": self.now}
        if atom.since is not None:
            if atom.since not in marks:
                return 0  # the step has not run: nothing happened since it
            params["_since"] = from_epoch(marks[atom.since])
        if atom.within is not None:
            params["_after"] = self.now - dt.timedelta(seconds=atom.within)
        rows = self.conn.execute(_count_query(atom.since is not None, atom.within is not None), params).scalars()
        return sum(1 for props in rows if atom.filter is None or atom.filter(props or {}))

    def fires(self, trigger: Trigger, plan: JourneyPlan, lead: LeadView, stages: list[str],
              marks: dict[str, float] | None = None) -> bool:
        if trigger.stage is not None:
            return trigger.stage in stages
        return self._holds(trigger.test, plan, lead, marks or {}, edge=True)

    # ----- reacting to a changed lead --------------------------------------------------------

    def on_change(self, lead: LeadView, stages: list[str], active: dict[str, Any] | None = None) -> None:
        """Exits, goals, wake-ups and entries for a lead that just changed (``stages`` it entered).

        ``active`` are the lead's open enrolments by journey when the caller has read them already
        (see `active_enrollments`).
        """
        if active is None:
            active = active_enrollments(self.conn, [lead.id])[lead.id]
        for name, plan in self.rules.journeys.items():
            row = active.get(name)
            if row is None and any(self.fires(t, plan, lead, stages) for t in plan.entries) \
                    and self._may_enter(lead.id, plan):
                row = self.enroll(lead, plan)
            if row is not None:  # a change may also end a journey it just started (entered, then SQL)
                self._check_running(row, plan, lead, stages)

    def _check_running(self, row, plan: JourneyPlan, lead: LeadView, stages: list[str]) -> None:
        marks = dict(row.marks or {})
        if any(self.fires(t, plan, lead, stages, marks) for t in plan.goals) and row.goal_at is None:
            self._end(row.id, "done", f"goal reached: {next(t.text for t in plan.goals)}", goal=True)
            return
        for trigger in plan.exits:
            if self.fires(trigger, plan, lead, stages, marks):
                self._end(row.id, "exited", f"exit when {trigger.text}")
                return
        if row.status == "waiting":
            wait = plan.program.get(self._waiting_label(row, plan) or "")
            if wait is not None and wait.kind == "wait_event" and any(
                    etype == wait.args["event"] and (wait.args["filter"] is None or wait.args["filter"](props))
                    for etype, props, _ in lead.arrived):
                self.conn.execute(_UPDATE, {"_id": row.id, "status": "active", "due_at": self.now,
                                            "waiting_for": None})

    def _waiting_label(self, row, plan: JourneyPlan) -> str | None:
        index = row.waiting_for
        return plan.order[index] if index is not None and index < len(plan.order) else None

    def _may_enter(self, lead_id: int, plan: JourneyPlan) -> bool:
        last = self.conn.execute(_LAST_ENTRY, {"_lead": lead_id, "_journey": plan.name}).first()
        if last is None or plan.reentry == "always":
            return True
        if plan.reentry == "after" and plan.reentry_after is not None:
            return (self.now - last.entered_at).total_seconds() >= plan.reentry_after
        return False

    def enroll(self, lead: LeadView, plan: JourneyPlan):
        entry = (self.conn.execute(_MAX_ENTRY, {"_lead": lead.id, "_journey": plan.name}).scalar() or 0) + 1
        insert_many(self.conn, ENROLLMENTS, [{
            "lead_id": lead.id, "journey": plan.name, "entry": entry, "version_id": self.version_id,
            "step": plan.start, "status": "active" if plan.start else "done", "due_at": self.now, "waiting_for": None,
            "marks": {}, "entered_at": self.now, "ended_at": None if plan.start else self.now,
            "end_reason": None if plan.start else "no steps", "goal_at": None, "leased_by": None,
            "leased_until": None}], ignore_conflicts_on="lead_id, journey, entry")
        return self.conn.execute(_ENROLLED, {"_lead": lead.id, "_journey": plan.name, "_entry": entry}).one()

    def _end(self, enrollment_id: int, status: str, reason: str, goal: bool = False) -> None:
        values: dict[str, Any] = {"status": status, "ended_at": self.now, "end_reason": reason[:500],
                                  "due_at": None, "step": None}
        if goal:
            values["goal_at"] = self.now
        self.conn.execute(_UPDATE, {"_id": enrollment_id, **values})

    # ----- running steps ---------------------------------------------------------------------

    def advance(self, row, lead: LeadView) -> None:
        """Run the enrolment's steps from its current label until a wait or the end."""
        plan = self.rules.journeys.get(row.journey)
        if plan is None:
            self._end(row.id, "exited", "journey removed from the campaign")
            return
        marks = dict(row.marks or {})
        for trigger in plan.exits:  # exit criteria are checked before every step
            if trigger.stage is None and self._holds(trigger.test, plan, lead, marks, edge=False):
                self._end(row.id, "exited", f"exit when {trigger.text}")
                return
        label, cursor = row.step, max(self.now, row.due_at or self.now)
        for _ in range(MAX_STEPS):
            if label is None:
                self._end(row.id, "done", "finished")
                self._save_marks(row.id, marks)
                return
            step = plan.program[label]
            marks[label] = epoch(cursor)
            wait = self._run(step, row, plan, lead, marks, cursor)
            if wait is not None:
                status, due, waiting_for = wait
                self.conn.execute(_UPDATE, {"_id": row.id, "step": step.next, "status": status, "due_at": due,
                                            "waiting_for": waiting_for, "marks": marks, "version_id": self.version_id})
                return
            label = self._after(step, plan, lead, marks)
            if step.kind == "send" and "hour" in step.args:
                cursor = max(cursor, self._send_time(step, lead, cursor))
        self._end(row.id, "exited", "too many steps in one go")

    def _after(self, step: Instruction, plan: JourneyPlan, lead: LeadView, marks: dict[str, float]) -> str | None:
        if step.kind == "branch":
            return step.then if self._holds(step.args["test"], plan, lead, marks, edge=False) else step.otherwise
        return step.next

    def _run(self, step: Instruction, row, plan: JourneyPlan, lead: LeadView, marks, cursor: dt.datetime):
        """Do one step; returns (status, due_at, waiting_for) when the enrolment must now wait."""
        match step.kind:
            case "send" | "notify":
                marketing = step.kind == "send"
                self.enqueue(f"{row.id}:{step.label}:{row.version_id}", lead, "marketing" if marketing else "sales",
                             lead.email if marketing else self.recipient(step.args, lead), step.args["template"],
                             self._send_time(step, lead, cursor), journey=row.journey, step=step.label,
                             enrollment_id=row.id)
            case "set":
                self.set_attribute(lead, step.args["name"], step.args["value"])
                lead.attributes[step.args["name"]] = step.args["value"]
            case "wait":
                return "active", cursor + dt.timedelta(seconds=step.args["seconds"]), None
            case "wait_time":
                due = next_slot(cursor, self._zone(lead), step.args["hour"], step.args["minute"], step.args["days"])
                return "active", due, None
            case "wait_event":
                timeout = step.args["timeout"]
                due = cursor + dt.timedelta(seconds=timeout) if timeout is not None else None
                return "waiting", due, plan.order.index(step.label)
        return None

    def _zone(self, lead: LeadView):
        return zone(lead.attributes.get("timezone"), str(self.settings.get("default timezone") or "UTC"))

    def _send_time(self, step: Instruction, lead: LeadView, cursor: dt.datetime) -> dt.datetime:
        if "hour" not in step.args:
            return cursor
        return next_slot(cursor, self._zone(lead), step.args["hour"], step.args["minute"], step.args["days"])

    def recipient(self, args: dict, lead: LeadView) -> str:
        """Where a notification goes: the owner, the address written, or the campaign's sales address."""
        if args["recipient"] == "owner" and lead.owner:
            return lead.owner
        return args.get("address") or str(self.settings.get("sales address") or self.settings.get("sender address"))

    def enqueue(self, key: str, lead: LeadView, kind: str, to: str, template: str, due: dt.datetime, *,
                journey: str | None, step: str | None, enrollment_id: int | None) -> None:
        """Put one email in the outbox under ``key``; the same key is never queued twice."""
        insert_many(self.conn, OUTBOX, [{
            "key": key, "lead_id": lead.id, "enrollment_id": enrollment_id, "kind": kind, "journey": journey,
            "step": step, "template": template, "to_address": to,
            "message_id": message_id(key, str(self.settings.get("sender address") or "nurture@localhost")),
            "status": "queued", "due_at": due, "created_at": self.now, "sent_at": None, "attempts": 0,
            "deferrals": 0, "last_error": None, "data": None, "leased_by": None, "leased_until": None,
        }], ignore_conflicts_on="key")

    def _save_marks(self, enrollment_id: int, marks: dict[str, float]) -> None:
        self.conn.execute(_UPDATE, {"_id": enrollment_id, "marks": marks})
