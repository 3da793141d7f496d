"""`nurture backtest`: a history of real events replayed through the campaign (and another version of it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import math
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.campaign import default_template_dir
from engine.core.clock import epoch
from engine.core.rules import Rules
from engine.delivery.memory import MemoryTransport
from engine.errors import ConfigError
from engine.ingest.rows import Row
from engine.lab.history import EventSource, Grouped, import_leads
from engine.lab.outcomes import Outcomes, read_outcomes
from engine.lab.parallel import run_parts
from engine.lab.simulate import DAEMON_BATCH
from engine.lab.stats import auc, confusion, lift, rate, roc_points
from engine.lab.virtual import VirtualRun
from engine.reports.funnel import entered_per_stage
from engine.store import Store
from engine.store.tallies import LedgerLine, StageReached

Progress = Callable[[int], None]
__all__ = ["EventSource", "Version", "campaign_at", "read_outcomes", "run_backtest"]


@dataclass(frozen=True)
class Version:
    """One version of the campaign to replay the history through."""

    label: str
    campaign_dir: Path
    template_dir: Path


# ----- the other version ------------------------------------------------------------------------


def campaign_at(against: str, current: Version, workdir: Path) -> Version:
    """The other campaign: a directory (with ``journeys/`` and ``templates/``, or of `.nurture` files),
    or a git revision of the repository the current campaign lives in."""
    path = Path(against)
    if path.is_dir():
        journeys = path / "journeys"
        if journeys.is_dir():
            templates = path / "templates"
            return Version(against, journeys, templates if templates.is_dir() else current.template_dir)
        return Version(against, path, default_template_dir([path]))
    return _from_git(against, current, workdir)


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise ConfigError("--against names no directory, and git is not installed to read it as a revision") \
            from None


def _from_git(rev: str, current: Version, workdir: Path) -> Version:
    base = current.campaign_dir.resolve()
    top = _git(["rev-parse", "--show-toplevel"], base if base.is_dir() else base.parent)
    if top.returncode != 0:
        raise ConfigError(f"--against {rev!r} is not a directory, and {current.campaign_dir} is not in a git "
                          "repository to read it as a revision from")
    root = Path(top.stdout.decode().strip())
    if _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root).returncode != 0:
        raise ConfigError(f"--against {rev!r} is neither a directory nor a revision of the repository at {root} "
                          "(try a branch, a tag, a commit or HEAD~1)")
    paths = []
    for folder in (current.campaign_dir, current.template_dir):
        try:
            paths.append(folder.resolve().relative_to(root).as_posix())
        except ValueError:
            raise ConfigError(f"{folder} is outside the repository at {root}, so it has no version at {rev}") \
                from None
    target = workdir / "against"
    target.mkdir(parents=True)
    for relative in paths:
        archive = _git(["archive", "--format=tar", rev, "--", relative], root)
        if archive.returncode != 0:
            raise ConfigError(f"{relative}/ does not exist at {rev}: "
                              f"{archive.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return Version(rev, target / paths[0], target / paths[1])


# ----- one replay --------------------------------------------------------------------------------


@dataclass
class Replay:
    """What one campaign version did with the history."""

    version: Version
    leads: int = 0
    accepted: int = 0
    quarantined: int = 0
    stages: list[str] = field(default_factory=list)
    #: stage -> leads that ever entered it (one skipped on the way up is not counted)
    entered: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    #: (journey, step, template) -> emails sent
    sends: dict[tuple[str, str, str], int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, Any] | None = None


async def _replay(run: VirtualRun, source: EventSource, end: dt.datetime, progress: Progress) -> tuple[int, int]:
    rows = source.rows()
    pending: tuple[dt.datetime | None, Row] | None = next(rows, None)
    accepted = quarantined = 0
    while run.clock.now() < end:
        now = min(run.clock.now() + run.tick, end)
        run.clock.set(now)
        batch = []
        while pending is not None and (pending[0] is None or pending[0] <= now):
            batch.append(pending[1])
            pending = next(rows, None)
        if batch:
            report = run.processor.ingest_events(batch, source.path, from_text=source.kind == "csv")
            accepted, quarantined = accepted + report.accepted, quarantined + len(report.rejected)
            progress(len(batch))
        await run.daemon.tick()
    return accepted, quarantined


def replay(version: Version, source: EventSource, *, leads_file: str | None, store: Path, tick: dt.timedelta,
           seed: int, render_sample: int | None, progress: Progress) -> tuple[Replay, VirtualRun]:
    """Replay the history through ``version`` in a store of its own (the SQLite file ``store``)."""
    end = source.end
    run = VirtualRun(version.campaign_dir, version.template_dir, source.start, database_url=f"sqlite:///{store}",
                     transport=MemoryTransport(keep_data=False), tick=tick, seed=seed, worker="backtest",
                     batch=DAEMON_BATCH, render_sample=render_sample, base_url="https://nurture.backtest.example",
                     secret_key=f"backtest-{seed}", journey_sweep_seconds=86400.0, batch_size=5000,
                     throwaway=True)
    result = Replay(version)
    if leads_file is not None:
        result.quarantined += import_leads(run, leads_file)
    accepted, quarantined = asyncio.run(_replay(run, source, end, progress))
    result.accepted, result.quarantined = accepted, result.quarantined + quarantined
    _, rules = run.nurture.rules()
    result.stages = list(rules.symbols.stages)
    with run.nurture.store.transaction() as tx:
        result.entered = entered_per_stage(tx, rules)
        current = tx.tallies.leads_per_stage()
        result.current = {stage: current.get(stage, 0) for stage in result.stages}
        result.leads = tx.tallies.lead_count()
        sent: Counter[str] = Counter()
        for kind, journey, step, template, count in tx.tallies.sent_per_step():
            result.sends[(journey or "(stage alerts)", step or "", template)] = count
            sent[kind] += count
        result.sent = {"marketing": sent["marketing"], "sales": sent["sales"]}
    return result, run


def quarantine_reasons(run: VirtualRun, limit: int = 5) -> list[str]:
    with run.nurture.store.transaction() as tx:
        return [f"{origin}:{line}: {reason}" for origin, line, reason in tx.tallies.quarantined(limit)]


# ----- evidence from outcomes --------------------------------------------------------------------


def _score_at(rules: Rules, fit: dict[str, float], lines: list[tuple[str, float, float]], at: float) -> dict[str, int]:
    """Each score as it read at ``at``: fit points plus the ledger's points before then, decayed
    (the same arithmetic as `nurture leads explain`)."""
    scores = {}
    for name, model in rules.scores.items():
        raw = fit.get(name, 0.0)
        for score, points, when in lines:
            if score == name and when < at:
                raw += points * (math.exp(-model.decay_rate * (at - when)) if model.decay_rate else 1.0)
        scores[name] = math.floor(model.clamp(raw) + 0.5)
    return scores


def stage_scores(rules: Rules) -> list[str]:
    """The scores the stage conditions read, in the order they are declared."""
    read = {name for stage in rules.stages.stages for name in stage.reads}
    return [name for name in rules.scores if name in read]


def evidence(run: VirtualRun, outcomes: Outcomes, end: dt.datetime, as_of: bool = False) -> dict[str, Any]:
    """Rule lift, stage precision/recall and score AUC against the leads that converted.

    A lead with an outcome at a known time is judged on what happened before it (rules fired, stages
    reached, scores read just before); any other lead on the whole history up to ``end``. ``as_of``:
    ``end`` was asked for, and conversions after it have not happened yet.
    """
    _, rules = run.nurture.rules()
    ladder = rules.symbols.stages
    rank = {s: i for i, s in enumerate(ladder)}
    fired: Counter[tuple[str, str, str]] = Counter()  # (kind, score, rule) -> leads
    fired_converted: Counter[tuple[str, str, str]] = Counter()
    stage_pairs: dict[str, list[tuple[bool, bool]]] = {s: [] for s in ladder[1:]}
    model_scores: dict[str, list[float]] = {name: [] for name in rules.scores}
    labels: list[bool] = []
    seen: set[str] = set()
    end_at = epoch(end)
    known_rules = {("event", model.name, rule.text) for model in rules.scores.values() for rule in model.event_rules}
    known_rules |= {("fit", model.name, rule.text) for model in rules.scores.values() for rule in model.attribute_rules}
    # three result streams in one transaction (each its own cursor): a second transaction would wait
    # for the first one, as every SQLite transaction here takes the write lock
    with run.nurture.store.transaction() as tx:
        ledger: Grouped[LedgerLine] = Grouped(tx.tallies.ledger())
        changes: Grouped[StageReached] = Grouped(tx.tallies.stages_reached())
        for lead in tx.tallies.leads():
            outcome = outcomes.get(lead.email)
            if outcome is not None:
                seen.add(lead.email)
            converted, judged = outcome.judged(end, as_of) if outcome is not None else (False, end)
            cutoff = end_at if judged == end else epoch(judged)
            attrs = {**rules.symbols.defaults, **(lead.attributes or {}), "email": lead.email, "owner": lead.owner}
            fit: dict[str, float] = defaultdict(float)
            hits: set[tuple[str, str, str]] = set()
            for model in rules.scores.values():
                for rule, points in model.fit(attrs):
                    fit[model.name] += points
                    hits.add(("fit", model.name, rule.text))
            entries = ledger.get(lead.id)
            lines = [(r.score, r.points, epoch(r.at)) for r in entries]
            hits |= {("event", r.score, r.rule) for r, (_, _, when) in zip(entries, lines, strict=True)
                     if when < cutoff}
            for key in hits:
                fired[key] += 1
                fired_converted[key] += converted
            top = max((rank.get(c.to_stage, 0) for c in changes.get(lead.id) if epoch(c.at) <= cutoff), default=0)
            for stage in ladder[1:]:
                stage_pairs[stage].append((rank[stage] <= top, converted))
            for name, value in _score_at(rules, fit, lines, cutoff).items():
                model_scores[name].append(value)
            labels.append(converted)
    total, converted_total = len(labels), sum(labels)
    base = rate(converted_total, total)
    rule_rows: list[dict[str, Any]] = [
        {"kind": kind, "score": score, "rule": rule, "fired": fired[(kind, score, rule)],
         "converted": fired_converted[(kind, score, rule)],
         "conversion_rate": rate(fired_converted[(kind, score, rule)], fired[(kind, score, rule)]),
         "lift": lift(fired_converted[(kind, score, rule)], fired[(kind, score, rule)], converted_total, total)}
        for kind, score, rule in sorted(known_rules | set(fired))]
    rule_rows.sort(key=lambda r: (r["lift"] is None, -(r["lift"] or 0), -r["fired"], r["rule"]))
    stage_rows = []
    for stage, pairs in stage_pairs.items():
        c = confusion(pairs)
        stage_rows.append({"stage": stage, "reached": c.tp + c.fp, "converted": c.tp, "precision": c.precision,
                           "recall": c.recall, "f1": c.f1})
    models: list[dict[str, Any]] = [{"score": name, "auc": auc(values, labels),
                                     "roc": roc_points(values, labels, limit=60)}
                                    for name, values in model_scores.items()]
    summed = stage_scores(rules)
    if len(summed) > 1:  # the scores the stages read, added up: what the ladder as a whole ranks leads by
        values = [sum(v) for v in zip(*(model_scores[name] for name in summed), strict=True)]
        models.append({"score": " + ".join(summed), "sum_of": summed, "auc": auc(values, labels),
                       "roc": roc_points(values, labels, limit=60)})
    dated = sum(1 for o in outcomes.by_email.values() if o.at is not None)
    missing = sorted(email for email, o in outcomes.by_email.items() if o.converted and email not in seen)
    end_text = f"{end.isoformat()} (--at)" if as_of else "the end of the history"
    return {"leads": total, "converted": converted_total, "base_rate": base,
            "outcomes_not_in_history": missing[:20], "outcomes_not_in_history_count": len(missing),
            "judged_at": f"just before each dated outcome, {end_text} otherwise" if dated else end_text,
            "at": end.isoformat(), "rules": rule_rows, "stages": stage_rows, "models": models}


# ----- the whole backtest ------------------------------------------------------------------------


@dataclass
class BacktestResult:
    events: EventSource
    tick_hours: float
    replays: list[Replay]
    #: leads whose final stage differs between the two versions, and how they move
    changed: int = 0
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)
    quarantine: list[str] = field(default_factory=list)
    outcome_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def version(r: Replay) -> dict[str, Any]:
            return {"label": r.version.label, "campaign_dir": str(r.version.campaign_dir), "leads": r.leads,
                    "events_accepted": r.accepted, "quarantined": r.quarantined, "stages": r.stages,
                    "entered": r.entered, "current": r.current, "sent": r.sent,
                    "sends_by_step": [{"journey": j, "step": s, "template": t, "sent": n}
                                      for (j, s, t), n in sorted(r.sends.items())],
                    "evidence": r.evidence}

        assert self.events.first is not None and self.events.last is not None
        return {"events_file": self.events.path, "events": self.events.count,
                "first_event": self.events.first.isoformat(), "last_event": self.events.last.isoformat(),
                "at": self.events.until.isoformat() if self.events.until else None,
                "tick_hours": self.tick_hours, "versions": [version(r) for r in self.replays],
                "final_stage_changed": self.changed,
                "transitions": [{"from": a, "to": b, "leads": n} for (a, b), n in sorted(self.transitions.items())],
                "changed_examples": self.examples, "quarantine": self.quarantine,
                "outcome_problems": self.outcome_problems, "notes": self.notes}


@dataclass(frozen=True)
class _Job:
    """One version's replay, as a process of its own is given it."""

    version: Version
    source: EventSource
    leads_file: str | None
    store: Path
    tick: dt.timedelta
    seed: int
    render_sample: int | None
    outcomes: Outcomes | None
    as_of: bool


def _replay_job(job: _Job, progress: Progress) -> tuple[Replay, list[str]]:
    """Replay the history through one version, with its evidence when there are outcomes; the replay and its
    first quarantined rows. The store stays in its file for the comparison."""
    replayed, run = replay(job.version, job.source, leads_file=job.leads_file, store=job.store, tick=job.tick,
                           seed=job.seed, render_sample=job.render_sample, progress=progress)
    if job.outcomes is not None:
        replayed.evidence = evidence(run, job.outcomes, job.source.end, as_of=job.as_of)
    reasons = quarantine_reasons(run)
    run.nurture.store.dispose()
    return replayed, reasons


def _compare(first: Store, second: Store, result: BacktestResult, limit: int) -> None:
    """Leads whose final stage differs, by walking both stores in email order side by side."""
    with first.transaction() as a, second.transaction() as b:
        left, right = a.tallies.stages_by_email(), b.tallies.stages_by_email()
        x, y = next(left, None), next(right, None)
        while x is not None or y is not None:
            if x is not None and (y is None or x.email < y.email):
                pair, email, x = (x.stage, "(absent)"), x.email, next(left, None)
            elif y is not None and (x is None or y.email < x.email):
                pair, email, y = ("(absent)", y.stage), y.email, next(right, None)
            else:  # the same lead in both stores
                assert x is not None and y is not None
                pair, email = (x.stage, y.stage), x.email
                x, y = next(left, None), next(right, None)
            if pair[0] != pair[1]:
                result.changed += 1
                result.transitions[pair] = result.transitions.get(pair, 0) + 1
                if len(result.examples) < limit:
                    result.examples.append({"lead": email, "current": pair[0], "against": pair[1]})


def run_backtest(*, campaign_dir: Path, template_dir: Path, events: str, leads: str | None = None,
                 outcomes: Path | None = None, against: str | None = None, tick_hours: float = 6.0,
                 seed: int = 7, render_sample: int | None = 20, examples: int = 20,
                 progress: Progress = lambda n: None, on_scan: Callable[[int, int], None] = lambda n, v: None,
                 workdir: Path | None = None, at: dt.datetime | None = None) -> BacktestResult:
    """Replay ``events`` through the campaign on disk and, with ``against``, through another version.

    ``at``: the history as of that instant: later events are left out and scores are read then.
    """
    if tick_hours <= 0 or tick_hours > 24:
        raise ConfigError("--tick-hours must be more than 0 and at most 24")
    known = read_outcomes(outcomes) if outcomes is not None else None
    source = EventSource.scan(events, until=at)
    temp = Path(tempfile.mkdtemp(prefix="nurture-backtest-", dir=workdir))
    try:
        versions = [Version("current", campaign_dir, template_dir)]
        if against is not None:
            versions.append(campaign_at(against, versions[0], temp))
        on_scan(source.count, len(versions))
        result = BacktestResult(source, tick_hours, [], outcome_problems=known.problems if known else [])
        result.notes = [f"the daemon ticks every {tick_hours:g} h of the history's time; journeys run and their "
                        "emails are counted, never sent",
                        "opens and clicks in the history answer the emails really sent then, not the ones a "
                        "replay would send"]
        if not source.ordered:
            result.notes.append("the events file is not in time order, so it was sorted in memory")
        if at is not None:
            result.notes.append(f"as of {at.isoformat()}: {source.later:,} later events left out, scores read then")
        jobs = [_Job(version, source, leads, temp / f"replay{index}.db", dt.timedelta(hours=tick_hours), seed,
                     render_sample, known, at is not None) for index, version in enumerate(versions)]
        # two versions replay side by side, each in a process of its own: they share nothing but the history
        done = [_replay_job(jobs[0], progress)] if len(jobs) == 1 else run_parts(_replay_job, jobs, None, progress)
        result.replays = [replayed for replayed, _ in done]
        result.quarantine = done[0][1]
        if len(jobs) == 2:
            stores = [Store.connect(f"sqlite:///{job.store}") for job in jobs]
            try:
                _compare(stores[0], stores[1], result, examples)
            finally:
                for store in stores:
                    store.dispose()
        return result
    finally:
        shutil.rmtree(temp, ignore_errors=True)
