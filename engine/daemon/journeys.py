"""Journeys carried out: the core's decisions for a lead, applied to the store in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine.core.clock import epoch
from engine.core.experiments import AssignArm
from engine.core.journey_plan import JourneyPlan
from engine.core.journeys import (
    MAX_COUNTED,
    Effect,
    End,
    Enqueue,
    Enrollment,
    EnrollmentStatus,
    JourneyDecisions,
    LeadView,
    MessageKind,
    Park,
    SetAttribute,
    Wake,
    lead_view,
)
from engine.core.rules import Rules
from engine.delivery import webhook
from engine.delivery.context import email_context
from engine.delivery.message import message_id
from engine.ingest.rows import LeadIn
from engine.store import Tx
from engine.store.actions import ActionRow
from engine.store.meta import SweepState
from engine.store.signals import SignalRow

if TYPE_CHECKING:
    from engine.service import Nurture

#: applies a `set` step through the normal lead update (fit, stages), in the same transaction
SetAttributeFn = Callable[[LeadView, str, Any], None]


def lead_views(tx: Tx, rules: Rules, lead_ids: Sequence[int], now: dt.datetime) -> dict[int, LeadView]:
    """These leads as journeys and delivery see them at ``now``, read in one query."""
    at = epoch(now)
    return {lead_id: lead_view(row.id, row.email, row.attributes, row.state, row.stage, row.owner,
                               row.unsubscribed, rules, at)
            for lead_id, row in tx.leads.journey_views(lead_ids).items()}


class StoredExperiments:
    """Split steps' earlier assignments and recorded winners, read in the runner's transaction."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._winners: dict[str, str | None] = {}

    def arm_of(self, lead_id: int, split: str) -> str | None:
        return self.tx.experiments.arm_of(lead_id, split)

    def winner(self, split: str) -> str | None:
        if split not in self._winners:  # read once per batch: a winner is recorded once and never changes
            self._winners[split] = self.tx.experiments.winner(split)
        return self._winners[split]


class JourneyRunner:
    """Enters, exits, converts and advances enrolments for one version at one instant, in ``tx``."""

    def __init__(self, tx: Tx, rules: Rules, version_id: int, now: dt.datetime, set_attribute: SetAttributeFn) -> None:
        self.tx = tx
        self.now = now
        self.set_attribute = set_attribute
        self.rules = rules
        self.decisions = JourneyDecisions(rules, version_id, now, self._history, StoredExperiments(tx))
        self.sender = str(rules.symbols.settings.get("sender address") or "nurture@localhost")

    def _history(self, lead_id: int, event_type: str, since: dt.datetime | None,
                 after: dt.datetime | None) -> list[dict[str, Any]]:
        return self.tx.events.props_of(lead_id, event_type, self.now, since, after, MAX_COUNTED)

    def leads(self, lead_ids: Sequence[int]) -> dict[int, LeadView]:
        """These leads as journeys see them now, in one query."""
        return lead_views(self.tx, self.rules, lead_ids, self.now)

    def on_change(self, lead: LeadView, stages: list[str], active: dict[str, Enrollment],
                  plans: dict[str, JourneyPlan] | None = None) -> None:
        """Exits, goals, wake-ups and entries for a lead that just changed (``stages`` it entered);
        ``active`` are its open enrolments by journey; ``plans`` the journeys to look at (None: all)."""
        decide = self.decisions
        for name, plan in (self.rules.journeys if plans is None else plans).items():
            enrollment = active.get(name)
            if enrollment is None and decide.enters(plan, lead, stages):
                last = self.tx.enrollments.last_entry(lead.id, name)
                if decide.may_enter(plan, None if last is None else last.at):
                    enrollment = self.tx.enrollments.enroll(lead.id, name, plan.start, decide.version_id, self.now,
                                                            last)
            # a change may also end a journey it just started (entered, then SQL)
            if enrollment is not None:
                self.apply(decide.check_running(plan, enrollment, lead, stages))

    def after_the_end(self, lead: LeadView, stages: list[str], finished: list[Enrollment],
                      plans: dict[str, JourneyPlan] | None = None) -> None:
        """A journey that ran to its end still holds back the emails it queued and has not sent: an exit or
        its goal that comes first cancels them, as it would have had the journey still been running, and the
        enrolment records it (a goal counts as a conversion)."""
        journeys = self.rules.journeys if plans is None else plans
        for enrollment in finished:
            plan = journeys.get(enrollment.journey)
            if plan is None:
                continue
            for effect in self.decisions.check_running(plan, enrollment, lead, stages):
                if isinstance(effect, End):
                    self.tx.enrollments.end_after_finishing(effect, self.now)
                    self.tx.outbox.cancel_queued(enrollment.id, enrollment.journey, effect.reason, self.now)

    def advance(self, enrollment: Enrollment, lead: LeadView) -> None:
        """Run a due enrolment's steps until its next wait or its end."""
        self.apply(self.decisions.advance(enrollment, lead))

    def enqueue(self, message: Enqueue) -> None:
        self.tx.outbox.enqueue(message, message_id(message.key, self.sender), self.now)

    def apply(self, effects: list[Effect]) -> None:
        enrollments = self.tx.enrollments
        for effect in effects:
            match effect:
                case End():
                    enrollments.end(effect, self.now)
                    if effect.goal or effect.status == EnrollmentStatus.EXITED:  # a finished journey sends its last
                        journey = enrollments.journey_of(effect.enrollment_id)
                        self.tx.outbox.cancel_queued(effect.enrollment_id, journey, effect.reason, self.now)
                case Wake():
                    enrollments.wake(effect, self.now)
                case Park():
                    enrollments.park(effect)
                case Enqueue():
                    self.enqueue(effect)
                case SetAttribute():
                    self.set_attribute(effect.lead, effect.name, effect.value)
                case AssignArm():  # a split step: the lead's arm, kept for good
                    self.tx.experiments.assign(effect.lead_id, effect.split, effect.arm, effect.journey,
                                               effect.enrollment_id, effect.at)


class JourneyPhases:
    """The tick's journey work, each phase a batch at a time in its own transaction: reacting to changed
    leads, the periodic sweep, due steps, and sales notifications into the outbox.

    Each phase works through its backlog batch after batch until it is done, the daemon stops, or the
    tick's budget (``budget_seconds`` of processing time, None: no limit) is spent; what is left is the
    first work of the next tick. So the daemon keeps up with any intake its store keeps up with.
    """

    def __init__(self, nurture: Nurture, batch: int, stopping: Callable[[], bool] = lambda: False,
                 budget_seconds: float | None = None) -> None:
        self.nurture = nurture
        self.batch = batch
        self.stopping = stopping
        self.budget_seconds = budget_seconds
        self._deadline: float | None = None

    def start_tick(self) -> None:
        """The budget starts now (a processing budget: it reads the monotonic timer, not the campaign's clock)."""
        self._deadline = None if self.budget_seconds is None else time.monotonic() + self.budget_seconds

    def _more(self, full: bool) -> bool:
        """Whether to take another batch: the last one was full, and neither a stop nor the budget says no."""
        return full and not self.stopping() and (self._deadline is None or time.monotonic() < self._deadline)

    def _runner(self, tx: Tx, now: dt.datetime) -> JourneyRunner:
        version_id, rules = self.nurture.rules()
        processor = self.nurture.processor()

        def set_attribute(lead: LeadView, name: str, value: Any) -> None:
            processor.update_leads(tx, [LeadIn(0, lead.email, {name: value})])

        return JourneyRunner(tx, rules, version_id, now, set_attribute)

    def react(self, now: dt.datetime) -> int:
        """Journeys react to leads that changed: exits, goals, wake-ups, entries."""
        done = 0
        while True:
            taken = self._react_batch(now)
            done += taken
            if not self._more(taken == self.batch):
                return done

    def _react_batch(self, now: dt.datetime) -> int:
        with self.nurture.store.transaction() as tx:
            signals = tx.signals.take(self.batch)
            if not signals:
                return 0
            runner = self._runner(tx, now)
            by_lead: dict[int, list[SignalRow]] = defaultdict(list)
            for signal in signals:
                by_lead[signal.lead_id].append(signal)
            # leads and their open enrolments read once per batch, not once per lead (reacting
            # changes neither, so reading them up front sees what reading them one by one did)
            leads = runner.leads(list(by_lead))
            active = tx.enrollments.open_of(list(by_lead))
            finished = tx.enrollments.finished_with_mail(list(by_lead))
            for lead_id, items in by_lead.items():
                lead = leads[lead_id]
                lead.arrived = [(e[0], e[1], e[2]) for s in items for e in s.props.get("events", [])]
                stages = [stage for s in items for stage, _ in s.props.get("stages", [])]
                runner.after_the_end(lead, stages, finished[lead_id])
                runner.on_change(lead, stages, active[lead_id])
            tx.signals.delete([s.id for s in signals])
            return len(signals)

    def sweep(self, now: dt.datetime) -> int:
        """Look at every lead once per `journey_sweep_seconds`, a batch per tick.

        Conditions on decaying scores and event windows can become true by time alone (a fading lead that
        stops engaging sends no signal), so journeys entered, exited or converted that way are found here;
        a round looks only at those journeys. The first round after a campaign version is applied looks at
        every journey, at once: leads that already meet a new entry condition enter it.
        """
        version_id, rules = self.nurture.rules()
        swept = {name: plan for name, plan in rules.journeys.items() if plan.swept}
        with self.nurture.store.transaction() as tx:
            state = tx.meta.journey_sweep()
            if state.covers != version_id and state.whole_round != version_id:
                state = SweepState(0, now, version_id, state.covers)
            elif state.cursor is None:
                if not swept or (state.started is not None and
                                 (now - state.started).total_seconds() < self.nurture.config.journey_sweep_seconds):
                    return 0
                state = SweepState(0, now, None, state.covers)
            ids = tx.leads.ids_after(state.cursor or 0, self.batch)
            plans = rules.journeys if state.whole_round == version_id else swept
            runner = self._runner(tx, now)
            leads, active = runner.leads(ids), tx.enrollments.open_of(ids)  # once per batch
            finished = tx.enrollments.finished_with_mail(ids)
            for lead_id in ids:
                runner.after_the_end(leads[lead_id], [], finished[lead_id], plans)
                runner.on_change(leads[lead_id], [], active[lead_id], plans)
            if len(ids) < self.batch:  # the round is done
                covers = state.whole_round if state.whole_round is not None else state.covers
                state = SweepState(None, state.started, None, covers)
            else:
                state = SweepState(ids[-1], state.started, state.whole_round, state.covers)
            tx.meta.set_journey_sweep(state)
            return len(ids)

    def run_steps(self, now: dt.datetime) -> int:
        """Due steps of open enrolments, batch after batch until none is due."""
        done = 0
        full = True
        while self._more(full):
            with self.nurture.store.transaction() as tx:
                due = tx.enrollments.due(now, self.batch)
                full = len(due) == self.batch
                if not due:
                    return done
                runner = self._runner(tx, now)
                # Leads read in one query; a lead met again in the batch is read afresh, as a `set`
                # step of its earlier enrolment may have changed it.
                leads = runner.leads([enrollment.lead_id for enrollment in due])
                for enrollment in due:
                    lead = leads.pop(enrollment.lead_id, None) or runner.leads([enrollment.lead_id])[enrollment.lead_id]
                    runner.advance(enrollment, lead)
                done += len(due)
        return done

    def queue_notifications(self, now: dt.datetime) -> int:
        """Stage entry notifications become sales emails in the outbox, exactly once each."""
        done = 0
        while True:
            taken = self._notification_batch(now)
            done += taken
            if not self._more(taken == self.batch):
                return done

    def _notification_batch(self, now: dt.datetime) -> int:
        config = self.nurture.config
        with self.nurture.store.transaction() as tx:
            actions = tx.actions.pending_notifications(self.batch)
            runner = self._runner(tx, now)
            leads = runner.leads([action.lead_id for action in actions])  # one query
            for action in actions:
                lead = leads[action.lead_id]
                payload = action.payload
                step = payload.get("step") or f"stage {payload['stage']}"  # or `account alert NAME`
                to = runner.decisions.recipient(payload["recipient"], payload["address"], lead)
                runner.enqueue(Enqueue(f"action:{action.key}", lead.id, MessageKind.SALES, to, payload["template"],
                                       now, None, step, None))
                if config.sales_webhook_url:
                    key = f"webhook:{action.key}"
                    runner.enqueue(Enqueue(key, lead.id, MessageKind.WEBHOOK, str(config.sales_webhook_url),
                                           payload["template"], now, None, step, None))
                    tx.outbox.set_body_once(key, self._webhook_body(tx, runner.rules, action, lead, now))
                tx.actions.mark_done(action.id, now)
            return len(actions)

    @staticmethod
    def _webhook_body(tx: Tx, rules: Rules, action: ActionRow, lead: LeadView, now: dt.datetime) -> bytes:
        """The notification as JSON, taken now (who the lead is and why it qualified) and sent later."""
        context = email_context(tx, rules, lead, now, "", None, sales=True)
        # an account alert says so, and names its account; a stage entry stays as it was
        account = {"account": action.payload["account"]} if "account" in action.payload else {}
        return webhook.body({"event": "account.alert" if account else "stage.entered", **account,
                             "stage": action.payload["stage"], "at": now.isoformat(),
                             "reason": action.payload.get("reason"), "lead": context["lead"],
                             "scores": context["scores"], "owner": context["owner"], "reasons": context["reasons"],
                             "activity": context["activity"], "journey": context["journey"]})
