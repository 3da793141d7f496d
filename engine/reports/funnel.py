"""The funnel: conversion between consecutive stages, broken down by any declared attribute (its default
standing in for a missing value) and by week or month cohort; leads that skipped a stage are counted as
such, never as having reached it; mean and median time between stages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.core.rules import Rules
    from engine.store import Tx
    from engine.store.insights import FunnelGroup

COHORTS = ("month", "week")


class ReportError(EngineError):
    """A report asked for something the campaign does not have."""


def check_breakdown(rules: Rules, by: str | None, cohort: str | None) -> None:
    """A clear error for an attribute the campaign does not declare, or a cohort other than month and week."""
    if by is not None and by not in rules.symbols.attributes:
        known = ", ".join(sorted(rules.symbols.attributes))
        raise ReportError(f"--by {by!r}: the campaign declares no attribute of that name; choose one of {known}")
    if cohort is not None and cohort not in COHORTS:
        raise ReportError(f"--cohort {cohort!r}: choose month or week")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _group(ladder: list[str], group: FunnelGroup) -> dict[str, Any]:
    stages = []
    for i, stage in enumerate(ladder):
        stages.append({"stage": stage, "entered": group.entered[i], "skipped": group.skipped[i],
                       "beyond": group.beyond[i]})
    conversion = []
    for i in range(len(ladder) - 1):
        # of the leads that entered this stage, the share that also entered the next one; leads that went
        # further without entering the next one are counted as having skipped it
        base, both = group.entered[i], group.onward[i]
        conversion.append({"from": ladder[i], "to": ladder[i + 1], "entered": base, "converted": both,
                           "rate": _rate(both, base)})
    return {"leads": group.leads, "stages": stages, "conversion": conversion}


def funnel_report(tx: Tx, rules: Rules, by: str | None = None, cohort: str | None = None, *,
                  durations: bool = True) -> dict[str, Any]:
    """The whole funnel, plus one funnel per attribute value and/or cohort when asked for (and without
    ``durations``, no time between stages: the overview leaves them out)."""
    check_breakdown(rules, by, cohort)
    ladder = list(rules.symbols.stages)
    overall = tx.insights.funnel(ladder)
    report: dict[str, Any] = {"ladder": ladder, "by": by, "cohort": cohort,
                              "overall": _group(ladder, overall[0]) if overall else None,
                              "current": tx.tallies.leads_per_stage(),
                              "durations": [{"from": d.from_stage, "to": d.to_stage, "leads": d.leads,
                                             "mean_days": _days(d.mean_seconds), "median_days": _days(d.median_seconds)}
                                            for d in (tx.insights.durations(ladder) if durations else [])],
                              "groups": []}
    if by is not None or cohort is not None:
        attribute = (by, rules.symbols.defaults.get(by)) if by is not None else None
        for group in tx.insights.funnel(ladder, attribute, cohort):
            names = ([("attribute", by)] if by is not None else []) + ([("cohort", cohort)] if cohort else [])
            report["groups"].append({"key": {name: value for (name, _), value in zip(names, group.key, strict=True)},
                                     "label": " / ".join(group.key), **_group(ladder, group)})
    return report


def entered_per_stage(tx: Tx, rules: Rules) -> dict[str, int]:
    """Leads that ever entered each stage (every lead entered the first); a skipped stage is not counted."""
    ladder = list(rules.symbols.stages)
    overall = tx.insights.funnel(ladder)
    return {stage: overall[0].entered[i] if overall else 0 for i, stage in enumerate(ladder)}


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 86400, 2)


def best_converting(report: dict[str, Any], to_stage: str) -> dict[str, Any] | None:
    """The group whose leads most often reached ``to_stage`` (entered it or went beyond it), among groups
    of at least 10 leads; what "which lead source converts best" asks."""
    ladder = report["ladder"]
    if to_stage not in ladder:
        return None
    i = ladder.index(to_stage)
    best = None
    for group in report["groups"]:
        stage = group["stages"][i]
        reached = stage["entered"] + stage["skipped"]
        rate = reached / group["leads"] if group["leads"] >= 10 else -1
        if best is None or rate > best[0]:
            best = (rate, group)
    return None if best is None or best[0] < 0 else {**best[1], "reached_rate": round(best[0], 4)}
