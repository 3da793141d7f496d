"""A large simulation in shards: each with its own companies, leads and random sequence, simulated in a process
of its own, with the results added up.

Leads of different companies never meet in the engine (an account is one company; caps, stages and journeys
are per lead), so shards of different companies are independent simulations and the machine's cores can run
them side by side. The one thing a shard decides alone is a split step's winner, which it judges on its own
leads; the report says so. How many shards there are depends on the number of leads alone, never on the
machine, so the same seed gives the same report everywhere.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from engine.lab.parallel import run_parts
from engine.lab.synthetic import COMPANIES

if TYPE_CHECKING:
    from engine.lab.simulate import Simulation, SimulationResult

#: the most leads one shard simulates, unless that would take more shards than there are companies
SHARD_LEADS = 5000

def plan(leads: int, shard_leads: int = SHARD_LEADS) -> list[int]:
    """The leads of each shard: as few shards as keep each within ``shard_leads``, sizes differing by one at most."""
    count = min(max(1, -(-leads // shard_leads)), len(COMPANIES))
    return [leads // count + (1 if index < leads % count else 0) for index in range(count)]


def run(simulation: Simulation, sizes: list[int], jobs: int | None,
        progress: Callable[[int], None]) -> SimulationResult:
    """Simulate each shard, ``jobs`` at a time in processes of their own (None: one per core), and add them up.
    ``progress`` hears of simulated days as the shards, on average, get through them."""
    parts = [dataclasses.replace(simulation, leads=size, shard=(index, len(sizes)))
             for index, size in enumerate(sizes)]
    done = reported = 0

    def on_days(count: int) -> None:
        nonlocal done, reported
        done += count
        if done // len(parts) > reported:
            progress(done // len(parts) - reported)
            reported = done // len(parts)

    results = run_parts(_simulate_shard, parts, jobs, on_days)
    progress(simulation.days - reported)
    return merge(results, simulation.examples)


def _simulate_shard(part: Simulation, report: Callable[[int], None]) -> SimulationResult:
    from engine.lab.simulate import simulate_part

    return simulate_part(part, report)


def merge(results: list[SimulationResult], examples: int) -> SimulationResult:
    """One result for the whole simulation from those of its shards (in shard order)."""
    from engine.lab.simulate import SimulationResult

    first = results[0]
    merged = SimulationResult(sum(r.leads for r in results), first.days, first.seed, first.tick_hours, first.start,
                              first.mix, stuck_days=first.stuck_days, stages=list(first.stages))
    merged.events = sum(r.events for r in results)
    merged.ticks = max(r.ticks for r in results)
    merged.funnel_by_day = [added(r.funnel_by_day[day] for r in results) for day in range(first.days)]
    merged.entered = added(r.entered for r in results)
    merged.sent = added(r.sent for r in results)
    for r in results:
        for step, per_day in r.sends_by_step.items():
            days = merged.sends_by_step.setdefault(step, [0] * first.days)
            merged.sends_by_step[step] = [a + b for a, b in zip(days, per_day, strict=True)]
    for r in results:
        for template, (count, error) in r.render_failures.items():
            before, first_error = merged.render_failures.get(template, (0, error))
            merged.render_failures[template] = (before + count, first_error)
    merged.mailing = _mailing([r.mailing for r in results], examples)
    merged.stuck = _stuck([r.stuck for r in results], examples)
    merged.invariants = [_invariant([r.invariants[n] for r in results], examples)
                         for n in range(len(first.invariants))]
    merged.notes = [*first.notes, f"the leads were simulated in {len(results)} shards, each with companies of its own "
                    "and in a process of its own; a split step picks its winner within each shard"]
    return merged


def added(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Counts added up key by key, keys in the order they first appear."""
    total: dict[str, int] = {}
    for part in counts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


def _mailing(parts: list[dict[str, Any]], examples: int) -> dict[str, Any]:
    """Each shard lists its lead-days over the daily limit (or else its one busiest): the whole run's are among them."""
    histogram: Counter[int] = Counter()
    for part in parts:
        histogram.update({int(sends): leads for sends, leads in part["histogram"].items()})
    allowed = parts[0]["allowed_per_day"]
    worst = sorted((w for part in parts for w in part["worst"]), key=lambda w: (-w["sends"], w["day"], w["lead"]))
    return {**parts[0], "peak_per_lead_day": max(part["peak_per_lead_day"] for part in parts),
            "lead_days_over": sum(part["lead_days_over"] for part in parts),
            "histogram": {str(k): histogram[k] for k in sorted(histogram)},
            "worst": [w for w in worst if w["sends"] > allowed][:examples] or worst[:1]}


def _stuck(parts: list[list[dict[str, Any]]], examples: int) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for part in parts:
        for group in part:
            key = (group["journey"], group["step"], group["kind"])
            into = groups.setdefault(key, {**group, "enrollments": 0, "longest_days": 0.0, "examples": []})
            into["enrollments"] += group["enrollments"]
            into["longest_days"] = max(into["longest_days"], group["longest_days"])
            into["examples"] = (into["examples"] + group["examples"])[:examples]
    return sorted(groups.values(), key=lambda g: (-g["enrollments"], g["journey"], g["step"]))


def _invariant(parts: list[dict[str, Any]], examples: int) -> dict[str, Any]:
    first = sorted((e for part in parts for e in part["examples"]), key=lambda e: (e["from"]["at"], e["lead"]))
    return {**parts[0], "holds": all(part["holds"] for part in parts),
            "leads_breaking": sum(part["leads_breaking"] for part in parts), "examples": first[:examples]}
