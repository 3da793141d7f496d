"""Scenario tests: each scenario of a campaign played on a virtual clock through the daemon's own code, in a
fresh store of its own, and its expectations judged against what the engine did.

A run ticks the daemon at the start, at every event and expectation, whenever something falls due (a step,
an email, a stage review), and at least hourly in between, so waits, send windows, quiet hours, caps and
periodic sweeps behave as they do in production. Email goes to memory, but every message is rendered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import tempfile
import time
import zoneinfo
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dsl import ast as a
from dsl.campaign import Campaign, default_template_dir, discover, load_campaign
from dsl.diagnostics import Diagnostic, Severity
from dsl.formatter import text_of
from dsl.scenario_facts import Facts
from dsl.symbols import Symbols, collect
from dsl.timeline import instant, lead_zone, start_instant
from engine.errors import EngineError
from engine.lab.expectations import InvariantWatch, judge, plain, source
from engine.lab.play import Play
from engine.lab.timeline import Entry, timeline
from engine.lab.topics import TopicLeaves
from engine.lab.virtual import VirtualRun
from engine.store.db import create_sqlite_store
from engine.store.history import Email

T = TypeVar("T", a.ScenarioEvent, a.Expect)
#: the daemon looks at the store at least this often, as a running daemon would
TICK = dt.timedelta(hours=1)
#: times are written to the minute, so `at 2d 09:00` is judged once that whole minute has passed
MINUTE = dt.timedelta(seconds=59)


class UsageError(EngineError):
    """The paths given hold no scenarios to run, or do not exist."""


# ===== what to run =============================================================================


@dataclass(frozen=True)
class ScenarioRef:
    """Where a scenario is written and the campaign it tests: all a worker process needs."""

    campaign_dir: str
    template_dir: str
    path: str
    #: its position among the scenarios of its file
    index: int
    name: str
    line: int

    @property
    def id(self) -> str:
        return f'{self.path}::"{self.name}"'


@dataclass
class Suite:
    scenarios: list[ScenarioRef] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        """Errors in the campaigns under test: while there are any, no scenario can run."""
        return [d for c in self.campaigns for d in c.diagnostics if d.severity is Severity.ERROR]

    @property
    def sources(self) -> dict:
        return {path: source for c in self.campaigns for path, source in c.sources.items()}


def campaign_root(path: Path, configured: Path) -> Path:
    """The campaign a path belongs to: the configured campaign directory when it holds the path, else the
    nearest directory beside a `templates/` directory (`journeys/` in a copy of the project), else the
    path's own directory."""
    if path.resolve().is_relative_to(configured.resolve()):
        return configured
    own = path if path.is_dir() else path.parent
    for candidate in (own, *own.parents):
        if candidate.name and (candidate.parent / "templates").is_dir():
            return candidate
    return own


def collect_suite(paths: list[Path], campaign_dir: Path, template_dir: Path, *,
                  explicit_campaign: bool = False, explicit_templates: bool = False) -> Suite:
    """The scenarios written in ``paths``, each with the campaign it tests (checked, like `nurture check`)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    roots: dict[Path, list[Path]] = {}
    for path in paths:
        root = campaign_dir if explicit_campaign else campaign_root(path, campaign_dir)
        roots.setdefault(root, []).append(path)
    suite = Suite()
    for root, chosen in roots.items():
        templates = template_dir if explicit_templates or root == campaign_dir else default_template_dir([root])
        campaign = load_campaign([root], templates)
        suite.campaigns.append(campaign)
        wanted = {p.resolve() for p in discover(chosen)}
        for file in campaign.files:
            if Path(file.path).resolve() not in wanted:
                continue
            scenarios = [item for item in file.items if isinstance(item, a.Scenario)]
            suite.scenarios += [ScenarioRef(str(root), str(templates), file.path, i, str(s.name), s.span.line)
                                for i, s in enumerate(scenarios)]
    return suite


# ===== results =================================================================================


@dataclass
class Failure:
    #: where the failed expectation is written, or the step whose email did not render
    path: str
    line: int | None
    expectation: str
    at: str
    instead: list[str]
    timeline: list[Entry] = field(default_factory=list)
    #: how times in the timeline read: the lead's zone and day 0
    zone: str = "UTC"
    day0: str = ""


@dataclass
class Outcome:
    ref: ScenarioRef
    failure: Failure | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.ref.id, "path": self.ref.path, "line": self.ref.line, "name": self.ref.name,
                "status": "passed" if self.passed else "failed", "seconds": round(self.seconds, 3),
                "failure": asdict(self.failure) if self.failure else None}


def run_suite(suite: Suite, jobs: int) -> Iterator[Outcome]:
    """Outcomes in the order the scenarios are written; ``jobs`` processes play them side by side."""
    if jobs <= 1 or len(suite.scenarios) <= 1:
        yield from map(run_scenario, suite.scenarios)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(suite.scenarios))) as pool:
        yield from pool.map(run_scenario, suite.scenarios)


def run_scenario(ref: ScenarioRef) -> Outcome:
    """Play one scenario in a store of its own; never raises (a crash is the scenario's failure)."""
    started = time.perf_counter()
    try:
        failure = asyncio.run(_play(ref))
    except Exception as err:  # anything the engine raises fails this scenario, not the whole run
        failure = Failure(ref.path, ref.line, "the scenario runs", "", [f"{type(err).__name__}: {err}"])
    return Outcome(ref, failure, time.perf_counter() - started)


# ===== playing a scenario ======================================================================


def _fail(play: Play, node: a.Node, expectation: str, at: dt.datetime, instead: list[str]) -> Failure:
    return Failure(node.span.path, node.span.line, expectation, play.when(at), instead, timeline(play, at),
                   play.tz.key, f"{play.start.astimezone(play.tz):%a %Y-%m-%d %H:%M}")


def _scenario(campaign: Campaign, ref: ScenarioRef) -> a.Scenario:
    for file in campaign.files:
        if file.path == ref.path:
            return [i for i in file.items if isinstance(i, a.Scenario)][ref.index]
    raise EngineError(f"{ref.path} is no longer part of the campaign in {ref.campaign_dir}")


@functools.lru_cache(maxsize=2)
def _parsed(campaign_dir: str, template_dir: str,
            contents: tuple[tuple[str, bytes], ...]) -> tuple[Campaign, Symbols]:
    """The campaign and its symbols, keyed by what its files hold: a process plays many scenarios of one
    campaign, and parsing and checking it took a third of a short scenario's time."""
    campaign = load_campaign([campaign_dir], template_dir)
    return campaign, collect(campaign.files)


def _campaign(ref: ScenarioRef) -> tuple[Campaign, Symbols]:
    files = discover([ref.campaign_dir])
    return _parsed(ref.campaign_dir, ref.template_dir, tuple((str(path), path.read_bytes()) for path in files))


async def _play(ref: ScenarioRef) -> Failure | None:
    campaign, sym = _campaign(ref)
    scenario = _scenario(campaign, ref)
    tz = lead_zone(scenario, sym.defaults, sym.settings)
    start = start_instant(scenario, tz)
    lead = scenario.lead
    if start is None or lead is None:
        raise EngineError("the scenario has errors; see `nurture check`")
    events = _timed([e for e in scenario.timeline if isinstance(e, a.ScenarioEvent)], start, tz)
    expects = _timed([e for e in scenario.timeline if isinstance(e, a.Expect)], start, tz, MINUTE)
    with tempfile.TemporaryDirectory(prefix="nurture-scenario-") as tmp:
        database = Path(tmp) / "scenario.db"
        create_sqlite_store(database)
        run = VirtualRun(Path(ref.campaign_dir), Path(ref.template_dir), start, database_url=f"sqlite:///{database}",
                         tick=TICK, seed=0, base_url="https://nurture.scenario.example",
                         secret_key="scenario-tests", throwaway=True, checked=campaign)
        try:
            play = Play(run, scenario, tz, start, str(lead.email).lower(), events, sym)
            return await _timeline_loop(play, lead, expects)
        finally:
            run.nurture.store.dispose()


def _timed(items: list[T], start: dt.datetime, tz: zoneinfo.ZoneInfo,
           shift: dt.timedelta = dt.timedelta()) -> list[tuple[dt.datetime, T]]:
    """Events or expectations with their instants, in time order (lines at the same time in the order written)."""
    timed = []
    for item in items:
        at = instant(item.at, start, tz)
        if at is None:
            raise EngineError("the scenario has errors; see `nurture check`")
        timed.append((at + shift, item))
    return sorted(timed, key=lambda pair: pair[0])


async def _timeline_loop(play: Play, lead: a.ScenarioLead,
                         expects: list[tuple[dt.datetime, a.Expect]]) -> Failure | None:
    run = play.run
    leads = play.scenario.leads  # the first is the lead expectations are about; the others share its story
    report = run.import_leads([{"email": str(one.email), **{str(x.name): plain(x.value) for x in one.attributes}}
                               for one in leads])
    if report.rejected:
        rejected = leads[report.rejected[0].line - 1] if 0 < report.rejected[0].line <= len(leads) else lead
        return _fail(play, rejected, f'lead "{rejected.email}"', play.start, [r.reason for r in report.rejected])
    with run.nurture.store.transaction() as tx:
        play.lead_id = tx.history.lead_id(play.email)
        play.lead_ids = {str(one.email).lower(): tx.history.lead_id(str(one.email).lower()) for one in leads}
    events, ingested = play.events, 0
    invariants = InvariantWatch(play)
    leaves = TopicLeaves(play)  # topics the lead leaves, each applied before the tick at its time
    end = max([play.start] + [at for at, _ in events] + [at for at, _ in expects] + leaves.times)
    now, judged = play.start, 0
    while True:
        run.clock.set(now)
        due = [(i, e) for i, (at, e) in enumerate(events[ingested:], ingested) if at <= now]
        if due:
            rows = [run.row({"id": f"scenario:{i}", "lead": str(e.by).lower() if e.by else play.email,
                             "type": str(e.event),
                             "at": events[i][0].isoformat(), "props": {str(p.name): plain(p.value) for p in e.props}})
                    for i, e in due]
            report = run.processor.ingest_events(rows, "scenario")
            ingested += len(due)
            if report.rejected:
                event = due[0][1]
                return _fail(play, event, text_of(event), now, [r.reason for r in report.rejected])
        leaves.apply_due(play, now)
        stats = await run.daemon.tick()
        if stats.delivery.errors:
            return _render_failure(play, now, stats.delivery.errors)
        if stats.delivery.sent and (broken := invariants.broken(play, now)) is not None:
            return _fail(play, broken[0], text_of(broken[0]), now, broken[1])
        while judged < len(expects) and expects[judged][0] <= now:
            expect = expects[judged][1]
            instead = judge(play, expect.check, now)
            if instead is not None:
                return _fail(play, expect, text_of(expect), now, instead)
            judged += 1
        if now >= end:
            return None
        now = min(t for t in (now + TICK, _next_due(play, now), *(at for at, _ in events[ingested:]),
                              *(at for at, _ in expects[judged:]), leaves.next_time()) if t is not None and t > now)


def _render_failure(play: Play, now: dt.datetime, errors: list[str]) -> Failure:
    """An email that could not be rendered fails the scenario, pointing at the step or stage that sends it."""
    with play.run.nurture.store.transaction() as tx:
        email = tx.history.first_failed_email(play.lead_id)
    if email is None:  # another lead's email: cannot happen with one lead, but say what failed
        return _fail(play, play.scenario, "every email renders", now, errors)
    noun = "email" if email.kind == "marketing" else "sales notification"
    return _fail(play, _sender(play, email), f'the {noun} "{email.template}" from {source(email)} renders', now,
                     [str(email.last_error or "").removeprefix("render: ")])


def _sender(play: Play, email: Email) -> a.Node:
    """Where the campaign sends ``email``: its journey step, the stage's notify line, or the scenario."""
    facts = Facts.of(play.sym)
    if email.journey and email.step in facts.labels.get(email.journey, {}):
        return facts.labels[email.journey][email.step]
    if email.step and email.step.startswith("stage ") and email.step[6:] in play.sym.stage_nodes:
        return next((i for i in play.sym.stage_nodes[email.step[6:]].items
                     if isinstance(i, a.Notify) and i.template == email.template), play.scenario)
    return play.scenario


def _next_due(play: Play, now: dt.datetime) -> dt.datetime | None:
    """The next moment the store has something due: a step, an email or a stage review."""
    with play.run.nurture.store.transaction() as tx:
        due = [t for t in (tx.history.next_due(now), tx.sla.next_deadline(now)) if t is not None]
        return min(due, default=None)
