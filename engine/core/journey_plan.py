"""Compiles a journey into a flat program of labelled instructions with explicit jumps.

Labels are the stable identity of a step across versions: an in-flight lead is always "at a
label", so an edited journey can move it to the same place in the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dsl import ast as a
from dsl.symbols import step_labels
from engine.core.conditions import HappenedAtom

Test = Callable[..., bool]  # (A, S, H, stage) -> bool


@dataclass(frozen=True)
class Trigger:
    """What enters, exits or converts: a stage change, or a condition (event-driven if it names events)."""

    stage: str | None = None
    test: Test | None = None
    #: event types whose arrival makes this trigger worth evaluating
    events: frozenset[str] = frozenset()
    text: str = ""


@dataclass(frozen=True)
class Instruction:
    label: str
    kind: str  # send, wait, wait_event, wait_time, branch, set, notify
    args: dict[str, Any]
    #: the label run after this one (None: the journey is finished)
    next: str | None
    #: for branches: where each side starts
    then: str | None = None
    otherwise: str | None = None


@dataclass
class JourneyPlan:
    name: str
    title: str | None
    entries: list[Trigger] = field(default_factory=list)
    exits: list[Trigger] = field(default_factory=list)
    goals: list[Trigger] = field(default_factory=list)
    reentry: str = "never"
    reentry_after: float | None = None
    program: dict[str, Instruction] = field(default_factory=dict)
    #: the first label (None: a journey without steps)
    start: str | None = None
    #: labels in source order, for moving in-flight leads when a step is removed
    order: list[str] = field(default_factory=list)
    atoms: list[HappenedAtom] = field(default_factory=list)

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type this journey reacts to (triggers and waits)."""
        types = {t for trig in (*self.entries, *self.exits, *self.goals) for t in trig.events}
        types |= {i.args["event"] for i in self.program.values() if i.kind == "wait_event"}
        return frozenset(types)


class PlanCompiler:
    """Builds one JourneyPlan; ``compile_test`` turns a condition into a (A, S, H, stage) function."""

    def __init__(self, journey: a.Journey, compile_test: Callable[[a.Condition, Callable], Test],
                 compile_filter: Callable[[a.EventRef], Callable[[dict], bool] | None], text: Callable[[a.Node], str]):
        self.journey = journey
        self.compile_test = compile_test
        self.compile_filter = compile_filter
        self.text = text
        self.plan = JourneyPlan(str(journey.name), journey.title)
        self.labels = step_labels(journey.steps)

    def register(self, atom: HappenedAtom) -> int:
        """Event conditions of this journey are numbered per journey; H(i) answers them at run time."""
        self.plan.atoms.append(atom)
        return len(self.plan.atoms) - 1

    def trigger(self, node: a.Node) -> Trigger:
        if isinstance(node, a.StageBecomes):
            return Trigger(stage=str(node.stage), text=self.text(node))
        assert isinstance(node, a.Condition)
        events = frozenset(str(n.event.event) for n in node.walk() if isinstance(n, a.Happened))
        return Trigger(test=self.compile_test(node, self.register), events=events, text=self.text(node))

    def flatten(self, steps: tuple[a.Step, ...], after: str | None) -> str | None:
        """Add ``steps`` to the program; returns the first label (or ``after`` when empty)."""
        first = after
        for index in range(len(steps) - 1, -1, -1):  # back to front: each step knows what follows
            step = steps[index]
            label = self.labels[id(step)]
            self.plan.program[label] = self.instruction(step, label, first)
            first = label
        return first

    def instruction(self, step: a.Step, label: str, following: str | None) -> Instruction:
        match step.action:
            case a.Send(template=template, window=window):
                args: dict[str, Any] = {"template": str(template)}
                if window is not None:
                    args.update(hour=window.time.hour, minute=window.time.minute,
                                days=window.days.days if window.days else None)
                return Instruction(label, "send", args, following)
            case a.Wait(duration=d):
                return Instruction(label, "wait", {"seconds": d.seconds}, following)
            case a.WaitEvent(event=ref, timeout=timeout):
                return Instruction(label, "wait_event", {
                    "event": str(ref.event), "filter": self.compile_filter(ref),
                    "timeout": timeout.seconds if timeout else None}, following)
            case a.WaitTime(time=t, days=days):
                return Instruction(label, "wait_time", {"hour": t.hour, "minute": t.minute,
                                                        "days": days.days if days else None}, following)
            case a.SetAttribute(name=name, value=value):
                return Instruction(label, "set", {"name": str(name), "value": value.python()}, following)
            case a.NotifyAction(recipient=r, template=template):
                return Instruction(label, "notify", {"recipient": r.kind, "address": r.address,
                                                     "template": str(template)}, following)
            case a.Branch(condition=cond, then=then, otherwise=otherwise):
                return Instruction(label, "branch", {"test": self.compile_test(cond, self.register),
                                                     "text": self.text(cond)}, following,
                                   then=self.flatten(then, following), otherwise=self.flatten(otherwise, following))
        raise TypeError(f"unknown step {type(step.action).__name__}")

    def build(self) -> JourneyPlan:
        plan = self.plan
        for item in self.journey.items:
            match item:
                case a.Entry(trigger=t):
                    plan.entries.append(self.trigger(t))
                case a.ExitRule(trigger=t):
                    plan.exits.append(self.trigger(t))
                case a.Goal(trigger=t):
                    plan.goals.append(self.trigger(t))
                case a.Reentry(policy=policy, after=after):
                    plan.reentry = policy
                    plan.reentry_after = float(after.seconds) if after else None
        plan.start = self.flatten(self.journey.steps, None)
        plan.order = [self.labels[id(s)] for s in _all_steps(self.journey.steps)]
        return plan


def _all_steps(steps: tuple[a.Step, ...]):
    for step in steps:
        yield step
        if isinstance(step.action, a.Branch):
            yield from _all_steps(step.action.then)
            yield from _all_steps(step.action.otherwise)
