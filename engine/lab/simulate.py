"""`nurture simulate`: synthetic leads and engagement through the real engine on a virtual clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import tempfile
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.journey_plan import WaitEventStep
from engine.core.schedule import zone
from engine.delivery.memory import MemoryTransport
from engine.errors import ConfigError
from engine.lab import shards
from engine.lab.shards import SHARD_LEADS
from engine.lab.synthetic import COMPANIES, TEMPERAMENTS, Population
from engine.lab.virtual import VirtualRun
from engine.lab.watch import SimulationWatch
from engine.reports.funnel import entered_per_stage

START = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)  # a Monday
#: every lead is looked at for journey conditions time alone makes true (decay) once a simulated day
SWEEP = dt.timedelta(days=1)
#: leads, signals, steps per daemon batch: big enough that a day's sweep of 10,000 leads fits in a few ticks
DAEMON_BATCH = 2000
#: the fields of one temperament in a mix file, in the order `synthetic.TEMPERAMENTS` keeps them
TEMPERAMENT_FIELDS = ("share", "visits_per_day", "demo_per_day", "open_rate", "click_rate")


@dataclass(frozen=True)
class Mix:
    """Who the synthetic leads are and how they behave."""

    temperaments: dict[str, tuple[float, float, float, float, float]] = field(
        default_factory=lambda: dict(TEMPERAMENTS))
    #: new leads arriving each week, as a share of the starting leads
    new_leads_per_week: float = 0.0
    #: a webinar every this many days (0: none)
    webinar_every_days: int = 14
    #: of yesterday's SQLs, the share sales turns back to marketing
    sales_reject_rate: float = 0.33
    #: of the SQLs of a week ago, the share that buys
    sales_win_rate: float = 0.25

    def as_dict(self) -> dict[str, Any]:
        return {"temperaments": {name: dict(zip(TEMPERAMENT_FIELDS, values, strict=True))
                                 for name, values in self.temperaments.items()},
                "new_leads_per_week": self.new_leads_per_week, "webinar_every_days": self.webinar_every_days,
                "sales_reject_rate": self.sales_reject_rate, "sales_win_rate": self.sales_win_rate}


def load_mix(path: Path) -> Mix:
    """A mix from a TOML or JSON file; anything left out keeps the default."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as err:
        raise ConfigError(f"cannot read the mix file {path}: {err.strerror}") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    return mix_from(data, str(path))


def mix_from(data: dict[str, Any], where: str = "mix") -> Mix:
    default = Mix()
    known = {"temperaments", "new_leads_per_week", "webinar_every_days", "sales_reject_rate", "sales_win_rate"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}")
    temperaments: dict[str, tuple[float, float, float, float, float]] = dict(default.temperaments)
    given = data.get("temperaments")
    if given is not None:
        if not isinstance(given, dict) or not given:
            raise ConfigError(f"{where}: `temperaments` must be a table of named temperaments, e.g. [temperaments.hot]")
        temperaments = {}
        for name, overrides in given.items():
            base = dict(zip(TEMPERAMENT_FIELDS, TEMPERAMENTS.get(name, TEMPERAMENTS["cold"]), strict=True))
            if not isinstance(overrides, dict) or set(overrides) - set(TEMPERAMENT_FIELDS):
                raise ConfigError(f"{where}: temperament {name!r} takes {', '.join(TEMPERAMENT_FIELDS)}")
            merged = {**base, **overrides}
            for key, value in merged.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"{where}: {name}.{key} must be a number >= 0, got {value!r}")
            if merged["open_rate"] > 1 or merged["click_rate"] > merged["open_rate"]:
                raise ConfigError(f"{where}: {name}: rates need 0 <= click_rate <= open_rate <= 1")
            share, visits, demos, opens, clicks = (float(merged[k]) for k in TEMPERAMENT_FIELDS)
            temperaments[name] = (share, visits, demos, opens, clicks)
        if not sum(v[0] for v in temperaments.values()):
            raise ConfigError(f"{where}: the temperaments' shares add up to 0")
    values: dict[str, Any] = {}
    for key in known - {"temperaments"}:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{where}: `{key}` must be a number >= 0, got {value!r}")
            values[key] = int(value) if key == "webinar_every_days" else float(value)
    for key in ("sales_reject_rate", "sales_win_rate"):
        if values.get(key, 0) > 1:
            raise ConfigError(f"{where}: `{key}` is a share between 0 and 1")
    return Mix(temperaments, **values)


@dataclass
class SimulationResult:
    """Everything `simulate` reports; ``as_dict`` is its JSON (no wall-clock figures: same seed, same JSON)."""

    leads: int
    days: int
    seed: int
    tick_hours: float
    start: dt.datetime
    mix: Mix
    events: int = 0
    ticks: int = 0
    stages: list[str] = field(default_factory=list)
    #: leads per stage at the end of each day
    funnel_by_day: list[dict[str, int]] = field(default_factory=list)
    #: stage -> leads that ever entered it (one skipped on the way up is not counted)
    entered: dict[str, int] = field(default_factory=dict)
    #: (journey, step, template) -> sends per day (index 0 = day 1)
    sends_by_step: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    mailing: dict[str, Any] = field(default_factory=dict)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    stuck_days: int = 14
    #: template -> (messages that failed to render, the first error)
    render_failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: the campaign's invariants: whether each held, and the leads and days that broke it
    invariants: list[dict[str, Any]] = field(default_factory=list)
    #: how the simulation differs from the daemon in production, said wherever results are shown
    notes: list[str] = field(default_factory=list)

    @property
    def lead_days(self) -> int:
        return sum(sum(day.values()) for day in self.funnel_by_day)

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads, "days": self.days, "seed": self.seed, "tick_hours": self.tick_hours,
            "start": self.start.isoformat(), "mix": self.mix.as_dict(), "events": self.events, "ticks": self.ticks,
            "lead_days": self.lead_days, "stages": self.stages,
            "funnel_by_day": [{"day": i + 1, "date": (self.start + dt.timedelta(days=i)).date().isoformat(), **row}
                              for i, row in enumerate(self.funnel_by_day)],
            "entered": self.entered, "sent": self.sent,
            "sends_by_step": [{"journey": j, "step": s, "template": t, "total": sum(days), "per_day": days}
                              for (j, s, t), days in sorted(self.sends_by_step.items())],
            "mailing": self.mailing, "stuck_days": self.stuck_days, "stuck": self.stuck,
            "render_failures": [{"template": t, "messages": n, "error": e}
                                for t, (n, e) in sorted(self.render_failures.items())],
            "invariants": self.invariants, "notes": self.notes,
        }

    @property
    def broken(self) -> list[dict[str, Any]]:
        """The invariants some lead broke."""
        return [i for i in self.invariants if not i["holds"]]


def _funnel_now(run: VirtualRun, stages: list[str]) -> dict[str, int]:
    with run.nurture.store.transaction() as tx:
        counts = tx.tallies.leads_per_stage()
    return {stage: counts.get(stage, 0) for stage in stages} | {s: n for s, n in counts.items() if s not in stages}


def _sales_feedback(run: VirtualRun, population: Population, mix: Mix, day: dt.datetime) -> list:
    """Sales turns some of yesterday's SQLs back to marketing; some of last week's buy (as in the demo)."""

    def notified(days_ago: int) -> list[str]:
        with run.nurture.store.transaction() as tx:
            return tx.tallies.sales_notified(day - dt.timedelta(days=days_ago), day - dt.timedelta(days=days_ago - 1))

    rows = []
    for email in notified(1):
        if email in population.by_email and population.rng.random() < mix.sales_reject_rate:
            rows.append(population.event(population.by_email[email], "sales.rejected",
                                         day + dt.timedelta(hours=15), reason="no budget this quarter"))
    for email in notified(7):
        if email in population.by_email and population.rng.random() < mix.sales_win_rate:
            rows.append(population.event(population.by_email[email], "subscription.started",
                                         day + dt.timedelta(hours=11), plan="business"))
    return rows


async def _play(run: VirtualRun, population: Population, result: SimulationResult, watch: SimulationWatch,
                progress: Callable[[int], None]) -> None:
    mix, delivered = result.mix, run.transport
    assert isinstance(delivered, MemoryTransport)
    run.import_leads({"email": lead.email, **lead.attributes} for lead in population.make_leads(result.leads))
    seen, last_tick = 0, result.start

    def after_tick(now: dt.datetime) -> None:  # opens and clicks of what was just delivered; invariants
        nonlocal seen, last_tick
        fresh, seen = delivered.messages[seen:], len(delivered.messages)
        # in the order of their keys, not of their sends: concurrent sends finish in an order the store thread's
        # timing decides, and each reaction draws from the one random sequence, so the same seed gives the same run
        fresh = sorted(fresh, key=lambda message: message.key)
        run.schedule([r for message in fresh if message.kind == "marketing"
                      for to in message.recipients for r in population.reactions(to, now)])
        if fresh and watch.watches_sends:
            with run.nurture.store.transaction() as tx:
                watch.after_tick(tx, last_tick, now)
        last_tick = now

    declared = set(run.processor.rules.event_types)
    for day in range(result.days):
        today = result.start + dt.timedelta(days=day)
        if day and day % 7 == 0 and mix.new_leads_per_week:
            cohort = population.make_leads(max(1, round(result.leads * mix.new_leads_per_week)))
            run.import_leads({"email": lead.email, **lead.attributes} for lead in cohort)
        # a webinar every `webinar_every_days` (with the default 14, on days 9, 23, ... as in the demo)
        webinar = bool(mix.webinar_every_days) and (day + 5) % mix.webinar_every_days == 0
        run.schedule(r for r in population.day_of_activity(today, webinar_day=webinar)
                     if r.data is not None and r.data["type"] in declared)
        result.ticks += len(await run.advance(today + dt.timedelta(days=1), after_tick=after_tick))
        run.schedule(r for r in _sales_feedback(run, population, mix, today) if r.data["type"] in declared)
        result.funnel_by_day.append(_funnel_now(run, result.stages))
        progress(1)



def _day_index(start: dt.datetime, when: dt.datetime) -> int:
    return (when - start) // dt.timedelta(days=1)


def _sends(run: VirtualRun, result: SimulationResult) -> None:
    """Emails per journey step per day, and totals by kind."""
    per_step: dict[tuple[str, str, str], list[int]] = {}
    sent: Counter[str] = Counter()
    with run.nurture.store.transaction() as tx:
        for kind, journey, step, template, sent_at in tx.tallies.sent():
            sent[kind] += 1
            key = (journey or "(stage alerts)", step or "", template)
            days = per_step.setdefault(key, [0] * result.days)
            index = _day_index(result.start, sent_at)
            if 0 <= index < result.days:
                days[index] += 1
        status = tx.tallies.outbox_by_status()
        for template, error in tx.tallies.render_failures():
            count, first = result.render_failures.get(template, (0, error))
            result.render_failures[template] = (count + 1, first)
    result.sends_by_step = per_step
    result.sent = {"marketing": sent["marketing"], "sales": sent["sales"],
                   **{f"outbox_{k}": v for k, v in sorted(status.items()) if k != "sent"}}


def _mailing(run: VirtualRun, result: SimulationResult, limit: int) -> None:
    """The most marketing email any lead got on one day (its own calendar day), and who."""
    _, rules = run.nurture.rules()
    default_zone = str(rules.symbols.settings.get("default timezone") or "UTC")
    caps = rules.symbols.frequency_caps
    per_lead_day: Counter[tuple[str, str]] = Counter()
    templates: dict[tuple[str, str], list[str]] = defaultdict(list)
    with run.nurture.store.transaction() as tx:
        for email, attributes, sent_at, template in tx.tallies.marketing_sent():
            local = sent_at.astimezone(zone((attributes or {}).get("timezone"), default_zone)).date().isoformat()
            per_lead_day[(email, local)] += 1
            templates[(email, local)].append(template)
    histogram = Counter(per_lead_day.values())
    peak = max(histogram, default=0)
    allowed = caps.get("day", 1)
    worst = sorted(per_lead_day.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))[:limit]
    result.mailing = {
        "peak_per_lead_day": peak, "allowed_per_day": allowed, "daily_cap": caps.get("day"),
        "weekly_cap": caps.get("week"), "lead_days_over": sum(n for k, n in histogram.items() if k > allowed),
        "histogram": {str(k): histogram[k] for k in sorted(histogram)},
        # the lead-days over the limit, or else one example of the peak
        "worst": [{"lead": email, "day": day, "sends": n, "templates": templates[(email, day)]}
                  for (email, day), n in worst if n > allowed] or
                 [{"lead": email, "day": day, "sends": n, "templates": templates[(email, day)]}
                  for (email, day), n in worst[:1]],
    }


def _stuck(run: VirtualRun, result: SimulationResult, now: dt.datetime, limit: int) -> None:
    """Open enrolments that have sat at one wait for more than ``stuck_days``, by journey and step."""
    _, rules = run.nurture.rules()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    with run.nurture.store.transaction() as tx:
        for row in tx.tallies.open_enrollments():
            marks = row.marks or {}
            since = max(marks.values(), default=row.entered_at.timestamp())
            waited = (now.timestamp() - since) / 86400
            if waited <= result.stuck_days:
                continue
            plan = rules.journeys.get(row.journey)
            label = None
            if row.status == "waiting":  # in the wait itself
                label = row.step
            elif marks:  # the step that ran last; a wait runs in the same instant as the steps before it
                order = {name: i for i, name in enumerate(plan.order)} if plan is not None else {}
                label = max(marks, key=lambda k: (marks[k], order.get(k, -1)))
            step = plan.program.get(label or "") if plan is not None else None
            kind = "waiting for an event" if isinstance(step, WaitEventStep) else "timed wait"
            if row.due_at is None:
                kind += ", no timeout"
            group = groups.setdefault((row.journey, label or "(start)", kind),
                                      {"journey": row.journey, "step": label or "(start)", "kind": kind,
                                       "enrollments": 0, "longest_days": 0.0, "examples": []})
            group["enrollments"] += 1
            group["longest_days"] = round(max(group["longest_days"], waited), 1)
            if len(group["examples"]) < limit:
                group["examples"].append(row.email)
    result.stuck = sorted(groups.values(), key=lambda g: (-g["enrollments"], g["journey"], g["step"]))


@dataclass(frozen=True)
class Simulation:
    """What to simulate: what `run_simulation` was given, less its progress callback, so it can go to another
    process; ``shard`` says which part of the leads this is (0 of 1: all of them)."""

    campaign_dir: Path
    template_dir: Path
    leads: int
    days: int
    seed: int
    mix: Mix
    tick_hours: float
    stuck_days: int
    start: dt.datetime
    examples: int
    workdir: Path | None
    render_sample: int | None
    shard: tuple[int, int] = (0, 1)

    def population(self) -> Population:
        """The synthetic leads: a shard's have its own companies, addresses and random sequence."""
        index, count = self.shard
        if count == 1:
            return Population(self.seed, temperaments=dict(self.mix.temperaments))
        return Population(f"{self.seed}/{index}", temperaments=dict(self.mix.temperaments),
                          companies=COMPANIES[index::count], numbering=(index, count))


def run_simulation(*, campaign_dir: Path, template_dir: Path, leads: int, days: int, seed: int = 7,
                   mix: Mix | None = None, tick_hours: float = 4.0, stuck_days: int = 14, start: dt.datetime = START,
                   progress: Callable[[int], None] = lambda n: None, examples: int = 5,
                   workdir: Path | None = None, render_sample: int | None = 20, jobs: int | None = None,
                   shard_leads: int = SHARD_LEADS) -> SimulationResult:
    """Simulate ``days`` of ``leads`` synthetic leads in a temporary store that is deleted afterwards.

    More than ``shard_leads`` leads are simulated in shards (`engine.lab.shards`), ``jobs`` processes at once
    (None: one per core). How many shards there are depends on ``leads`` alone, so the same seed gives the
    same result on any machine and with any ``jobs``."""
    if leads < 1 or days < 1:
        raise ConfigError("simulate needs at least 1 lead and 1 day")
    if tick_hours <= 0 or tick_hours > 24:
        raise ConfigError("--tick-hours must be more than 0 and at most 24")
    if jobs is not None and jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    simulation = Simulation(campaign_dir, template_dir, leads, days, seed, mix or Mix(), tick_hours, stuck_days,
                            start, examples, workdir, render_sample)
    sizes = shards.plan(leads, shard_leads)
    if len(sizes) == 1:
        return simulate_part(simulation, progress)
    return shards.run(simulation, sizes, jobs, progress)


def simulate_part(sim: Simulation, progress: Callable[[int], None]) -> SimulationResult:
    """One simulation (or one shard of one) from start to end, reporting each simulated day to ``progress``."""
    temp = Path(tempfile.mkdtemp(prefix="nurture-sim-", dir=sim.workdir))
    try:
        # who got what is kept, not the bytes (they would not fit in memory at scale)
        run = VirtualRun(sim.campaign_dir, sim.template_dir, sim.start,
                         database_url=f"sqlite:///{temp / 'simulation.db'}", transport=MemoryTransport(keep_data=False),
                         tick=dt.timedelta(hours=sim.tick_hours), seed=sim.seed, worker="simulation",
                         batch=DAEMON_BATCH, render_sample=sim.render_sample,
                         base_url="https://nurture.simulation.example", secret_key=f"simulation-{sim.seed}",
                         journey_sweep_seconds=SWEEP.total_seconds(), batch_size=5000, throwaway=True)
        _, rules = run.nurture.rules()
        result = SimulationResult(sim.leads, sim.days, sim.seed, sim.tick_hours, sim.start, sim.mix,
                                  stuck_days=sim.stuck_days, stages=list(rules.symbols.stages))
        result.notes = [f"the daemon ticks every {sim.tick_hours:g} h of simulated time, so an email due at 09:30 "
                        f"goes out at the next tick", "journey conditions that time alone makes true are swept "
                        "once a simulated day",
                        "every email is rendered in full" if sim.render_sample is None else
                        f"the first {sim.render_sample} emails of each template are rendered in full, the rest are "
                        "sent unrendered (--render-all renders every one)"]
        watch = SimulationWatch(rules)
        asyncio.run(_play(run, sim.population(), result, watch, progress))
        end = sim.start + dt.timedelta(days=sim.days)
        with run.nurture.store.transaction() as tx:
            result.events = tx.tallies.event_count()
            result.entered = entered_per_stage(tx, rules)
            watch.finish(tx.tallies.marketing_sent())
        result.invariants = watch.as_dicts(sim.start, sim.examples)
        _sends(run, result)
        _mailing(run, result, sim.examples)
        _stuck(run, result, end, sim.examples)
        run.nurture.store.dispose()
        return result
    finally:
        shutil.rmtree(temp, ignore_errors=True)
