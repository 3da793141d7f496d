"""Simulation benchmark: simulated lead-days per second for 10,000 leads over 90 days.

Runs `nurture simulate` on the example campaign (the same code the command runs: the daemon on a
virtual clock, ticking every 4 simulated hours, in a throwaway SQLite store) and reports wall time,
lead-days per second, events and emails, and peak RSS. Target: 90 days of 10,000 leads in under
60 s. Prints the figures and writes bench/results/simulate.json.

    python bench/simulate.py [--leads N] [--days N] [--profile]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.lab.simulate import run_simulation  # noqa: E402

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the 30 costliest functions (cProfile)")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/simulate.json")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 10 == 0:
            print(f"  day {done}/{args.days}, {time.perf_counter() - started:.0f} s", file=sys.stderr)

    cpu = time.process_time()
    started = time.perf_counter()
    if profile:
        profile.enable()
    result = run_simulation(campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates", leads=args.leads,
                            days=args.days, seed=args.seed, progress=progress)
    if profile:
        profile.disable()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    data = result.as_dict()
    figures = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "leads": args.leads, "days": args.days, "seed": args.seed, "tick_hours": result.tick_hours,
        "lead_days": result.lead_days, "events": result.events, "ticks": result.ticks,
        "emails_sent": data["sent"]["marketing"] + data["sent"]["sales"],
        "reached": data["reached"],
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "lead_days_per_second": round(result.lead_days / seconds),
        "events_per_second": round(result.events / seconds),
        "target_seconds": TARGET_SECONDS, "meets_target": seconds < TARGET_SECONDS,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "notes": result.notes,
    }
    print(f"{args.leads:,} leads x {args.days} days = {result.lead_days:,} lead-days in {seconds:.1f} s "
          f"({cpu_seconds:.1f} s CPU): {figures['lead_days_per_second']:,} lead-days/s; "
          f"{result.events:,} events, {figures['emails_sent']:,} emails; peak RSS {figures['peak_rss_mb']} MB")
    print(f"target: under {TARGET_SECONDS:.0f} s -> {'met' if figures['meets_target'] else 'NOT met'}")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "simulate.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
