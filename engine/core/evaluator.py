"""Applies events and time to one lead in memory: points, ledger lines, stage moves, actions.

Pure with respect to the store and the clock: the caller loads leads, passes times in, and
writes back what accumulated. Replaying a lead's events through it from an empty state gives
exactly the state incremental processing reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.clock import from_epoch
from engine.core.rules import Rules
from engine.core.scoring import LeadState, crossing, sum_crossing

#: how many stage moves one evaluation may make (guards against campaigns that flip-flop)
MAX_MOVES = 3
#: reviews run just after a threshold is crossed, never a hair before it
_AFTER = 0.001


@dataclass
class LeadRecord:
    """A lead as the evaluator sees it, plus what happened to it since it was loaded."""

    id: int
    email: str
    attributes: dict[str, Any]
    stage: str
    stage_since: float
    owner: str | None
    state: LeadState
    last_event_at: float | None = None
    review_at: float | None = None
    created_at: float = 0.0
    attributes_changed: bool = False
    #: events journeys react to, as (type, props, epoch), for the daemon's signal
    arrived: list[tuple[str, dict, float]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: for a replay: what the lead's earlier entries into each stage did, in order of entry
    prior: dict[str, list[PriorEntry]] = field(default_factory=dict)
    #: keys of earlier actions a replay found its own entries in (they stay as they are)
    kept: list[str] = field(default_factory=list)
    #: entries into each stage made since the lead was loaded (or its replay began)
    entered: dict[str, int] = field(default_factory=dict)

    @property
    def settled_until(self) -> float:
        """Up to when this lead's history is decided; an event before it means a replay."""
        return max(self.last_event_at or 0.0, self.state.settled_at)

    def scope(self, rules: Rules, at: float) -> dict[str, int]:
        return {name: self.state.score(model, at) for name, model in rules.scores.items()}


@dataclass
class PriorEntry:
    """What one earlier entry into a stage did: the owner it assigned and its notifications, by index."""

    owner: str | None = None
    #: notification index -> (action key, "pending" or "done")
    notes: dict[int, tuple[str, str]] = field(default_factory=dict)


class Evaluator:
    def __init__(self, rules: Rules, version_id: int | None, next_turn,
                 account_values: Callable[[LeadRecord], Mapping[str, float]] | None = None) -> None:
        """``next_turn(stage)`` returns the next round-robin counter for a stage; ``account_values(lead)`` the
        values of the lead's account as conditions read them (`account.NAME`), empty for a lead with none."""
        self.rules = rules
        self.version_id = version_id
        self.next_turn = next_turn
        self.account_values = account_values

    def attributes(self, lead: LeadRecord) -> dict[str, Any]:
        """The lead's attributes as rules see them: declared defaults, then its own values."""
        return {**self.rules.symbols.defaults, **lead.attributes, "email": lead.email, "owner": lead.owner}

    def refresh_fit(self, lead: LeadRecord) -> None:
        attrs = self.attributes(lead)
        lead.state.fit = {name: float(sum(p for _, p in model.fit(attrs)))
                          for name, model in self.rules.scores.items() if model.attribute_rules}

    def apply_event(self, lead: LeadRecord, etype: str, props: dict, at: float, key: str) -> bool:
        """Award the event's points (ledger lines) and remember it for event conditions.

        Returns whether anything a stage could depend on changed.
        """
        changed = False
        for model, rule in self.rules.by_event.get(etype, ()):
            if rule.filter is not None and not rule.filter(props):
                continue
            points = lead.state.award(model, rule, at, rule.units(props))
            if points:
                changed = True
                lead.ledger.append({"lead_id": lead.id, "score": model.name, "rule": rule.text,
                                    "points": points, "event_key": key, "at": from_epoch(at),
                                    "version_id": self.version_id})
        for index in self.rules.atoms_by_event.get(etype, ()):
            atom = self.rules.atoms[index]
            if atom.filter is None or atom.filter(props):
                lead.state.record_hit(index, atom, at)
                changed = True
        if lead.last_event_at is None or at > lead.last_event_at:
            lead.last_event_at = at
        if etype in self.rules.journey_events:
            lead.arrived.append((etype, props, at))
        return changed

    def advance(self, lead: LeadRecord, until: float) -> None:
        """Apply every time-driven stage change due up to ``until``, each at its own instant."""
        while lead.review_at is not None and lead.review_at <= until:
            self.evaluate(lead, lead.review_at)

    def evaluate(self, lead: LeadRecord, at: float) -> None:
        """Move the lead to the stage its scores, attributes and events put it in at ``at``."""
        attrs = self.attributes(lead)
        hits = lead.state.happened
        atoms = self.rules.atoms

        def hit(index: int) -> bool:
            return hits(index, atoms[index], at)

        for _ in range(MAX_MOVES):
            scores: dict[str, float] = dict(lead.scope(self.rules, at))
            if self.account_values is not None:
                scores.update(self.account_values(lead))
            move = self.rules.stages.decide(lead.stage, attrs, scores, hit)
            if move is None:
                break
            self._move(lead, move, scores, attrs, hit, at)
        lead.review_at = self._next_review(lead, at)

    def _move(self, lead: LeadRecord, move, scores, attrs, hit, at: float) -> None:
        values = ", ".join(f"{n} = {scores[n]:g}" for n in move.reads)
        reason = f"{move.rule} ({values})" if values else move.rule
        lead.changes.append({"lead_id": lead.id, "at": from_epoch(at), "from_stage": lead.stage,
                             "to_stage": move.to, "reason": reason, "version_id": self.version_id})
        lead.stage, lead.stage_since = move.to, at
        lead.state.settled_at = max(lead.state.settled_at, at)
        stage = self.rules.stages.by_name[move.to]
        stamp = f"{lead.id}:{move.to}:{round(at * 1000)}"
        # A replay re-making the n-th entry into this stage finds what that entry did before: its
        # owner stays unless a rule now assigns another, a notification sent or queued is not queued again.
        occurrence = lead.entered.get(move.to, 0)
        lead.entered[move.to] = occurrence + 1
        earlier = lead.prior.get(move.to, [])
        prior = earlier[occurrence] if occurrence < len(earlier) else None
        owner = self.rules.stages.owner_for(move.to, attrs, scores, hit, self.next_turn,
                                            keep=prior.owner if prior else None)
        if owner is not None and prior is not None and prior.owner == owner[0]:
            lead.owner = owner[0]  # assigned before, and recorded then
        elif owner is not None:
            lead.owner = owner[0]
            lead.actions.append({"key": f"{stamp}:owner", "lead_id": lead.id, "kind": "assign_owner",
                                 "payload": {"stage": move.to, "owner": owner[0], "reason": owner[1]},
                                 "status": "done", "created_at": from_epoch(at), "done_at": from_epoch(at),
                                 "attempts": 0})
        for i, note in enumerate(stage.notifications):
            if prior is not None and i in prior.notes:
                lead.kept.append(prior.notes[i][0])
                continue
            lead.actions.append({"key": f"{stamp}:notify:{i}", "lead_id": lead.id, "kind": "notify",
                                 "payload": {"stage": move.to, "recipient": note.recipient,
                                             "address": note.address, "template": note.template,
                                             "reason": reason},
                                 "status": "pending", "created_at": from_epoch(at), "done_at": None, "attempts": 0})

    def _next_review(self, lead: LeadRecord, now: float) -> float | None:
        times = []
        for score, edges in self.rules.stages.edges.items():
            model = self.rules.scores[score]
            if not model.decay_rate or score not in lead.state.sums:
                continue
            # decay carries the score toward its fit points: the next edge it meets is the nearest
            # one between where it is and where it is heading
            value = lead.state.raw_score(model, now)
            rest = (lead.state.fit or {}).get(score, 0.0)
            ahead = [e for e in edges if rest < e < value] if value > rest else [e for e in edges if value < e < rest]
            if ahead:
                edge = max(ahead) if value > rest else min(ahead)
                when = crossing(lead.state, model, edge, now)
                if when is not None:
                    times.append(when + _AFTER)
        for sum_edge in self.rules.sum_edges:
            when = sum_crossing(lead.state, self.rules.scores, sum_edge, now)
            if when is not None:
                times.append(when + _AFTER)
        for index, atom in enumerate(self.rules.atoms):
            when = lead.state.happened_until(index, atom, now)
            if when is not None:
                times.append(when + _AFTER)
        return min(times) if times else None
