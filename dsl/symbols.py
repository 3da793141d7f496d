"""The names a campaign declares, gathered across all its files, plus the built-in ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import ast as a

TEXT = a.TypeRef("text")

#: Events the engine itself records; campaigns may use them without declaring them.
BUILTIN_EVENTS: dict[str, dict[str, a.TypeRef]] = {
    "email.opened": {"template": TEXT, "prefetched": a.TypeRef("bool")},
    "email.clicked": {"template": TEXT, "url": TEXT},
    "email.unsubscribed": {},
    "email.bounced": {"reason": TEXT},
    "email.complained": {"reason": TEXT},
    "sales.accepted": {"reason": TEXT},
    "sales.rejected": {"reason": TEXT},
}

#: Fields every lead has besides its declared attributes.
BUILTIN_ATTRIBUTES: dict[str, a.TypeRef] = {"email": TEXT, "owner": TEXT}

#: The stage every lead starts in.
FIRST_STAGE = "lead"


@dataclass
class Symbols:
    """Every declared name, by kind. Later declarations of a duplicate name are ignored here."""

    events: dict[str, dict[str, a.TypeRef]] = field(default_factory=lambda: dict(BUILTIN_EVENTS))
    attributes: dict[str, a.TypeRef] = field(default_factory=lambda: dict(BUILTIN_ATTRIBUTES))
    defaults: dict[str, object] = field(default_factory=dict)
    #: attribute -> the placeholder values (plain Python) that mean it was never given
    placeholders: dict[str, tuple[object, ...]] = field(default_factory=dict)
    scores: dict[str, a.Score] = field(default_factory=dict)
    #: stage names in ladder order, the built-in first stage first
    stages: list[str] = field(default_factory=lambda: [FIRST_STAGE])
    stage_nodes: dict[str, a.Stage] = field(default_factory=dict)
    journeys: dict[str, a.Journey] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)
    quiet_hours: a.QuietHours | None = None
    frequency_caps: dict[str, int] = field(default_factory=dict)
    #: what every scenario must keep to, across all journeys
    invariants: list[a.Invariant] = field(default_factory=list)
    #: subscription topics in the order declared, and what an email's own unsubscribe link leaves
    topics: dict[str, a.TopicDecl] = field(default_factory=dict)
    unsubscribe_leaves: a.UnsubscribeScope = "everything"
    #: account alerts by name (the first of a name)
    account_alerts: dict[str, a.AccountAlert] = field(default_factory=dict)

    def stage_rank(self, name: str) -> int:
        return self.stages.index(name)


def collect(files: Iterable[a.File]) -> Symbols:
    """Gather declarations in file order; the first declaration of a name wins."""
    sym = Symbols()
    for file in files:
        for item in file.items:
            if isinstance(item, a.Events):
                for decl in item.decls:
                    sym.events.setdefault(decl.name, {p.name: p.type for p in decl.props})
            elif isinstance(item, a.Attributes):
                for attr in item.decls:
                    if attr.name not in sym.attributes:
                        sym.attributes[attr.name] = attr.type
                        if attr.default is not None:
                            sym.defaults[attr.name] = attr.default.python()
                        if attr.placeholders:
                            sym.placeholders[attr.name] = tuple(v.python() for v in attr.placeholders)
            elif isinstance(item, a.Score):
                sym.scores.setdefault(item.name, item)
            elif isinstance(item, a.Stage):
                if item.name not in sym.stage_nodes and item.name != FIRST_STAGE:
                    sym.stage_nodes[item.name] = item
                    sym.stages.append(item.name)
            elif isinstance(item, a.Journey):
                sym.journeys.setdefault(item.name, item)
            elif isinstance(item, a.Invariant):
                sym.invariants.append(item)
            elif isinstance(item, a.Topics):
                for topic in item.decls:
                    sym.topics.setdefault(topic.name, topic)
            elif isinstance(item, a.AccountAlert):
                sym.account_alerts.setdefault(item.name, item)
            elif isinstance(item, a.Settings):
                for setting in item.items:
                    if isinstance(setting, a.Setting):
                        sym.settings.setdefault(setting.key, setting.value)
                    elif isinstance(setting, a.QuietHours):
                        sym.quiet_hours = sym.quiet_hours or setting
                    elif isinstance(setting, a.UnsubscribeLeaves):
                        sym.unsubscribe_leaves = setting.scope
                    elif isinstance(setting, a.FrequencyCap):  # follow-up settings are read in dsl/check_sla.py
                        sym.frequency_caps.setdefault(setting.period, setting.count)
    return sym


def step_labels(steps: Iterable[a.Step]) -> dict[int, str]:
    """Label of every step (by ``id``), nested ones included.

    Unlabelled steps get a label derived from what they do (``send_welcome``, ``wait_2_days``),
    numbered on repeats, so inserting a different step elsewhere does not renumber them.
    """
    labels: dict[int, str] = {}
    seen: dict[str, int] = {}

    def visit(step: a.Step) -> None:
        if step.label is not None:
            labels[id(step)] = str(step.label)
        else:
            base = derived_label(step.action)
            seen[base] = seen.get(base, 0) + 1
            labels[id(step)] = base if seen[base] == 1 else f"{base}_{seen[base]}"
        for inner in a.inner_steps(step.action):  # a branch's sides, a split's arms
            visit(inner)

    for step in steps:
        visit(step)
    return labels


def derived_label(action: a.Action) -> str:
    """The label an unlabelled step gets from its action."""
    match action:
        case a.Send(template=t):
            return f"send_{_slug(t)}"
        case a.Wait(duration=d):
            return f"wait_{_slug(str(d))}"
        case a.WaitEvent(event=e):
            return f"wait_for_{_slug(e.event)}"
        case a.WaitTime(time=t):
            return f"wait_until_{t.hour:02d}{t.minute:02d}"
        case a.SetAttribute(name=n):
            return f"set_{n}"
        case a.NotifyAction(template=t):
            return f"notify_{_slug(t)}"
        case a.Branch():
            return "branch"
        case a.Split(name=name):
            return f"split_{_slug(name)}"
    return "step"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_") or "x"
