"""`nurture tune`: fit the points of a campaign's own scoring rules to outcomes.

Each lead becomes one row: for each rule of the chosen scores, how many awards it earned up to the
lead's outcome (fit rules: 1 or 0; event rules: the points the ledger holds, decayed to that instant
and divided by the rule's points, so caps and decay are the engine's own). A regularised logistic
regression, cross-validated, weighs the rules against each other; one scale factor turns its weights
into whole points whose largest is near the campaign's largest. Both the current and the suggested
points are judged by the AUC of the score they add up to, on the same held-out folds.

numpy and scikit-learn are imported here, so only `nurture tune` pays for them.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from dsl import ast as a
from dsl.campaign import Campaign, load_campaign
from dsl.diagnostics import Severity
from dsl.source import Span
from engine.core.clock import epoch
from engine.core.rules import Rules, compile_rules
from engine.errors import CampaignError, ConfigError
from engine.lab.history import EventSource, Grouped, Progress, score_history
from engine.lab.outcomes import Outcomes
from engine.lab.stats import auc, lift
from engine.store.tallies import LeadFacts, LedgerLine

#: folds of held-out leads for the AUC
FOLDS = 5
#: folds for choosing the regularisation inside each fit, and the strengths tried (a log-spaced grid)
INNER_FOLDS = 3
CS = 8


@dataclass(frozen=True)
class RuleRef:
    """One scoring rule as written: where, how many points, and its cap."""

    score: str
    kind: str  # "fit" (an `if` rule) or "event" (a `per` rule)
    text: str
    points: int
    span: Span
    cap: int | None = None
    cap_span: Span | None = None

    @property
    def where(self) -> str:
        return str(self.span)


def campaign_rules(campaign: Campaign, rules: Rules, scores: list[str]) -> list[RuleRef]:
    """The rules of ``scores`` in the order they are written, each with its compiled text."""
    found: list[RuleRef] = []
    nodes = {str(item.name): item for item in campaign.items() if isinstance(item, a.Score)}
    for name in scores:
        model, node = rules.scores[name], nodes[name]
        fits = iter(model.attribute_rules)
        events = iter(model.event_rules)
        for item in node.items:
            if isinstance(item, a.AttributeRule):
                found.append(RuleRef(name, "fit", next(fits).text, item.points, item.span))
            elif isinstance(item, a.EventRule):
                found.append(RuleRef(name, "event", next(events).text, item.points, item.span,
                                     item.cap.points if item.cap else None, item.cap.span if item.cap else None))
    seen: dict[tuple[str, str], RuleRef] = {}
    for ref in found:
        twin = seen.setdefault((ref.score, ref.text), ref)
        if twin is not ref:
            raise ConfigError(f"{ref.where}: this rule reads exactly as the one at {twin.where}, so their points "
                              "cannot be told apart in the ledger; merge them into one rule")
    return found


# ----- the features ------------------------------------------------------------------------------


@dataclass
class Table:
    """One row per lead: each rule's awards up to the lead's outcome, and whether it converted."""

    refs: list[RuleRef]
    x: np.ndarray
    y: np.ndarray
    emails: list[str]
    #: score name -> (column indexes, floor)
    groups: dict[str, tuple[list[int], float | None]]

    def scores(self, points: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The chosen scores added up, each read as the engine reads it (floor, then rounded half up)."""
        total = np.zeros(self.x[rows].shape[0])
        for columns, floor in self.groups.values():
            raw = self.x[rows][:, columns] @ points[columns]
            if floor is not None:
                raw = np.maximum(raw, floor)
            total += np.floor(raw + 0.5)
        return total


def build_table(run_rules: Rules, refs: list[RuleRef], ledger: Iterable[LedgerLine], leads: Iterable[LeadFacts],
                outcomes: Outcomes, end: dt.datetime, as_of: bool, count: int) -> Table:
    """Read each lead's features from the scored history (``leads`` and ``ledger`` from the store's tallies,
    ``count`` leads): one row of 8-byte numbers per lead, the ledger streamed lead by lead."""
    columns = {(ref.score, ref.text): i for i, ref in enumerate(refs)}
    fits = {(model.name, rule.text): rule for model in run_rules.scores.values() for rule in model.attribute_rules}
    decay = {name: model.decay_rate for name, model in run_rules.scores.items()}
    grouped: Grouped[LedgerLine] = Grouped(ledger)
    x = np.zeros((count, len(refs)))
    y = np.zeros(count, dtype=bool)
    emails: list[str] = []
    end_at = epoch(end)
    for index, lead in enumerate(leads):
        outcome = outcomes.get(lead.email)
        converted, judged = outcome.judged(end, as_of) if outcome is not None else (False, end)
        cutoff = end_at if judged == end else epoch(judged)
        attrs = {**run_rules.symbols.defaults, **(lead.attributes or {}), "email": lead.email, "owner": lead.owner}
        row = x[index]
        for i, ref in enumerate(refs):
            if ref.kind == "fit":
                row[i] = 1.0 if fits[(ref.score, ref.text)].test(attrs) else 0.0
        for line in grouped.get(lead.id):
            column = columns.get((line.score, line.rule))
            when = epoch(line.at)
            if column is None or when >= cutoff:
                continue
            rate = decay.get(line.score, 0.0)
            row[column] += line.points * (math.exp(-rate * (cutoff - when)) if rate else 1.0) / refs[column].points
        y[index] = converted
        emails.append(lead.email)
    groups: dict[str, tuple[list[int], float | None]] = {}
    for i, ref in enumerate(refs):
        groups.setdefault(ref.score, ([], run_rules.scores[ref.score].floor))[0].append(i)
    return Table(refs, x[:len(emails)], y[:len(emails)], emails, groups)


# ----- the fit -----------------------------------------------------------------------------------


@dataclass
class Fitted:
    """The fitted weights of one fit, in points, and the whole points suggested from them."""

    weights: np.ndarray  # points per award (unrounded); NaN where a rule could not be fitted
    suggested: np.ndarray  # whole points, as they would be written
    scale: float  # points per unit of log-odds
    regularisation: float  # the C chosen


def _fit(table: Table, rows: np.ndarray, seed: int) -> Fitted:
    """Fit on ``rows`` of the table; rules that never vary there keep their points."""
    x, y = table.x[rows], table.y[rows]
    current = np.array([ref.points for ref in table.refs], dtype=float)
    varying = np.flatnonzero(x.std(axis=0) > 1e-12)
    weights = np.full(len(table.refs), np.nan)
    suggested = current.copy()
    if varying.size == 0:
        return Fitted(weights, suggested, 0.0, 0.0)
    scaler = StandardScaler().fit(x[:, varying])
    inner = StratifiedKFold(n_splits=min(INNER_FOLDS, int(y.sum()), int((~y).sum())), shuffle=True,
                            random_state=seed)
    model = LogisticRegressionCV(Cs=CS, l1_ratios=(0.0,), cv=inner, scoring="neg_log_loss", max_iter=5000,
                                 random_state=seed, use_legacy_attributes=False)
    model.fit(scaler.transform(x[:, varying]), y)
    coef = model.coef_[0] / scaler.scale_  # log-odds per award
    largest = float(np.abs(coef).max())
    if largest == 0.0:
        return Fitted(weights, suggested, 0.0, float(model.C_))
    scale = float(np.abs(current[varying]).max()) / largest
    weights[varying] = coef * scale
    for column, weight in zip(varying, weights[varying], strict=True):
        suggested[column] = whole_points(weight, table.refs[column])
    return Fitted(weights, suggested, scale, float(model.C_))


def whole_points(weight: float, ref: RuleRef) -> int:
    """``weight`` as points a rule can be written with: whole, never 0 (a rule of 0 points is an error),
    and positive on a capped rule (a cap only limits points a rule adds)."""
    points = math.floor(abs(weight) + 0.5) * (1 if weight >= 0 else -1)
    if points == 0:
        points = 1 if weight >= 0 else -1
    if ref.cap is not None and points < 0:
        points = 1
    return max(-1_000_000, min(1_000_000, points))


@dataclass
class Folds:
    current: list[float] = field(default_factory=list)
    fitted: list[float] = field(default_factory=list)
    suggested: list[float] = field(default_factory=list)

    @staticmethod
    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None


def cross_validate(table: Table, seed: int, on_fold: Callable[[int, int], None] = lambda done, of: None) -> Folds:
    """AUC on held-out leads, fold by fold: the current points, the fitted weights and the suggested points."""
    y = table.y
    splits = min(FOLDS, int(y.sum()), int((~y).sum()))
    folds = Folds()
    current = np.array([ref.points for ref in table.refs], dtype=float)
    for done, (train, test) in enumerate(StratifiedKFold(n_splits=splits, shuffle=True,
                                                         random_state=seed).split(table.x, y)):
        on_fold(done, splits + 1)
        fitted = _fit(table, train, seed)
        labels = list(y[test])
        weights = np.where(np.isnan(fitted.weights), current, fitted.weights)
        for bucket, values in ((folds.current, table.scores(current, test)),
                               (folds.suggested, table.scores(fitted.suggested, test)),
                               (folds.fitted, table.x[test] @ weights)):
            value = auc(list(values), labels)
            if value is not None:
                bucket.append(value)
    return folds


# ----- the whole of tune -------------------------------------------------------------------------


@dataclass
class TuneResult:
    events: EventSource
    scores: list[str]
    table: Table
    fitted: Fitted
    folds: Folds
    accepted: int
    quarantined: int
    outcomes_missing: int
    seed: int
    notes: list[str] = field(default_factory=list)

    def rules(self) -> list[dict[str, Any]]:
        y, total = self.table.y, len(self.table.y)
        rows = []
        for i, ref in enumerate(self.table.refs):
            fired = self.table.x[:, i] != 0
            marginal = lift(int((fired & y).sum()), int(fired.sum()), int(y.sum()), total)
            weight = self.fitted.weights[i]
            fitted = None if np.isnan(weight) else round(float(weight), 2)
            suggested = int(self.fitted.suggested[i])
            rows.append({
                "score": ref.score, "kind": ref.kind, "rule": ref.text, "where": ref.where,
                "points": ref.points, "weight": fitted, "suggested": suggested,
                "cap": ref.cap, "suggested_cap": suggested_cap(ref, suggested),
                "fired": int(fired.sum()), "converted": int((fired & y).sum()), "lift": marginal,
                "disagree": fitted is not None and marginal is not None and (marginal - 1) * fitted < 0,
                "note": _note(ref, fitted, int(fired.sum()), total)})
        return rows

    def as_dict(self) -> dict[str, Any]:
        assert self.events.first is not None and self.events.last is not None
        return {
            "events_file": self.events.path, "events": self.events.count, "events_accepted": self.accepted,
            "quarantined": self.quarantined, "first_event": self.events.first.isoformat(),
            "last_event": self.events.last.isoformat(), "at": self.events.end.isoformat(),
            "scores": self.scores, "leads": len(self.table.y), "converted": int(self.table.y.sum()),
            "outcomes_not_in_history": self.outcomes_missing, "seed": self.seed,
            "auc": {"current": Folds.mean(self.folds.current), "suggested": Folds.mean(self.folds.suggested),
                    "fitted": Folds.mean(self.folds.fitted), "folds": len(self.folds.current),
                    "current_by_fold": self.folds.current, "suggested_by_fold": self.folds.suggested},
            "scale_points_per_log_odds": self.fitted.scale, "regularisation_c": self.fitted.regularisation,
            "rules": self.rules(), "notes": self.notes}


def suggested_cap(ref: RuleRef, points: int) -> int | None:
    """The cap scaled with the points, so a rule still earns as many awards per window as before."""
    if ref.cap is None:
        return None
    if points == ref.points:
        return ref.cap
    return max(points, min(1_000_000, math.floor(ref.cap * points / ref.points + 0.5)))


def _note(ref: RuleRef, weight: float | None, fired: int, total: int) -> str:
    if weight is None:
        return "fired for no lead" if fired == 0 else "fired for every lead, so it ranks no one: points kept"
    if ref.cap is not None and weight < -0.5:
        return "fitted weight is negative, but a capped rule only adds points: drop the cap to make it negative"
    if abs(weight) < 0.5:
        return "carries almost no weight: consider deleting it"
    if fired < 10:
        return f"fired for only {fired} of {total} leads: little evidence"
    return ""


def chosen_scores(rules: Rules, score: str | None) -> list[str]:
    if score is None:
        return list(rules.scores)
    if score not in rules.scores:
        known = ", ".join(rules.scores) or "none"
        raise ConfigError(f"--score {score}: the campaign has no such score (its scores: {known})")
    return [score]


def load_checked(campaign_dir: Path, template_dir: Path) -> Campaign:
    campaign = load_campaign([campaign_dir], template_dir)
    errors = [d for d in campaign.diagnostics if d.severity is Severity.ERROR]
    if errors:
        first = errors[0]
        raise CampaignError(f"the campaign in {campaign_dir} has {len(errors)} error(s), e.g. {first.span}: "
                            f"{first.code} {first.title}; run `nurture check {campaign_dir}` and fix them first")
    return campaign


def run_tune(*, campaign_dir: Path, template_dir: Path, events: str, outcomes: Outcomes, leads: str | None = None,
             score: str | None = None, at: dt.datetime | None = None, seed: int = 7,
             progress: Progress = lambda n: None, on_scan: Callable[[int], None] = lambda n: None,
             on_fold: Callable[[int, int], None] = lambda done, of: None,
             workdir: Path | None = None) -> TuneResult:
    """Score the history with the campaign on disk and fit the chosen scores' points to ``outcomes``
    (read with `read_outcomes`; a file with rows that cannot be read is refused). ``on_fold(done, of)``
    is called before each fit: one per fold, then the one on every lead."""
    known = outcomes
    known.raise_problems()
    campaign = load_checked(campaign_dir, template_dir)
    rules = compile_rules(campaign)
    scores = chosen_scores(rules, score)
    refs = campaign_rules(campaign, rules, scores)
    if not refs:
        raise ConfigError(f"the score(s) {', '.join(scores)} have no rules to tune")
    source = EventSource.scan(events, until=at)
    on_scan(source.count)
    temp = Path(tempfile.mkdtemp(prefix="nurture-tune-", dir=workdir))
    try:
        run, accepted, quarantined = score_history(campaign_dir, template_dir, source, leads_file=leads,
                                                   store=temp / "history.db", progress=progress,
                                                   checked=campaign)
        try:
            with run.nurture.store.transaction() as tx:
                table = build_table(rules, refs, tx.tallies.ledger(), tx.tallies.leads(), known, source.end,
                                    as_of=at is not None, count=tx.tallies.lead_count())
        finally:
            run.nurture.store.dispose()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    positives, negatives = int(table.y.sum()), int((~table.y).sum())
    if min(positives, negatives) < 2:
        raise ConfigError(f"{positives} of the {len(table.y)} leads in the history converted and {negatives} did "
                          "not; tune needs at least 2 of each (check that the outcomes name leads of this history"
                          + (f", converted by --at {source.end.isoformat()})" if at is not None else ")"))
    folds = cross_validate(table, seed, on_fold)
    on_fold(len(folds.current), len(folds.current) + 1)
    fitted = _fit(table, np.arange(len(table.y)), seed)
    seen = set(table.emails)
    missing = sum(1 for email, o in known.by_email.items() if o.converted and email not in seen)
    result = TuneResult(source, scores, table, fitted, folds, accepted, quarantined, missing, seed)
    result.notes = ["stage thresholds are not changed: with new points a score reads differently, so replay the "
                    "edited campaign with `nurture backtest --against` before applying it"]
    if fitted.scale == 0.0:
        result.notes.append("the rules carry no signal about the outcomes: points kept")
    if at is not None:
        result.notes.append(f"as of {source.end.isoformat()}: {source.later:,} later events left out")
    others = [name for name in rules.scores if name not in scores]
    if others:
        result.notes.append(f"only the rules of {', '.join(scores)} are weighed against each other: what the rules of "
                            f"{', '.join(others)} explain is not held equal, so tune every score together when "
                            "the stages combine them")
    return result
