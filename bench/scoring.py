"""Scoring benchmark: the compiled per-event rules against columnar scoring with numpy, on the same events.

The example campaign's score models score a synthetic history (the simulation's leads and site activity,
with an open and a click for some of them). The project's way is the one ingest uses: each event, in time
order per lead, goes through the compiled rules of its type (filter, units, rolling cap) into the lead's
decayed sums. The columnar way takes the whole history as arrays: one mask per rule (its type, and its
filter over the props), points times units, decay to the end in one `exp`, and a sum per lead with
`bincount`.

A rolling cap (`max 20 per 7 days`) cannot be a mask: what an event earns depends on what the lead's earlier
events in the window earned, in order. So the two are compared with every rule's cap taken off, where both
do the same work and must reach the same decayed sums (checked), and the project's time with the caps is
printed beside them. CPU
seconds, best of --rounds; writes bench/results/scoring.json with the core count and load average.

    python bench/scoring.py [--leads N] [--days N] [--rounds R]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl.campaign import load_campaign  # noqa: E402
from engine.core.clock import epoch  # noqa: E402
from engine.core.rules import Rules, compile_rules  # noqa: E402
from engine.core.scoring import MAX_AWARD, EventRuleC, LeadState, ScoreModel  # noqa: E402
from engine.lab.simulate import START  # noqa: E402
from engine.lab.synthetic import Population  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scoring.json"

#: one event: (lead index, type, epoch seconds, props)
Event = tuple[int, str, float, dict[str, Any]]


def history(leads: int, days: int) -> list[Event]:
    """The simulation's synthetic activity, plus an open (and for some a click) a day for a third of the leads."""
    population = Population(7)
    made = population.make_leads(leads)
    index = {lead.email: n for n, lead in enumerate(made)}
    events: list[Event] = []
    for day in range(days):
        today = START + dt.timedelta(days=day)
        for row in population.day_of_activity(today, webinar_day=day % 14 == 9):
            data = row.data or {}
            events.append((index[data["lead"]], data["type"], epoch(dt.datetime.fromisoformat(data["at"])),
                           data["props"]))
        for n in range(day % 3, leads, 3):
            at = epoch(today + dt.timedelta(hours=10))
            events.append((n, "email.opened", at, {"prefetched": False}))
            if n % 4 == 0:
                events.append((n, "email.clicked", at + 60, {"url": "https://acme-analytics.example/customers"}))
    events.sort(key=lambda e: (e[2], e[0]))
    return events


def without_cap(rule: EventRuleC) -> EventRuleC:
    return dataclasses.replace(rule, cap=None, cap_window=None)


def per_event(rules: Rules, events: list[Event], leads: int, caps: bool, end: float) -> dict[str, list[float]]:
    """The project's way: each event through its type's compiled rules; raw event points per lead at ``end``."""
    states = [LeadState() for _ in range(leads)]
    by_event = {etype: [(m, r if caps else without_cap(r)) for m, r in pairs]
                for etype, pairs in rules.by_event.items()}
    for lead, etype, at, props in events:
        state = states[lead]
        for model, rule in by_event.get(etype, ()):
            if rule.filter is not None and not rule.filter(props):
                continue
            state.award(model, rule, at, rule.units(props))
    return {name: [state.event_points(model, end) for state in states] for name, model in rules.scores.items()}


def columnar(rules: Rules, events: list[Event], leads: int, end: float) -> dict[str, list[float]]:
    """The same without caps, with numpy: a mask per rule, points times units, decay to ``end`` and a sum per
    lead at once."""
    lead = np.fromiter((e[0] for e in events), dtype=np.int64, count=len(events))
    at = np.fromiter((e[2] for e in events), dtype=np.float64, count=len(events))
    types = np.array([e[1] for e in events])
    out: dict[str, list[float]] = {}
    for name, model in rules.scores.items():
        total = np.zeros(leads)
        for rule in model.event_rules:
            chosen = np.flatnonzero(types == rule.event)
            props = [events[i][3] for i in chosen]
            units = np.fromiter((rule.units(p) if rule.filter is None or rule.filter(p) else 0.0 for p in props),
                                dtype=np.float64, count=len(props))
            points = np.clip(rule.points * units, -MAX_AWARD, MAX_AWARD)
            if model.decay_rate:
                points = points * np.exp(-model.decay_rate * (end - at[chosen]))
            total += np.bincount(lead[chosen], weights=points, minlength=leads)
        out[name] = total.tolist()
    return out


def best(rounds: int, work: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.process_time()
        result = work()
        times.append(time.process_time() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    campaign = load_campaign([ROOT / "journeys"], ROOT / "templates")
    rules = compile_rules(campaign)
    events = history(args.leads, args.days)
    end = max(e[2] for e in events)
    models: dict[str, ScoreModel] = rules.scores
    every_rule, _ = best(args.rounds, lambda: per_event(rules, events, args.leads, True, end))
    project, expected = best(args.rounds, lambda: per_event(rules, events, args.leads, False, end))
    numpy_seconds, got = best(args.rounds, lambda: columnar(rules, events, args.leads, end))
    worst = max((abs(a - b) for name in models for a, b in zip(expected[name], got[name], strict=True)),
                default=0.0)
    if worst > 1e-6:
        raise SystemExit(f"the two ways disagree by up to {worst} points: the comparison would mean nothing")
    capped = sum(1 for m in models.values() for r in m.event_rules if r.cap is not None)
    rules_count = sum(len(m.event_rules) for m in models.values())
    figures = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "leads": args.leads, "days": args.days,
        "events": len(events), "rules": rules_count, "capped_rules": capped,
        "project_every_rule_cpu_seconds": round(every_rule, 3),
        "project_no_caps_cpu_seconds": round(project, 3), "numpy_no_caps_cpu_seconds": round(numpy_seconds, 3),
        "ratio_numpy_to_project": round(numpy_seconds / project, 3),
        "events_per_cpu_second": {"project_every_rule": round(len(events) / every_rule),
                                  "project_no_caps": round(len(events) / project),
                                  "numpy_no_caps": round(len(events) / numpy_seconds)},
        "largest_difference_points": worst,
        "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"{len(events):,} events of {args.leads:,} leads over {args.days} days; {rules_count} event rules, "
          f"{capped} with a rolling cap")
    print(f"compiled rules, per event, every rule:   {every_rule:.3f} CPU s "
          f"({figures['events_per_cpu_second']['project_every_rule']:,} events/s, "
          f"{1e6 * every_rule / len(events):.1f} µs an event)")
    print(f"compiled rules, per event, no caps:      {project:.3f} CPU s")
    print(f"numpy, columnar, no caps (same sums):    {numpy_seconds:.3f} CPU s -> numpy / compiled = "
          f"{figures['ratio_numpy_to_project']:.2f}")
    print(f"capped rules cannot be columns: what an event earns depends on the lead's earlier events in the window; "
          f"{capped} of {rules_count} rules have a cap")
    print(f"{figures['cpus']} cores, load average {figures['load_average']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
