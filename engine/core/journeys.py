"""The journey runtime as decisions: given a lead, its enrolment and the time, what happens next.

Nothing here reads or writes the store: the caller passes the lead and enrolment in, answers the
one question that needs history (which events of a type happened in a period) through a function,
and carries out the effects returned. The same decisions run in the daemon and on virtual clocks.

Trigger semantics (written down in the README):
- `stage becomes X` fires when the lead enters stage X.
- An event condition without `within`/`since` in a trigger means "this event just arrived"
  (`enter when sales.rejected`); with `within` it looks at the lead's history.
- Conditions on attributes, scores and stage hold or not whenever the daemon looks: after every
  change of the lead, and in a periodic sweep, so time alone (decay) can also enter or exit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.core.clock import epoch, from_epoch
from engine.core.conditions import HappenedAtom
from engine.core.experiments import DEFAULT_SEED, AssignArm, ExperimentState, NoHistory, choose
from engine.core.journey_plan import (
    AnyStep,
    BranchStep,
    JourneyPlan,
    NotifyStep,
    SendStep,
    SetStep,
    SplitStep,
    Test,
    Trigger,
    WaitEventStep,
    WaitStep,
    WaitTimeStep,
)
from engine.core.rules import Rules
from engine.core.schedule import next_slot, zone
from engine.core.scoring import LeadState

#: steps one enrolment may run in one go (a journey has no loops; this bounds a bad version)
MAX_STEPS = 100
#: the most events of one type an event condition looks at
MAX_COUNTED = 10_000


class EnrollmentStatus(StrEnum):
    #: runs ``step`` when ``due_at`` comes
    ACTIVE = "active"
    #: is in the wait ``step``: until ``due_at``, or (a wait for an event) until the event comes, at most
    #: until ``due_at`` (None: no timeout); then goes on after it
    WAITING = "waiting"
    DONE = "done"
    EXITED = "exited"


#: the statuses of an enrolment still under way
OPEN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.WAITING)
#: why an enrolment that ran every step ended
FINISHED = "finished"


def finished_then(reason: str) -> str:
    """The end of an enrolment that ran every step and then, while an email it queued still waited, met an
    exit or its goal (``reason``): it stays finished, and says what came after."""
    return f"{FINISHED}, then {reason}"


def ran_every_step(status: str, end_reason: str | None) -> bool:
    """Whether an enrolment ended by running its last step, whatever came after it."""
    return status == EnrollmentStatus.DONE and end_reason is not None \
        and (end_reason == FINISHED or end_reason.startswith(finished_then("")))


class MessageKind(StrEnum):
    #: to the lead: consent, quiet hours and frequency caps apply
    MARKETING = "marketing"
    #: an internal notification to sales
    SALES = "sales"
    #: a sales notification as a signed JSON POST
    WEBHOOK = "webhook"


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
    arrived: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)


@dataclass
class Enrollment:
    """A lead's way through one journey."""

    id: int
    lead_id: int
    journey: str
    #: 1 for the first time the lead entered this journey, 2 for a re-entry, ...
    entry: int
    version_id: int
    #: the label of the step the lead is in: to run at ``due_at`` (active), or the wait it is in (waiting);
    #: None: finished
    step: str | None
    status: EnrollmentStatus
    due_at: dt.datetime | None
    #: set only by stores written before the position was the wait itself: a waiting lead's wait, as an
    #: index in its journey's source order, with ``step`` the step after the wait (see `position`)
    waiting_for: int | None
    #: label -> epoch when that step ran, for `since LABEL` conditions
    marks: dict[str, float]
    entered_at: dt.datetime
    goal_at: dt.datetime | None = None


# ----- effects: what the caller carries out, in order ------------------------------------------


@dataclass(frozen=True)
class End:
    enrollment_id: int
    status: EnrollmentStatus
    reason: str
    goal: bool = False
    #: the marks to keep with the ended enrolment (None: leave them as they are)
    marks: dict[str, float] | None = None


@dataclass(frozen=True)
class Wake:
    """A waiting enrolment whose event arrived leaves its wait: ``step`` runs now."""

    enrollment_id: int
    step: str | None


@dataclass(frozen=True)
class Park:
    """The enrolment is now in the wait ``step`` until ``due_at`` (None: until its event comes)."""

    enrollment_id: int
    step: str
    due_at: dt.datetime | None
    marks: dict[str, float]
    version_id: int


@dataclass(frozen=True)
class Enqueue:
    """One message into the outbox under ``key``; the same key is never queued twice."""

    key: str
    lead_id: int
    kind: MessageKind
    to: str
    template: str
    due: dt.datetime
    journey: str | None
    step: str | None
    enrollment_id: int | None
    #: the subscription topic of a marketing email
    topic: str | None = None


@dataclass(frozen=True)
class SetAttribute:
    """A `set` step: the lead's attribute changes through the normal lead update (fit, stages)."""

    lead: LeadView
    name: str
    value: Any


Effect = End | Wake | Park | Enqueue | SetAttribute | AssignArm

#: (lead id, event type, at or after, strictly after) -> the props of those events up to now, at most MAX_COUNTED
EventHistory = Callable[[int, str, dt.datetime | None, dt.datetime | None], Iterable[dict[str, Any]]]


class JourneyDecisions:
    """Decisions for one campaign version at one instant ``now``."""

    def __init__(self, rules: Rules, version_id: int, now: dt.datetime, history: EventHistory,
                 experiments: ExperimentState | None = None) -> None:
        self.rules = rules
        self.version_id = version_id
        self.now = now
        self.history = history
        self.settings = rules.symbols.settings
        #: earlier assignments and recorded winners of split steps (none: every lead goes by the hash)
        self.experiments: ExperimentState = experiments or NoHistory()
        #: the arm each split step just run sent its enrolment down, by (enrolment, step label)
        self._arms: dict[tuple[int, str], str | None] = {}

    # ----- conditions ------------------------------------------------------------------------

    def holds(self, test: Test | None, plan: JourneyPlan, lead: LeadView, marks: dict[str, float],
              edge: bool) -> bool:
        """Whether a condition holds; with ``edge``, a bare event condition means "just arrived"."""
        assert test is not None, "a condition trigger always has a compiled test"

        def hit(index: int) -> bool:
            atom = plan.atoms[index]
            if edge and atom.within is None and atom.since is None:
                return any(etype == atom.event and (atom.filter is None or atom.filter(props))
                           for etype, props, _ in lead.arrived)
            return self._count(lead.id, atom, marks) >= atom.times

        return bool(test(lead.attributes, lead.scores, hit, lead.stage))

    def _count(self, lead_id: int, atom: HappenedAtom, marks: dict[str, float]) -> int:
        since = after = None
        if atom.since is not None:
            if atom.since not in marks:
                return 0  # the step has not run: nothing happened since it
            since = from_epoch(marks[atom.since])
        if atom.within is not None:
            after = self.now - dt.timedelta(seconds=atom.within)
        return sum(1 for props in self.history(lead_id, atom.event, since, after)
                   if atom.filter is None or atom.filter(props))

    def fires(self, trigger: Trigger, plan: JourneyPlan, lead: LeadView, stages: list[str],
              marks: dict[str, float] | None = None) -> bool:
        if trigger.stage is not None:
            return trigger.stage in stages
        return self.holds(trigger.test, plan, lead, marks or {}, edge=True)

    # ----- reacting to a changed lead --------------------------------------------------------

    def enters(self, plan: JourneyPlan, lead: LeadView, stages: list[str]) -> bool:
        return any(self.fires(t, plan, lead, stages) for t in plan.entries)

    def may_enter(self, plan: JourneyPlan, last_entered_at: dt.datetime | None) -> bool:
        """The re-entry policy, given when the lead last entered this journey (None: never)."""
        if last_entered_at is None or plan.reentry == "always":
            return True
        if plan.reentry == "after" and plan.reentry_after is not None:
            return (self.now - last_entered_at).total_seconds() >= plan.reentry_after
        return False

    def check_running(self, plan: JourneyPlan, enrollment: Enrollment, lead: LeadView,
                      stages: list[str]) -> list[Effect]:
        """Goals, exits and wake-ups of an open enrolment whose lead just changed."""
        marks = enrollment.marks
        if enrollment.goal_at is None and any(self.fires(t, plan, lead, stages, marks) for t in plan.goals):
            return [End(enrollment.id, EnrollmentStatus.DONE, f"goal reached: {plan.goals[0].text}", goal=True)]
        for trigger in plan.exits:
            if self.fires(trigger, plan, lead, stages, marks):
                return [End(enrollment.id, EnrollmentStatus.EXITED, f"exit when {trigger.text}")]
        wait_label, after = position(enrollment, plan)
        wait = plan.program.get(wait_label or "")
        if isinstance(wait, WaitEventStep) and any(wait.matches(etype, props) for etype, props, _ in lead.arrived):
            return [Wake(enrollment.id, after)]
        return []

    # ----- running steps ---------------------------------------------------------------------

    def advance(self, enrollment: Enrollment, lead: LeadView) -> list[Effect]:
        """Run the enrolment's steps from its current label until a wait or the end."""
        plan = self.rules.journeys.get(enrollment.journey)
        if plan is None:
            return [End(enrollment.id, EnrollmentStatus.EXITED, "journey removed from the campaign")]
        marks = dict(enrollment.marks)
        for trigger in plan.exits:  # exit criteria are checked before every step
            if trigger.stage is None and self.holds(trigger.test, plan, lead, marks, edge=False):
                return [End(enrollment.id, EnrollmentStatus.EXITED, f"exit when {trigger.text}")]
        effects: list[Effect] = []
        # a waiting lead whose time came (its wait ended, or its event wait timed out) goes on after the wait
        label = position(enrollment, plan)[1]
        cursor = max(self.now, enrollment.due_at or self.now)
        for _ in range(MAX_STEPS):
            if label is None:
                effects.append(End(enrollment.id, EnrollmentStatus.DONE, FINISHED, marks=marks))
                return effects
            step = plan.program[label]
            marks[label] = epoch(cursor)
            park = self._run(step, enrollment, plan, lead, marks, cursor, effects)
            if park is not None:
                effects.append(park)
                return effects
            label = self._after(step, plan, lead, marks, enrollment.id)
        effects.append(End(enrollment.id, EnrollmentStatus.EXITED, "too many steps in one go"))
        return effects

    def _after(self, step: AnyStep, plan: JourneyPlan, lead: LeadView, marks: dict[str, float],
               enrollment_id: int) -> str | None:
        if isinstance(step, BranchStep):
            return step.then if self.holds(step.test, plan, lead, marks, edge=False) else step.otherwise
        if isinstance(step, SplitStep):
            return self._arms.pop((enrollment_id, step.label), step.next)
        return step.next

    def _run(self, step: AnyStep, enrollment: Enrollment, plan: JourneyPlan, lead: LeadView,
             marks: dict[str, float], cursor: dt.datetime, effects: list[Effect]) -> Park | None:
        """Do one step (its effects appended); returns how the enrolment parks when it must now wait."""
        def park(due: dt.datetime | None) -> Park:
            return Park(enrollment.id, step.label, due, marks, self.version_id)

        match step:
            case SendStep() | NotifyStep():
                marketing = isinstance(step, SendStep)
                due = self._send_time(step, lead, cursor)
                effects.append(Enqueue(
                    f"{enrollment.id}:{step.label}:{enrollment.version_id}", lead.id,
                    MessageKind.MARKETING if marketing else MessageKind.SALES,
                    lead.email if isinstance(step, SendStep) else self.recipient(step.recipient, step.address, lead),
                    step.template, due, enrollment.journey, step.label,
                    enrollment.id, step.topic if isinstance(step, SendStep) else None))
                if due > cursor:
                    # `send ... at 09:30` waits for that time, and the enrolment with it: an exit or the goal
                    # meanwhile cancels the email (had it gone on, or finished, the email would go regardless),
                    # and the steps after it run when it goes, not before
                    return park(due)
            case SetStep():
                effects.append(SetAttribute(lead, step.name, step.value))
                lead.attributes[step.name] = step.value
            case WaitStep():
                return park(cursor + dt.timedelta(seconds=step.seconds))
            case WaitTimeStep():
                window = step.window
                return park(next_slot(cursor, self._zone(lead), window.hour, window.minute, window.days))
            case WaitEventStep():
                return park(cursor + dt.timedelta(seconds=step.timeout) if step.timeout is not None else None)
            case SplitStep():  # an A/B experiment: the lead's arm, recorded the first time
                experiment = plan.experiments[step.split]
                seed = str(self.settings.get("experiment seed", DEFAULT_SEED))
                arm, new = choose(experiment, seed, lead.id, lead.email, self.experiments)
                if new:
                    effects.append(AssignArm(lead.id, step.split, arm, plan.name, enrollment.id, cursor))
                self._arms[(enrollment.id, step.label)] = next(a.start for a in experiment.arms if a.name == arm)
        return None

    def _zone(self, lead: LeadView) -> Any:
        return zone(lead.attributes.get("timezone"), str(self.settings.get("default timezone") or "UTC"))

    def _send_time(self, step: SendStep | NotifyStep, lead: LeadView, cursor: dt.datetime) -> dt.datetime:
        window = step.window if isinstance(step, SendStep) else None
        if window is None:
            return cursor
        return next_slot(cursor, self._zone(lead), window.hour, window.minute, window.days)

    def recipient(self, recipient: str, address: str | None, lead: LeadView) -> str:
        """Where a notification goes: the owner, the address written, or the campaign's sales address."""
        if recipient == "owner" and lead.owner:
            return lead.owner
        return address or str(self.settings.get("sales address") or self.settings.get("sender address"))


def position(enrollment: Enrollment, plan: JourneyPlan) -> tuple[str | None, str | None]:
    """Where an enrolment is: (the wait it is in, or None; the step it runs next).

    An active enrolment runs ``step`` next. A waiting one is in the wait ``step`` and runs what follows the
    wait once it ends. Stores written before the wait itself was the position kept the step after the wait
    in ``step`` and the wait as an index in ``waiting_for``; both forms read the same here.
    """
    if enrollment.status != EnrollmentStatus.WAITING:
        return None, enrollment.step
    if enrollment.waiting_for is not None:  # the earlier form
        index = enrollment.waiting_for
        return (plan.order[index] if index < len(plan.order) else None), enrollment.step
    step = plan.program.get(enrollment.step or "")
    return enrollment.step, step.next if step is not None else None


def lead_view(lead_id: int, email: str, attributes: dict[str, Any], state: dict[str, Any], stage: str,
              owner: str | None, unsubscribed: bool, rules: Rules, at: float) -> LeadView:
    """A lead as journeys see it at epoch ``at``: declared defaults under its own attributes, scores read then."""
    lead_state = LeadState(state)
    attrs = {**rules.symbols.defaults, **attributes, "email": email, "owner": owner}
    scores = {name: lead_state.score(model, at) for name, model in rules.scores.items()}
    return LeadView(lead_id, email, attrs, scores, stage, owner, unsubscribed)
