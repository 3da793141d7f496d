"""Scenario tests: each scenario of a campaign played on a virtual clock through the daemon's own code, in a
fresh store of its own, and its expectations judged against what the engine did.

A run ticks the daemon at the start, at every event and expectation, whenever something falls due (a step,
an email, a stage review), and at least hourly in between, so waits, send windows, quiet hours, caps and
periodic sweeps behave as they do in production. Email goes to memory, but every message is rendered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from dsl import ast as a
from dsl.campaign import Campaign, default_template_dir, discover, load_campaign
from dsl.diagnostics import Diagnostic, Severity
from dsl.formatter import text_of
from dsl.scenario_facts import Facts
from dsl.symbols import Symbols, collect
from dsl.timeline import describe, instant, lead_zone, start_instant
from engine.core.journeys import LeadView
from engine.daemon.journeys import lead_views
from engine.errors import EngineError
from engine.lab.virtual import VirtualRun
from engine.store import Tx
from engine.store.tables import ACTIONS, CHANGES, ENROLLMENTS, LEADS, LEDGER, OUTBOX

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
class Entry:
    """One line of the timeline that led to a failure."""

    at: str
    kind: str  # event, score, stage, owner, journey, email, sales
    text: str


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


@dataclass
class Play:
    """One scenario being played: its clock, its store, and how to read times back."""

    run: VirtualRun
    scenario: a.Scenario
    tz: zoneinfo.ZoneInfo
    start: dt.datetime
    email: str
    events: list[tuple[dt.datetime, a.ScenarioEvent]]
    sym: Symbols
    lead_id: int = 0

    def when(self, at: dt.datetime) -> str:
        return describe(at, self.start, self.tz)

    def fail(self, node: a.Node, expectation: str, at: dt.datetime, instead: list[str]) -> Failure:
        return Failure(node.span.path, node.span.line, expectation, self.when(at), instead, timeline(self, at),
                       self.tz.key, f"{self.start.astimezone(self.tz):%a %Y-%m-%d %H:%M}")


def _scenario(campaign: Campaign, ref: ScenarioRef) -> a.Scenario:
    for file in campaign.files:
        if file.path == ref.path:
            return [i for i in file.items if isinstance(i, a.Scenario)][ref.index]
    raise EngineError(f"{ref.path} is no longer part of the campaign in {ref.campaign_dir}")


def _plain(value: a.Value) -> Any:
    """A literal as the engine takes it in (dates as ISO text, as in a JSON file)."""
    if value.kind == "list":
        return [_plain(v) for v in value.value]  # type: ignore[union-attr]
    if value.kind == "date":
        return value.value.isoformat()  # type: ignore[union-attr]
    return value.value


async def _play(ref: ScenarioRef) -> Failure | None:
    campaign = load_campaign([ref.campaign_dir], ref.template_dir)
    scenario = _scenario(campaign, ref)
    sym = collect(campaign.files)
    tz = lead_zone(scenario, sym.defaults, sym.settings)
    start = start_instant(scenario, tz)
    lead = scenario.lead
    if start is None or lead is None:
        raise EngineError("the scenario has errors; see `nurture check`")
    events = _timed([e for e in scenario.timeline if isinstance(e, a.ScenarioEvent)], start, tz)
    expects = _timed([e for e in scenario.timeline if isinstance(e, a.Expect)], start, tz, MINUTE)
    with tempfile.TemporaryDirectory(prefix="nurture-scenario-") as tmp:
        run = VirtualRun(Path(ref.campaign_dir), Path(ref.template_dir), start,
                         database_url=f"sqlite:///{Path(tmp) / 'scenario.db'}", tick=TICK,
                         seed=0, base_url="https://nurture.scenario.example", secret_key="scenario-tests")
        try:
            play = Play(run, scenario, tz, start, str(lead.email).lower(), events, sym)
            return await _timeline_loop(play, lead, expects)
        finally:
            run.nurture.db.dispose()


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
    report = run.import_leads([{"email": str(lead.email), **{str(x.name): _plain(x.value) for x in lead.attributes}}])
    if report.rejected:
        return play.fail(lead, f'lead "{lead.email}"', play.start, [r.reason for r in report.rejected])
    with run.nurture.db.connect() as conn:
        play.lead_id = conn.execute(sa.select(LEADS.c.id).where(LEADS.c.email == play.email)).scalar_one()
    events, ingested = play.events, 0
    end = max([play.start] + [at for at, _ in events] + [at for at, _ in expects])
    now, judged = play.start, 0
    while True:
        run.clock.set(now)
        due = [(i, e) for i, (at, e) in enumerate(events[ingested:], ingested) if at <= now]
        if due:
            rows = [run.row({"id": f"scenario:{i}", "lead": play.email, "type": str(e.event),
                             "at": events[i][0].isoformat(), "props": {str(p.name): _plain(p.value) for p in e.props}})
                    for i, e in due]
            report = run.processor.ingest_events(rows, "scenario")
            ingested += len(due)
            if report.rejected:
                event = due[0][1]
                return play.fail(event, text_of(event), now, [r.reason for r in report.rejected])
        stats = await run.daemon.tick()
        if stats.delivery.errors:
            return _render_failure(play, now, stats.delivery.errors)
        while judged < len(expects) and expects[judged][0] <= now:
            expect = expects[judged][1]
            instead = judge(play, expect.check, now)
            if instead is not None:
                return play.fail(expect, text_of(expect), now, instead)
            judged += 1
        if now >= end:
            return None
        now = min(t for t in (now + TICK, _next_due(play, now), *(at for at, _ in events[ingested:]),
                              *(at for at, _ in expects[judged:])) if t is not None and t > now)


def _render_failure(play: Play, now: dt.datetime, errors: list[str]) -> Failure:
    """An email that could not be rendered fails the scenario, pointing at the step or stage that sends it."""
    with play.run.nurture.db.connect() as conn:
        row = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.lead_id == play.lead_id, OUTBOX.c.status == "failed")
                           .order_by(OUTBOX.c.id)).first()
    if row is None:  # another lead's email: cannot happen with one lead, but say what failed
        return play.fail(play.scenario, "every email renders", now, errors)
    facts = Facts.of(play.sym)
    node: a.Node = play.scenario
    if row.journey and row.step in facts.labels.get(row.journey, {}):
        node = facts.labels[row.journey][row.step]
    elif row.step and row.step.startswith("stage ") and row.step[6:] in play.sym.stage_nodes:
        node = next((i for i in play.sym.stage_nodes[row.step[6:]].items
                     if isinstance(i, a.Notify) and i.template == row.template), play.scenario)
    noun = "email" if row.kind == "marketing" else "sales notification"
    return play.fail(node, f'the {noun} "{row.template}" from {_source(row)} renders', now,
                     [str(row.last_error or "").removeprefix("render: ")])


def _next_due(play: Play, now: dt.datetime) -> dt.datetime | None:
    """The next moment the store has something due: a step, an email or a stage review."""
    queries = [
        sa.select(sa.func.min(ENROLLMENTS.c.due_at)).where(ENROLLMENTS.c.status.in_(("active", "waiting")),
                                                           ENROLLMENTS.c.due_at > now),
        sa.select(sa.func.min(OUTBOX.c.due_at)).where(OUTBOX.c.status == "queued", OUTBOX.c.due_at > now),
        sa.select(sa.func.min(LEADS.c.review_at)).where(LEADS.c.review_at > now),
    ]
    with play.run.nurture.db.connect() as conn:
        found = [conn.execute(q).scalar() for q in queries]
    # SQLite hands back naive UTC for an aggregate, where the column type cannot convert it
    times = [t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t for t in found if t is not None]
    return min(times, default=None)


# ===== judging an expectation ==================================================================


@dataclass
class Snapshot:
    lead: LeadView
    changes: list[Any]
    outbox: list[Any]
    enrollments: list[Any]


def snapshot(play: Play, now: dt.datetime) -> Snapshot:
    run = play.run
    _, rules = run.nurture.rules()
    with run.nurture.db.connect() as conn:
        lead = lead_views(Tx(conn), rules, [play.lead_id], now)[play.lead_id]
        changes = conn.execute(sa.select(CHANGES).where(CHANGES.c.lead_id == play.lead_id)
                               .order_by(CHANGES.c.at, CHANGES.c.id)).all()
        outbox = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.lead_id == play.lead_id).order_by(OUTBOX.c.id)).all()
        enrollments = conn.execute(sa.select(ENROLLMENTS).where(ENROLLMENTS.c.lead_id == play.lead_id)
                                   .order_by(ENROLLMENTS.c.entered_at, ENROLLMENTS.c.id)).all()
    return Snapshot(lead, changes, outbox, enrollments)


def judge(play: Play, check: a.Check, now: dt.datetime) -> list[str] | None:
    """None when ``check`` holds now; otherwise what happened instead, a sentence a line."""
    state = snapshot(play, now)
    match check:
        case a.ExpectStage(stage=stage):
            return None if state.lead.stage == stage else _stage_instead(play, state)
        case a.ExpectValue() | a.ExpectBetween():
            return _value(state, check)
        case a.ExpectEmail():
            return _email(play, state, check, now)
        case a.ExpectJourney():
            return _journey(play, state, check)
    raise EngineError(f"cannot judge {type(check).__name__}")


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
        holds = isinstance(value, int | float) and check.low.value <= value <= check.high.value  # type: ignore[operator]
    else:
        try:
            holds = value is not None and _COMPARE[check.op](value, _plain(check.value))
        except TypeError:  # a value of another type than declared never compares
            holds = False
    if holds:
        return None
    shown = "not set" if value is None else text_of(a.Value("text", value)) if isinstance(value, str) else f"{value}"
    return [f"`{name}` is {shown}"]


def _source(row) -> str:
    """Where an email came from: `journey.step`, or the stage whose entry notified sales."""
    return f"{row.journey}.{row.step}" if row.journey else (row.step or "the campaign")


def _email(play: Play, state: Snapshot, check: a.ExpectEmail, now: dt.datetime) -> list[str] | None:
    kind = "marketing" if check.kind == "sent" else "sales"
    mine = [r for r in state.outbox if r.kind == kind]
    matching = [r for r in mine if r.template == check.template
                and (check.journey is None or r.journey == check.journey)
                and (check.step is None or r.step == check.step)]
    sent = [r for r in matching if r.status == "sent" and r.sent_at <= now]
    what = f'"{check.template}"'
    if check.negated:
        if not sent:
            return None
        first = sent[0]
        to = "" if kind == "marketing" else f" to {first.to_address}"
        return [f"{what} was sent{to} at {play.when(first.sent_at)}, from {_source(first)}"]
    if sent:
        return None
    instead = [_unsent(play, row) for row in matching]
    if not matching:
        where = "" if check.journey is None else f" from {check.journey}" + (f".{check.step}" if check.step else "")
        noun = "email" if kind == "marketing" else "sales notification"
        instead.append(f"no {what} {noun}{where} was queued")
    done = sorted((r for r in mine if r.status == "sent" and r.sent_at <= now), key=lambda r: (r.sent_at, r.id))
    if done:
        label = "emails sent" if kind == "marketing" else "sales notifications sent"
        instead.append(f"{label}: " + ", ".join(f'"{r.template}" from {_source(r)} at {play.when(r.sent_at)}'
                                                for r in done))
    else:
        instead.append("no email was sent to the lead" if kind == "marketing" else "sales was not notified")
    return instead


def _unsent(play: Play, row) -> str:
    held = f", held back {_times(row.deferrals)} by quiet hours or a frequency cap" if row.deferrals else ""
    if row.status == "queued":
        return f'"{row.template}" from {_source(row)} is queued for {play.when(row.due_at)}{held}'
    reason = f": {row.last_error}" if row.last_error else ""
    return f'"{row.template}" from {_source(row)} was {row.status}{reason}'


def _times(n: int) -> str:
    return f"{n} time{'' if n == 1 else 's'}"


def _journey(play: Play, state: Snapshot, check: a.ExpectJourney) -> list[str] | None:
    runs = [r for r in state.enrollments if r.journey == check.journey]
    active = [r for r in runs if r.status in ("active", "waiting")]
    holds = {
        "in": bool(active),
        "not in": not active,
        "exited": any(r.status == "exited" for r in runs),
        "finished": any(r.status == "done" and r.end_reason == "finished" for r in runs),
        "goal": any(r.goal_at is not None for r in runs),
    }[check.state]
    if holds:
        return None
    if not runs:
        return [f"the lead never entered `{check.journey}`"]
    return [_enrollment(play, r) for r in runs]


def _enrollment(play: Play, row) -> str:
    entered = f"`{row.journey}` entered at {play.when(row.entered_at)}"
    if row.status == "waiting":
        until = f" until {play.when(row.due_at)}" if row.due_at else ""
        return f"{entered}, waiting{until} at step `{row.step}`"
    if row.status == "active":
        return f"{entered}, next step `{row.step}` at {play.when(row.due_at)}"
    return f"{entered}, {_ended(row)} at {play.when(row.ended_at)}"


def _ended(row) -> str:
    if row.goal_at is not None:
        return str(row.end_reason or "goal reached")
    if row.status == "done":
        return "finished" if row.end_reason == "finished" else str(row.end_reason)
    return f"exited ({row.end_reason})" if row.end_reason else "exited"


# ===== the timeline that led there =============================================================

#: the order of lines that happen at the same instant: cause before effect
_ORDER = {"event": 0, "score": 1, "stage": 2, "owner": 3, "journey": 4, "email": 5, "sales": 6, "ended": 7}


def timeline(play: Play, until: dt.datetime) -> list[Entry]:
    """Everything that happened to the lead up to ``until``, in time order: events, points, stage changes,
    owners, journeys entered and left, emails and sales notifications."""
    found: list[tuple[dt.datetime, str, str]] = []
    for at, event in play.events:
        if at <= until:
            found.append((at, "event", str(event.event) + ("" if not event.props else
                                                           " {" + ", ".join(text_of(p) for p in event.props) + "}")))
    state = snapshot(play, until)
    with play.run.nurture.db.connect() as conn:
        ledger = conn.execute(sa.select(LEDGER).where(LEDGER.c.lead_id == play.lead_id, LEDGER.c.at <= until)
                              .order_by(LEDGER.c.at, LEDGER.c.id)).all()
        owners = conn.execute(sa.select(ACTIONS).where(ACTIONS.c.lead_id == play.lead_id,
                                                       ACTIONS.c.kind == "assign_owner",
                                                       ACTIONS.c.created_at <= until)).all()
    for line in ledger:
        found.append((line.at, "score", f"{line.score} {line.points:+g} from `{line.rule}`"))
    for change in state.changes:
        if change.at <= until:
            found.append((change.at, "stage", f"{change.from_stage} -> {change.to_stage}  {change.reason}"))
    for action in owners:
        found.append((action.created_at, "owner", f"{action.payload['owner']}  {action.payload['reason']}"))
    for row in state.enrollments:
        found.append((row.entered_at, "journey", f"entered `{row.journey}`"))
        if row.ended_at is not None and row.ended_at <= until:
            found.append((row.ended_at, "ended", f"`{row.journey}` {_ended(row)}"))
    for row in state.outbox:
        found += _outbox_lines(play, row, until)
    found.sort(key=lambda f: (f[0], _ORDER[f[1]]))
    return [Entry(play.when(at), "journey" if kind == "ended" else kind, text) for at, kind, text in found
            if at <= until]


def _outbox_lines(play: Play, row, until: dt.datetime) -> list[tuple[dt.datetime, str, str]]:
    kind = "email" if row.kind == "marketing" else "sales"
    to = "" if row.kind == "marketing" else f" to {row.to_address}"
    what = f'"{row.template}" from {_source(row)}{to}'
    if row.status == "sent" and row.sent_at <= until:
        held = f" (queued at {play.when(row.created_at)}, held back {_times(row.deferrals)} by quiet hours or a " \
            "frequency cap)" if row.deferrals else ""
        return [(row.sent_at, kind, f"{what}{held}")]
    if row.created_at > until:
        return []
    if row.status in ("queued", "sent"):
        return [(row.created_at, kind, f"{what} queued for {play.when(row.due_at)}" if row.status == "queued"
                 else f"{what} queued")]
    return [(row.created_at, kind, f"{what} {row.status}: {row.last_error or ''}".rstrip(": "))]
