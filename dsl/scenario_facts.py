"""What scenarios look up in a campaign: which steps send each template, and which events a stage or journey needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import ast as a
from .symbols import FIRST_STAGE, Symbols, step_labels


def needed_events(cond: a.Condition) -> frozenset[str]:
    """Event types that must have happened for ``cond`` to hold (a part of an `or` only when every side needs it)."""
    match cond:
        case a.Happened():
            return frozenset({str(cond.event.event)})
        case a.AllOf(items=items):
            return frozenset().union(*(needed_events(i) for i in items))
        case a.AnyOf(items=items):
            return frozenset.intersection(*(needed_events(i) for i in items))
    return frozenset()


def _common(ways: Iterable[frozenset[str]]) -> frozenset[str]:
    """What every way needs; nothing when there is no way at all."""
    ways = list(ways)
    return frozenset.intersection(*ways) if ways else frozenset()


def all_steps(steps: Iterable[a.Step]) -> Iterator[a.Step]:
    """Steps in document order, nested ones included."""
    for step in steps:
        yield step
        yield from all_steps(a.inner_steps(step.action))  # a branch's sides, a split's arms


@dataclass
class Facts:
    sym: Symbols
    #: journey -> label -> step
    labels: dict[str, dict[str, a.Step]] = field(default_factory=dict)
    #: template -> (journey, label) of every `send` step using it
    sent_by: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: template -> what notifies sales with it ("stage mql", "journey welcome")
    notified_by: dict[str, list[str]] = field(default_factory=dict)
    _stage_needs: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, sym: Symbols) -> Facts:
        facts = cls(sym)
        for name, journey in sym.journeys.items():
            labels = step_labels(journey.steps)
            facts.labels[name] = {}
            for step in all_steps(journey.steps):
                label = labels[id(step)]
                facts.labels[name].setdefault(label, step)
                if isinstance(step.action, a.Send):
                    facts.sent_by.setdefault(str(step.action.template), []).append((name, label))
                elif isinstance(step.action, a.NotifyAction):
                    facts.notified_by.setdefault(str(step.action.template), []).append(f"journey {name}")
        for name, stage in sym.stage_nodes.items():
            for item in stage.walk():  # a stage's own `notify` lines and its follow-up's
                if isinstance(item, a.Notify):
                    facts.notified_by.setdefault(str(item.template), []).append(f"stage {name}")
        for name, alert in sym.account_alerts.items():  # needs no event of the lead's own
            for note in alert.notifications:
                facts.notified_by.setdefault(str(note.template), []).append(f"account-alert {name}")
        return facts

    def stage_needs(self, stage: str) -> frozenset[str]:
        """Events every way into ``stage`` needs: its own `when`s, and `back to` it from a stage above."""
        if stage not in self._stage_needs:
            self._stage_needs[stage] = frozenset()  # a cycle of `back to`s needs nothing more
            self._stage_needs[stage] = self._ways_into(stage)
        return self._stage_needs[stage]

    def _ways_into(self, stage: str) -> frozenset[str]:
        if stage == FIRST_STAGE or stage not in self.sym.stage_nodes:
            return frozenset()
        ways = [needed_events(i.condition) for i in self.sym.stage_nodes[stage].items if isinstance(i, a.Promote)]
        for name, node in self.sym.stage_nodes.items():
            for item in node.items:
                if isinstance(item, a.Demote) and item.target == stage:
                    ways.append(needed_events(item.condition) | self.stage_needs(name))
        return _common(ways)

    def trigger_needs(self, trigger: a.Trigger) -> frozenset[str]:
        return self.stage_needs(trigger.stage) if isinstance(trigger, a.StageBecomes) else needed_events(trigger)

    def entry_needs(self, journey: str) -> frozenset[str]:
        node = self.sym.journeys.get(journey)
        if node is None:
            return frozenset()
        return _common(self.trigger_needs(i.trigger) for i in node.items if isinstance(i, a.Entry))

    def goal_needs(self, journey: str) -> frozenset[str]:
        node = self.sym.journeys.get(journey)
        if node is None:
            return frozenset()
        goals = [self.trigger_needs(i.trigger) for i in node.items if isinstance(i, a.Goal)]
        return self.entry_needs(journey) | _common(goals)

    def send_needs(self, template: str, journey: str | None) -> frozenset[str]:
        """Events needed before any journey (or the one named) can send ``template``."""
        journeys = {j for j, _ in self.sent_by.get(template, []) if journey is None or j == journey}
        return _common(self.entry_needs(j) for j in sorted(journeys))

    def notify_needs(self, template: str) -> frozenset[str]:
        ways = []
        for source in self.notified_by.get(template, []):
            kind, name = source.split(" ", 1)
            ways.append(self.stage_needs(name) if kind == "stage" else self.entry_needs(name))
        return _common(ways)
