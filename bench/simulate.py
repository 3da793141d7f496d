"""Simulation benchmark: `nurture simulate` against the target of 10,000 leads x 90 days in under 30 s.

Runs the simulation the command runs (the daemon on a virtual clock, ticking every 4 simulated hours, in a
throwaway SQLite store) and, in the same run, a baseline: the same synthetic leads and the same days of site
activity ingested through the event processor alone, with no daemon (no journeys, no email, no opens or
clicks). The ratio of the two says what the daemon's work costs on top of ingesting.

Timings are CPU seconds of this process (the store thread included) and of the shard processes a
simulation of more than 5,000 leads runs in: the machine may be shared, and CPU time moves less with
other load than wall time. The target is judged on wall time, as it is stated, with the shards running
side by side (one process per core). By default 10,000 leads run for 30 days and the figure
for 90 days is scaled by lead-days (the work is per lead-day: each day's activity, journeys and the daily
sweep of every lead; journeys fill up in the first weeks, so the scaled figure is somewhat low); --days 90
runs the target's size itself. Smaller runs scale worse: per-tick costs weigh more on fewer leads.

    python bench/simulate.py [--leads N] [--days N] [--profile] [--no-write]

Writes bench/results/simulate.json with the core count and load average.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.daemon import thread  # noqa: E402
from engine.delivery.memory import MemoryTransport  # noqa: E402
from engine.lab import shards  # noqa: E402
from engine.lab.simulate import DAEMON_BATCH, START, Mix, run_simulation  # noqa: E402
from engine.lab.synthetic import Population  # noqa: E402
from engine.lab.virtual import VirtualRun  # noqa: E402

TARGET_SECONDS = 30.0
TARGET_LEAD_DAYS = 10_000 * 90
RESULTS = ROOT / "bench" / "results" / "simulate.json"
#: the phases of a simulation: (module, function) whose cumulative time is the phase's
PHASES = {"ingest (events in: scores, stages)": ("engine/ingest/processor.py", "ingest_events"),
          "stage review in the tick": ("engine/daemon/tick.py", "_journey_phases"),
          "journeys react to changes": ("engine/daemon/journeys.py", "react"),
          "journeys daily sweep": ("engine/daemon/journeys.py", "sweep"),
          "journey steps": ("engine/daemon/journeys.py", "run_steps"),
          "sales notifications": ("engine/daemon/journeys.py", "queue_notifications"),
          "delivery": ("engine/daemon/delivery.py", "deliver")}


def cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the shards of a large simulation)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def ingest_alone(leads: int, days: int, seed: int) -> tuple[float, int]:
    """The baseline: the simulation's leads and site activity through the processor only; (CPU s, events)."""
    mix = Mix()
    with tempfile.TemporaryDirectory(prefix="nurture-bench-") as tmp:
        run = VirtualRun(ROOT / "journeys", ROOT / "templates", START, database_url=f"sqlite:///{tmp}/baseline.db",
                         transport=MemoryTransport(keep_data=False), worker="baseline", batch=DAEMON_BATCH,
                         throwaway=True, batch_size=5000)
        population = Population(seed, temperaments=dict(mix.temperaments))
        declared = set(run.processor.rules.event_types)
        started, events = cpu(), 0
        run.import_leads({"email": lead.email, **lead.attributes} for lead in population.make_leads(leads))
        for day in range(days):
            today = START + dt.timedelta(days=day)
            webinar = bool(mix.webinar_every_days) and (day + 5) % mix.webinar_every_days == 0
            rows = [r for r in population.day_of_activity(today, webinar_day=webinar)
                    if r.data is not None and r.data["type"] in declared]
            run.clock.set(today + dt.timedelta(days=1))
            events += run.processor.ingest_events(rows, "baseline events").accepted
        seconds = cpu() - started
        run.nurture.store.dispose()
    return seconds, events


@contextmanager
def store_work_inline() -> Iterator[None]:
    """For --profile only: the daemon's store work runs on the event loop's thread, where cProfile sees it."""
    original = thread.StoreThread.run

    async def inline(self: thread.StoreThread, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return work(*args, **kwargs)

    thread.StoreThread.run = inline  # type: ignore[method-assign]
    try:
        yield
    finally:
        thread.StoreThread.run = original  # type: ignore[method-assign]


def phase_shares(profile: cProfile.Profile) -> dict[str, float]:
    """Each phase's share of the profiled time (the cumulative time of its entry point)."""
    stats: Any = pstats.Stats(profile)
    cumulative = {(path, func): entry[3] for (path, _, func), entry in stats.stats.items()}
    total = max(stats.total_tt, 1e-9)

    def of(module: str, function: str) -> float:
        return sum(t for (path, func), t in cumulative.items() if path.endswith(module) and func == function)

    shares = {name: of(module, function) for name, (module, function) in PHASES.items()}
    # the tick's journey phases hold the stage review and the journey work: keep only the stage review
    journeys = sum(shares[name] for name in ("journeys react to changes", "journeys daily sweep", "journey steps",
                                             "sales notifications"))
    shares["stage review in the tick"] = max(shares["stage review in the tick"] - journeys, 0.0)
    return {name: round(seconds / total, 3) for name, seconds in shares.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30, help="30 by default, so `make bench` stays short; "
                        "90 runs the target's size itself")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="profile the simulation (slower) and print each phase's share and the costliest functions")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()

    baseline_seconds, baseline_events = ingest_alone(args.leads, args.days, args.seed)

    profile = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, as the figures
    started_cpu, started_wall = cpu(), time.perf_counter()
    if profile:
        with store_work_inline():
            # in one shard, so the profiler sees the whole simulation in this process
            result = profile.runcall(run_simulation, campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates",
                                     leads=args.leads, days=args.days, seed=args.seed, shard_leads=args.leads)
    else:
        result = run_simulation(campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates", leads=args.leads,
                                days=args.days, seed=args.seed)
    seconds, wall = cpu() - started_cpu, time.perf_counter() - started_wall
    data = result.as_dict()
    scale = TARGET_LEAD_DAYS / result.lead_days
    at_target_size = seconds * scale
    wall_at_target_size = wall * scale
    baseline_at_target_size = baseline_seconds * TARGET_LEAD_DAYS / (args.leads * args.days)
    figures = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "leads": args.leads, "days": args.days, "seed": args.seed, "tick_hours": result.tick_hours,
        "lead_days": result.lead_days, "events": result.events, "ticks": result.ticks,
        "emails_sent": data["sent"]["marketing"] + data["sent"]["sales"], "entered": data["entered"],
        "timing": "CPU seconds of this process (store thread included) and of its shard processes"
                  + ("; profiled" if profile else ""),
        "shards": 1 if profile else len(shards.plan(args.leads)),
        "cpu_seconds": round(seconds, 2), "wall_seconds": round(wall, 1),
        "lead_days_per_cpu_second": round(result.lead_days / seconds),
        "baseline": "the same leads and site activity through the event processor alone (no daemon)",
        "baseline_cpu_seconds": round(baseline_seconds, 2), "baseline_events": baseline_events,
        "ratio_to_baseline": round(seconds / baseline_seconds, 2),
        "cpu_seconds_10000_x_90": round(at_target_size, 1),
        "wall_seconds_10000_x_90": round(wall_at_target_size, 1),
        "scaled": scale != 1,
        "baseline_cpu_seconds_10000_x_90": round(baseline_at_target_size, 1),
        "target_seconds": TARGET_SECONDS,
        "ratio_to_target": round(wall_at_target_size / TARGET_SECONDS, 2),
        "meets_target": wall_at_target_size < TARGET_SECONDS,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "notes": result.notes,
    }
    if profile:
        figures["phase_shares"] = phase_shares(profile)
    print(f"{args.leads:,} leads x {args.days} days = {result.lead_days:,} lead-days: {seconds:.1f} CPU s "
          f"({wall:.0f} s wall); {result.events:,} events, {figures['emails_sent']:,} emails")
    print(f"baseline, same run (the same activity through the processor alone): {baseline_seconds:.1f} CPU s; "
          f"simulation / baseline = {figures['ratio_to_baseline']:.2f}")
    print(f"10,000 leads x 90 days{' (scaled by lead-days)' if scale != 1 else ''}: {wall_at_target_size:.0f} s "
          f"wall in {figures['shards']} shard(s), {at_target_size:.0f} CPU s, baseline {baseline_at_target_size:.0f} "
          f"CPU s; target {TARGET_SECONDS:.0f} s -> ratio {figures['ratio_to_target']:.2f}, "
          f"{'met' if figures['meets_target'] else 'NOT met'}")
    print(f"{figures['cpus']} cores, load average {figures['load_average']}")
    if profile:
        for name, share in figures["phase_shares"].items():
            print(f"  {name:38} {share:6.1%}")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
