"""Judging a scenario's expectations, and the campaign's invariants, against what the engine did, and saying
what happened instead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsl import ast as a
from dsl.formatter import text_of
from engine.core.conditions import names_in
from engine.core.journeys import LeadView, ran_every_step
from engine.core.rules import lead_test
from engine.daemon.journeys import lead_views
from engine.errors import EngineError
from engine.lab.account_expectations import judge_account_value
from engine.lab.play import Play
from engine.lab.sla_expect import judge_sla
from engine.store import Tx
from engine.store.history import Email, JourneyRun, StageChange


@dataclass
class Snapshot:
    """The lead as the engine left it at one instant, with everything that happened to it so far."""

    lead: LeadView
    changes: list[StageChange]
    emails: list[Email]
    journeys: list[JourneyRun]


def snapshot(play: Play, tx: Tx, now: dt.datetime) -> Snapshot:
    _, rules = play.run.nurture.rules()
    history = tx.history
    # the lead as journeys see it, through the daemon's own reader
    lead = lead_views(tx, rules, [play.lead_id], now)[play.lead_id]
    # sales hear about an account through whichever of its leads was active last: any of the scenario's
    emails = history.emails(play.lead_id) + [email for other in play.lead_ids.values() if other != play.lead_id
                                             for email in history.emails(other) if email.kind == "sales"]
    return Snapshot(lead, history.stage_changes(play.lead_id), emails, history.journeys(play.lead_id))


def judge(play: Play, check: a.Check, now: dt.datetime) -> list[str] | None:
    """None when ``check`` holds now; otherwise what happened instead, a sentence a line."""
    with play.run.nurture.store.transaction() as tx:
        state = snapshot(play, tx, now)
    match check:
        case a.ExpectStage(stage=stage):
            return None if state.lead.stage == stage else _stage_instead(play, state)
        case a.ExpectValue() | a.ExpectBetween():
            return _value(state, check)
        case a.ExpectEmail():
            return _email(play, state, check, now)
        case a.ExpectJourney():
            return _journey(play, state, check)
        case a.ExpectArm():  # a split step's arm, as the store recorded it
            return _arm(play, check)
        case a.ExpectSla():
            return judge_sla(play, check, now)
        case a.ExpectAccountValue():
            return judge_account_value(play, check, now)
    raise EngineError(f"cannot judge {type(check).__name__}")


def _arm(play: Play, check: a.ExpectArm) -> list[str] | None:
    with play.run.nurture.store.transaction() as tx:
        arms = tx.experiments.arms_of_lead(play.lead_id)
    if check.split not in arms:
        return [f"the lead has not reached split `{check.split}`"]
    arm, at = arms[check.split]
    return None if arm == check.arm else [f"the lead went down arm `{arm}` of `{check.split}` at {play.when(at)}"]


def plain(value: a.Value) -> Any:
    """A literal as the engine takes it in (dates as ISO text, as in a JSON file)."""
    if isinstance(value.value, tuple):  # a list
        return [plain(v) for v in value.value]
    if isinstance(value.value, dt.date):
        return value.value.isoformat()
    return value.value


def _stage_instead(play: Play, state: Snapshot) -> list[str]:
    if not state.changes:
        return [f"the lead is still in `{state.lead.stage}`"]
    last = state.changes[-1]
    return [f"the lead is in `{state.lead.stage}`, since {play.when(last.at)}: {last.reason}"]


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": lambda x, y: x >= y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, "<": lambda x, y: x < y,
    "=": lambda x, y: x == y, "!=": lambda x, y: x != y}


def _value(state: Snapshot, check: a.ExpectValue | a.ExpectBetween) -> list[str] | None:
    name = str(check.name)
    scores, attrs = state.lead.scores, state.lead.attributes
    value = scores[name] if name in scores else attrs.get(name)
    if isinstance(check, a.ExpectBetween):
        low, high = check.low.value, check.high.value
        holds = all(isinstance(v, int | float) for v in (value, low, high)) and low <= value <= high  # type: ignore[operator]  # checked just before: all numbers
    else:
        try:
            holds = value is not None and _COMPARE[check.op](value, plain(check.value))
        except TypeError:  # a value of another type than declared never compares
            holds = False
    if holds:
        return None
    if value is None:
        shown = "not set"
    else:
        shown = text_of(a.Value(kind="text", value=value)) if isinstance(value, str) else f"{value}"
    return [f"`{name}` is {shown}"]


def source(email: Email) -> str:
    """Where an email came from: `journey.step`, or the stage whose entry notified sales."""
    return f"{email.journey}.{email.step}" if email.journey else (email.step or "the campaign")


def _email(play: Play, state: Snapshot, check: a.ExpectEmail, now: dt.datetime) -> list[str] | None:
    kind = "marketing" if check.kind == "sent" else "sales"
    mine = [r for r in state.emails if r.kind == kind]
    matching = [r for r in mine if r.template == check.template
                and (check.journey is None or r.journey == check.journey)
                and (check.step is None or r.step == check.step)]
    sent = _sent_by(matching, now)
    what = f'"{check.template}"'
    if check.negated:
        if not sent:
            return None
        at, first = sent[0]
        to = "" if kind == "marketing" else f" to {first.to_address}"
        return [f"{what} was sent{to} at {play.when(at)}, from {source(first)}"]
    if sent:
        return None
    instead = [_unsent(play, row) for row in matching]
    if not matching:
        where = "" if check.journey is None else f" from {check.journey}" + (f".{check.step}" if check.step else "")
        noun = "email" if kind == "marketing" else "sales notification"
        instead.append(f"no {what} {noun}{where} was queued")
    done = sorted(_sent_by(mine, now), key=lambda pair: (pair[0], pair[1].id))
    if done:
        label = "emails sent" if kind == "marketing" else "sales notifications sent"
        instead.append(f"{label}: " + ", ".join(f'"{r.template}" from {source(r)} at {play.when(at)}'
                                                for at, r in done))
    else:
        instead.append("no email was sent to the lead" if kind == "marketing" else "sales was not notified")
    return instead


def _sent_by(emails: list[Email], now: dt.datetime) -> list[tuple[dt.datetime, Email]]:
    """The emails among ``emails`` sent by ``now``, each with when it was sent."""
    return [(r.sent_at, r) for r in emails if r.status == "sent" and r.sent_at is not None and r.sent_at <= now]


def _unsent(play: Play, email: Email) -> str:
    held = f", held back {times(email.deferrals)} by quiet hours or a frequency cap" if email.deferrals else ""
    if email.status == "queued":
        return f'"{email.template}" from {source(email)} is queued for {play.when(email.due_at)}{held}'
    reason = f": {email.last_error}" if email.last_error else ""
    return f'"{email.template}" from {source(email)} was {email.status}{reason}'


def times(n: int) -> str:
    return f"{n} time{'' if n == 1 else 's'}"


def _journey(play: Play, state: Snapshot, check: a.ExpectJourney) -> list[str] | None:
    runs = [r for r in state.journeys if r.journey == check.journey]
    active = [r for r in runs if r.status in ("active", "waiting")]
    holds = {
        "in": bool(active),
        "not in": not active,
        "exited": any(r.status == "exited" for r in runs),
        "finished": any(ran_every_step(r.status, r.end_reason) for r in runs),
        "goal": any(r.goal_at is not None for r in runs),
    }[check.state]
    if holds:
        return None
    if not runs:
        return [f"the lead never entered `{check.journey}`"]
    return [_journey_run(play, r) for r in runs]


def _journey_run(play: Play, run: JourneyRun) -> str:
    entered = f"`{run.journey}` entered at {play.when(run.entered_at)}"
    if run.status == "waiting":
        until = f" until {play.when(run.due_at)}" if run.due_at else ""
        return f"{entered}, waiting{until} at step `{run.step}`"
    if run.status == "active":
        return f"{entered}, next step `{run.step}` at {play.when(run.due_at)}"
    return f"{entered}, {ended(run)} at {play.when(run.ended_at)}"


def ended(run: JourneyRun) -> str:
    """How an enrolment ended: its goal, its end, or why it was left."""
    if run.goal_at is not None:
        return str(run.end_reason or "goal reached")
    if run.status == "done":
        return "finished" if run.end_reason == "finished" else str(run.end_reason)
    return f"exited ({run.end_reason})" if run.end_reason else "exited"


# ===== invariants ==============================================================================


def crowded(times: list[dt.datetime], count: int, window: dt.timedelta) -> list[dt.datetime] | None:
    """The first ``count + 1`` of ``times`` that fall within one rolling ``window`` (each less than ``window``
    after the first), or None: what breaks `invariant at most <count> emails per <window>`."""
    ordered = sorted(times)
    for i in range(len(ordered) - count):
        if ordered[i + count] - ordered[i] < window:
            return ordered[i : i + count + 1]
    return None


def no_events(_index: int) -> bool:
    return False  # invariants test no events (the checker's E415)


class InvariantWatch:
    """The campaign's invariants, judged while a scenario plays: each email the lead gets, when it is sent."""

    def __init__(self, play: Play) -> None:
        self.invariants = list(play.sym.invariants)
        self.tests = {id(i): lead_test(play.sym, i.rule.condition) for i in self.invariants
                      if isinstance(i.rule, a.NoEmailWhen)}
        self.seen: set[int] = set()

    def broken(self, play: Play, now: dt.datetime) -> tuple[a.Invariant, list[str]] | None:
        """The first invariant the emails sent by ``now`` break, with what happened; None while all hold."""
        if not self.invariants:
            return None
        with play.run.nurture.store.transaction() as tx:
            state = snapshot(play, tx, now)
        sent = sorted(_sent_by([r for r in state.emails if r.kind == "marketing"], now),
                      key=lambda pair: (pair[0], pair[1].id))
        new = [(at, r) for at, r in sent if r.id not in self.seen]
        self.seen |= {r.id for _, r in new}
        for invariant in self.invariants:
            match invariant.rule:
                case a.EmailCap(count=count, window=window):
                    found = crowded([at for at, _ in sent], count, window.timedelta)
                    if found is not None:
                        emails = [f'"{r.template}" from {source(r)} at {play.when(at)}' for at, r in sent
                                  if found[0] <= at <= found[-1]]
                        return invariant, [f"{play.email} got {len(found)} emails from {play.when(found[0])} to "
                                           f"{play.when(found[-1])}: " + ", ".join(emails)]
                case a.NoEmailWhen(condition=cond):
                    lead = state.lead
                    if new and self.tests[id(invariant)](lead.attributes, lead.scores, no_events, lead.stage):
                        at, email = new[0]
                        read = [f"{n} = {value_shown(lead, n)}" for n in sorted(names_in(cond))]
                        values = f" ({', '.join(read)})" if read else ""
                        return invariant, [f'"{email.template}" from {source(email)} went to {play.email} at '
                                           f"{play.when(at)}, when {text_of(cond)}{values}"]
        return None


def value_shown(lead: LeadView, name: str) -> str:
    value = lead.scores[name] if name in lead.scores else lead.attributes.get(name)
    if value is None:
        return "missing"
    return text_of(a.Value(kind="text", value=value)) if isinstance(value, str) else f"{value}"
