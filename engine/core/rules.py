"""Compiles a checked campaign into the runtime rules: score models, event atoms, the stage machine."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from dsl import ast as a
from dsl.campaign import Campaign
from dsl.symbols import Symbols, collect
from engine.core.account_rules import compile_accounts
from engine.core.accounts import AccountRules
from engine.core.conditions import (
    HappenedAtom,
    Placeholders,
    Scope,
    attribute_scope,
    compile_function,
    names_in,
    property_scope,
)
from engine.core.journey_plan import JourneyPlan, PlanCompiler, Test
from engine.core.scoring import AttributeRuleC, EventRuleC, ScoreModel, SumEdge
from engine.core.sla import SlaPlan
from engine.core.sla_plan import compile_slas
from engine.core.stages import Notification, StageMachine, StageRule


@dataclass
class Rules:
    """Everything the engine evaluates, compiled once per campaign version."""

    symbols: Symbols
    scores: dict[str, ScoreModel]
    #: event type -> (score model, rule) pairs to award
    by_event: dict[str, list[tuple[ScoreModel, EventRuleC]]]
    atoms: list[HappenedAtom]
    #: event type -> indexes of the atoms it may satisfy
    atoms_by_event: dict[str, list[int]]
    stages: StageMachine
    #: hash of everything that decides scores and stages; a change means rescoring every lead
    rules_hash: str
    journeys: dict[str, JourneyPlan] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    #: sums of scores stage conditions compare, for reviews when decay moves them
    sum_edges: list[SumEdge] = field(default_factory=list)
    #: attribute values that mean "never given"; `placeholders.clean(attributes)` shows attributes as rules read them
    placeholders: Placeholders = field(default_factory=lambda: Placeholders({}, {}))
    #: follow-up SLAs on stages
    slas: SlaPlan = field(default_factory=SlaPlan)
    #: the `accounts` block and account alerts; None when the campaign declares no accounts
    accounts: AccountRules | None = None

    @functools.cached_property
    def journey_events(self) -> frozenset[str]:
        """Event types some journey reacts to (asked for every event, so computed once)."""
        return frozenset(t for plan in self.journeys.values() for t in plan.event_types)

    @property
    def attribute_types(self) -> dict[str, a.TypeRef]:
        return self.symbols.attributes

    @property
    def event_types(self) -> dict[str, dict[str, a.TypeRef]]:
        return self.symbols.events


class _Builder:
    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.symbols = collect(campaign.files)
        self.placeholders = Placeholders(self.symbols.placeholders, self.symbols.defaults)
        self.atoms: list[HappenedAtom] = []
        self.atom_keys: dict[tuple, int] = {}

    def text(self, node: a.Node) -> str:
        """The rule as its author wrote it, on one line (for reasons and the ledger)."""
        source = self.campaign.sources.get(node.span.path)
        if source is None:
            return type(node).__name__
        lines = [source.line(n) for n in range(node.span.line, node.span.end_line + 1)]
        if len(lines) == 1:
            lines[0] = lines[0][node.span.column - 1: node.span.end_column - 1]
        else:
            lines[0] = lines[0][node.span.column - 1:]
            lines[-1] = lines[-1][: node.span.end_column - 1]
        return " ".join(" ".join(lines).split())

    def event_filter(self, ref: a.EventRef):
        if ref.where is None:
            return None
        props = self.symbols.events.get(ref.event, {})
        return compile_function(ref.where, property_scope(props), "P")

    def register(self, atom: HappenedAtom, key: tuple) -> int:
        if key not in self.atom_keys:
            self.atom_keys[key] = len(self.atoms)
            self.atoms.append(atom)
        return self.atom_keys[key]

    def stage_scope(self) -> Scope:
        scores = frozenset(self.symbols.scores)

        attribute = self.placeholders.reader("A.get")

        def read(name: str) -> str:
            return f"S[{name!r}]" if name in scores else attribute(name)

        def register(atom: HappenedAtom) -> int:
            return self.register(atom, (atom.event, id(atom.filter), atom.times, atom.within))

        return Scope(self.symbols.attributes, read, scores, register, self._filter_cached,
                     {"_real": self.placeholders.real})

    def _filter_cached(self, ref: a.EventRef):
        # the same filter text shares one function, so equal atoms share one index
        key = (str(ref.event), repr(ref.where))
        cache = self.__dict__.setdefault("_filters", {})
        if key not in cache:
            cache[key] = self.event_filter(ref)
        return cache[key]

    def score(self, node: a.Score) -> ScoreModel:
        model = ScoreModel(str(node.name), node.title)
        attr_scope = attribute_scope(self.symbols.attributes, self.placeholders)
        for index, item in enumerate(node.items):
            match item:
                case a.AttributeRule(points=points, condition=cond):
                    model.attribute_rules.append(
                        AttributeRuleC(self.text(item), points, compile_function(cond, attr_scope, "A")))
                case a.EventRule(points=points, event=ref, cap=cap, per=per):
                    model.event_rules.append(EventRuleC(
                        f"{node.name}#{index}", str(ref.event), self.text(item), points, self.event_filter(ref),
                        float(cap.points) if cap else None, float(cap.window.seconds) if cap else None,
                        str(per.prop) if per else None, float(per.amount) if per else 1.0))
                case a.Decay(percent=percent, every=every):
                    model.decay_rate = -math.log(1 - percent / 100) / every.seconds if percent < 100 else 1e9
                case a.Floor(value=value):
                    model.floor = float(value)
        return model

    def stage_test(self, cond: a.Condition):
        return compile_function(cond, self.stage_scope(), "A, S, H, stage")

    def journey(self, node: a.Journey) -> JourneyPlan:
        def test(cond: a.Condition, register: Callable[[HappenedAtom], int]) -> Test:
            scope = self.stage_scope()
            scope.register_atom = register
            return compile_function(cond, scope, "A, S, H, stage")

        decaying = frozenset(name for name, score in self.symbols.scores.items()
                             if any(isinstance(item, a.Decay) for item in score.items))
        return PlanCompiler(node, test, self._filter_cached, self.text, decaying).build()

    def stage(self, name: str, node: a.Stage | None) -> StageRule:
        rule = StageRule(name, node.title if node else None)
        reads: set[str] = set()
        promotes = [item.condition for item in (node.items if node else ()) if isinstance(item, a.Promote)]
        if promotes:  # several `when` lines: any of them promotes
            cond = promotes[0] if len(promotes) == 1 else a.AnyOf(tuple(promotes))
            rule.promote = self.stage_test(cond)
            rule.promote_text = " or ".join(self.text(c) for c in promotes)
            reads |= names_in(cond)
        for item in node.items if node else ():
            match item:
                case a.Demote(target=target, condition=cond):
                    rule.demotes.append((str(target), self.stage_test(cond), self.text(cond)))
                    reads |= names_in(cond)
                case a.Notify(recipient=rcpt, template=template):
                    rule.notifications.append(Notification(rcpt.kind, rcpt.address, str(template)))
                case a.AssignRoundRobin(owners=owners):
                    rule.round_robin = list(owners)
                case a.AssignWhen(owner=owner, condition=cond):
                    rule.owner_rules.append((owner, self.stage_test(cond), self.text(cond)))
        rule.reads = sorted(n for n in reads if n in self.symbols.scores)
        return rule

    def thresholds(self) -> list[tuple[str, float]]:
        found = set()
        for node in self.symbols.stage_nodes.values():
            for cmp in node.walk():
                if isinstance(cmp, a.Compare) and cmp.name in self.symbols.scores \
                        and cmp.value.kind == "number" and isinstance(cmp.value.value, int | float):
                    found.add((str(cmp.name), float(cmp.value.value)))
                elif isinstance(cmp, a.Between) and cmp.name in self.symbols.scores:
                    found |= {(str(cmp.name), float(end.value)) for end in (cmp.low, cmp.high)
                              if isinstance(end.value, int | float) and not isinstance(end.value, bool)}
        return sorted(found)

    def sum_edges(self) -> list[SumEdge]:
        """Every sum of scores a stage condition compares with a number, as factors and the target they meet."""
        found: set[SumEdge] = set()
        for node in self.symbols.stage_nodes.values():
            for cmp in node.walk():
                ends: tuple[a.Value, ...]
                if isinstance(cmp, a.SumCompare):
                    total, ends = cmp.total, (cmp.value,)
                elif isinstance(cmp, a.SumBetween):
                    total, ends = cmp.total, (cmp.low, cmp.high)
                else:
                    continue
                factors: dict[str, float] = {}
                constant = 0.0
                for term in total.terms:
                    sign = -1.0 if term.negative else 1.0
                    if term.name is not None:
                        factors[str(term.name)] = factors.get(str(term.name), 0.0) + sign
                    elif term.value is not None and isinstance(term.value.value, int | float):
                        constant += sign * term.value.value
                terms = tuple(sorted((n, f) for n, f in factors.items() if f))
                found |= {SumEdge(terms, float(end.value) - constant) for end in ends
                          if isinstance(end.value, int | float) and not isinstance(end.value, bool)}
        return sorted(found, key=lambda e: (e.terms, e.target))

    def build(self) -> Rules:
        scores = {name: self.score(node) for name, node in self.symbols.scores.items()}
        by_event: dict[str, list[tuple[ScoreModel, EventRuleC]]] = {}
        for model in scores.values():
            for rule in model.event_rules:
                by_event.setdefault(rule.event, []).append((model, rule))
        stages = [self.stage(name, self.symbols.stage_nodes.get(name)) for name in self.symbols.stages]
        atoms_by_event: dict[str, list[int]] = {}
        for index, atom in enumerate(self.atoms):
            atoms_by_event.setdefault(atom.event, []).append(index)
        journeys = {name: self.journey(node) for name, node in self.symbols.journeys.items()}
        return Rules(self.symbols, scores, by_event, self.atoms, atoms_by_event,
                     StageMachine(stages, self.thresholds()), rules_hash(self.campaign), journeys,
                     {p: s.text for p, s in self.campaign.sources.items()}, self.sum_edges(), self.placeholders,
                     compile_slas(self.campaign.items(), str(self.symbols.settings.get("default timezone") or "")),
                     compile_accounts(self.campaign.items(), scores, self.stage_test, self.text))


def rules_hash(campaign: Campaign) -> str:
    """A hash of the declarations, scores and stages (spans excluded, so layout does not count)."""
    kinds = (a.Events, a.Attributes, a.Score, a.Stage, a.Accounts)
    parts = sorted(repr(_without_follow_ups(item)) for item in campaign.items() if isinstance(item, kinds))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _without_follow_ups(item: a.Item) -> a.Item:
    """A stage as scores and stage moves see it: a follow-up SLA decides neither, so adding or
    changing one does not rescore every lead."""
    if isinstance(item, a.Stage):
        return dataclasses.replace(item, items=tuple(i for i in item.items if not isinstance(i, a.FollowUp)))
    return item


def lead_test(symbols: Symbols, condition: a.Condition) -> Callable[..., bool]:
    """A checked condition on the lead as it is (its attributes, scores and stage, no events) as a function of
    (attributes, scores, hits, stage), as stage conditions are compiled: an invariant's `no email when`."""
    scores = frozenset(symbols.scores)
    attribute = Placeholders(symbols.placeholders, symbols.defaults).reader("A.get")

    def read(name: str) -> str:
        return f"S[{name!r}]" if name in scores else attribute(name)

    placeholders = Placeholders(symbols.placeholders, symbols.defaults)
    return compile_function(condition, Scope(symbols.attributes, read, scores, helpers={"_real": placeholders.real}),
                            "A, S, H, stage")


def compile_rules(campaign: Campaign) -> Rules:
    """Compile a campaign that checked without errors."""
    return _Builder(campaign).build()
