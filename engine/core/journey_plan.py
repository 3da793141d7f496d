"""Compiles a journey into a flat program of labelled instructions with explicit jumps.

Labels are the stable identity of a step across versions: an in-flight lead is always "at a
label", so an edited journey can move it to the same place in the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from dsl import ast as a
from dsl.symbols import step_labels
from dsl.topics import email_topic
from engine.core.conditions import HappenedAtom, names_in
from engine.core.experiments import ExperimentPlan, experiment_plan

Test = Callable[..., bool]  # (A, S, H, stage) -> bool


@dataclass(frozen=True)
class Trigger:
    """What enters, exits or converts: a stage change, or a condition (event-driven if it names events)."""

    stage: str | None = None
    test: Test | None = None
    #: event types whose arrival makes this trigger worth evaluating
    events: frozenset[str] = frozenset()
    text: str = ""
    #: time alone can change it: it reads a score that decays, or counts events within a window
    timely: bool = False
    #: it holds only as an event arrives (`enter when page.viewed and ...`), never when looked at later
    on_arrival: bool = False


class StepKind(StrEnum):
    SEND = "send"
    NOTIFY = "notify"
    SET = "set"
    WAIT = "wait"
    WAIT_TIME = "wait_time"
    WAIT_EVENT = "wait_event"
    BRANCH = "branch"
    SPLIT = "split"


@dataclass(frozen=True)
class Window:
    """A wall-clock time in the lead's zone, on some weekdays (None: every day)."""

    hour: int
    minute: int
    days: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Step:
    """One labelled instruction; ``next`` is the label run after it (None: the journey is finished)."""

    label: str
    next: str | None

    kind: ClassVar[StepKind]


@dataclass(frozen=True)
class SendStep(Step):
    template: str
    window: Window | None = None
    #: the subscription topic of the email: the send's own, else its journey's (None: no topic)
    topic: str | None = None
    kind: ClassVar[StepKind] = StepKind.SEND


@dataclass(frozen=True)
class NotifyStep(Step):
    #: "owner" or "address"; without an owner or an address the campaign's sales address gets it
    recipient: str
    address: str | None
    template: str
    kind: ClassVar[StepKind] = StepKind.NOTIFY


@dataclass(frozen=True)
class SetStep(Step):
    name: str
    value: Any
    kind: ClassVar[StepKind] = StepKind.SET


@dataclass(frozen=True)
class WaitStep(Step):
    seconds: float
    kind: ClassVar[StepKind] = StepKind.WAIT


@dataclass(frozen=True)
class WaitTimeStep(Step):
    window: Window
    kind: ClassVar[StepKind] = StepKind.WAIT_TIME


@dataclass(frozen=True)
class WaitEventStep(Step):
    event: str
    filter: Callable[[dict[str, Any]], bool] | None
    #: seconds to wait at most (None: until the event comes)
    timeout: float | None
    kind: ClassVar[StepKind] = StepKind.WAIT_EVENT

    def matches(self, event_type: str, props: dict[str, Any]) -> bool:
        return event_type == self.event and (self.filter is None or self.filter(props))


@dataclass(frozen=True)
class BranchStep(Step):
    test: Test
    text: str
    #: where each side starts
    then: str | None
    otherwise: str | None
    kind: ClassVar[StepKind] = StepKind.BRANCH


@dataclass(frozen=True)
class SplitStep(Step):
    """An A/B experiment: the lead goes down one arm (see `engine.core.experiments`), then on to ``next``."""

    split: str
    kind: ClassVar[StepKind] = StepKind.SPLIT


AnyStep = SendStep | NotifyStep | SetStep | WaitStep | WaitTimeStep | WaitEventStep | BranchStep | SplitStep


@dataclass
class JourneyPlan:
    name: str
    title: str | None
    entries: list[Trigger] = field(default_factory=list)
    exits: list[Trigger] = field(default_factory=list)
    goals: list[Trigger] = field(default_factory=list)
    reentry: str = "never"
    reentry_after: float | None = None
    program: dict[str, AnyStep] = field(default_factory=dict)
    #: the first label (None: a journey without steps)
    start: str | None = None
    #: labels in source order, for moving in-flight leads when a step is removed
    order: list[str] = field(default_factory=list)
    atoms: list[HappenedAtom] = field(default_factory=list)
    #: the journey's split steps (A/B experiments), by split name
    experiments: dict[str, ExperimentPlan] = field(default_factory=dict)

    @property
    def swept(self) -> bool:
        """Whether the periodic sweep must look at this journey: time alone can enter, exit or convert a
        lead. Events, attribute changes and stage changes reach journeys as signals; a lead that stops
        doing anything reaches them only through the sweep."""
        if any(t.timely for t in (*self.entries, *self.exits, *self.goals)):
            return True
        # a lead that still meets a condition entry enters again once the re-entry delay has passed
        return self.reentry == "after" and any(t.test is not None and not t.on_arrival for t in self.entries)

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type this journey reacts to (triggers and waits)."""
        types = {t for trig in (*self.entries, *self.exits, *self.goals) for t in trig.events}
        types |= {step.event for step in self.program.values() if isinstance(step, WaitEventStep)}
        return frozenset(types)


def _on_arrival(node: a.Condition) -> bool:
    """A bare event (no window, no `since`) is "just arrived" in a trigger: a condition that needs one holds
    only as that event arrives."""
    if isinstance(node, a.Happened):
        return node.within is None and node.since is None
    return isinstance(node, a.AllOf) and any(_on_arrival(item) for item in node.items)


class PlanCompiler:
    """Builds one JourneyPlan; ``compile_test`` turns a condition into a (A, S, H, stage) function."""

    def __init__(self, journey: a.Journey, compile_test: Callable[[a.Condition, Callable], Test],
                 compile_filter: Callable[[a.EventRef], Callable[[dict], bool] | None], text: Callable[[a.Node], str],
                 decaying: frozenset[str] = frozenset()):
        self.journey = journey
        self.decaying = decaying
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
        timely = bool(names_in(node) & self.decaying) or any(isinstance(n, a.Happened) and n.within is not None
                                                              for n in node.walk())
        return Trigger(test=self.compile_test(node, self.register), events=events, text=self.text(node),
                       timely=timely, on_arrival=_on_arrival(node))

    def flatten(self, steps: tuple[a.Step, ...], after: str | None) -> str | None:
        """Add ``steps`` to the program; returns the first label (or ``after`` when empty)."""
        first = after
        for index in range(len(steps) - 1, -1, -1):  # back to front: each step knows what follows
            step = steps[index]
            label = self.labels[id(step)]
            self.plan.program[label] = self.instruction(step, label, first)
            first = label
        return first

    def instruction(self, step: a.Step, label: str, following: str | None) -> AnyStep:
        match step.action:
            case a.Send(template=template, window=window):
                return SendStep(label, following, str(template),
                                _window(window.time, window.days) if window is not None else None,
                                email_topic(self.journey, step.action))
            case a.Wait(duration=d):
                return WaitStep(label, following, d.seconds)
            case a.WaitEvent(event=ref, timeout=timeout):
                return WaitEventStep(label, following, str(ref.event), self.compile_filter(ref),
                                     timeout.seconds if timeout else None)
            case a.WaitTime(time=t, days=days):
                return WaitTimeStep(label, following, _window(t, days))
            case a.SetAttribute(name=name, value=value):
                return SetStep(label, following, str(name), value.python())
            case a.NotifyAction(recipient=r, template=template):
                return NotifyStep(label, following, r.kind, r.address, str(template))
            case a.Branch(condition=cond, then=then, otherwise=otherwise):
                return BranchStep(label, following, self.compile_test(cond, self.register), self.text(cond),
                                  then=self.flatten(then, following), otherwise=self.flatten(otherwise, following))
            case a.Split() as split:  # an A/B experiment: engine/core/experiments.py
                experiment = experiment_plan(self.plan.name, label, split, lambda arm: self.flatten(arm, following),
                                             self.compile_filter, self.text)
                self.plan.experiments[experiment.name] = experiment
                return SplitStep(label, following, experiment.name)
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


def _window(time: a.TimeOfDay, days: a.Days | None) -> Window:
    return Window(time.hour, time.minute, tuple(days.days) if days else None)


def _all_steps(steps: tuple[a.Step, ...]):
    for step in steps:
        yield step
        yield from _all_steps(a.inner_steps(step.action))  # a branch's sides, a split's arms
