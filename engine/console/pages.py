"""The reading pages: overview, funnel, journeys, campaign versions and their diff, health."""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from engine.console.web import Refused, ctx_of, page, signed_in
from engine.reports.emails import email_report
from engine.reports.funnel import COHORTS, ReportError, best_converting, funnel_report
from engine.reports.health import health_report
from engine.reports.journeys import journey_list, journey_report

router = APIRouter(include_in_schema=False)


def _target(ladder: list[str]) -> str:
    return "sql" if "sql" in ladder else ladder[-1]


@router.get("/")
def overview(request: Request) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    version_id, rules = ctx.rules()
    now = ctx.clock.now()
    with ctx.store.transaction() as tx:
        funnel = funnel_report(tx, rules, durations=False)
        health = health_report(tx, now)
    return page(request, who, "overview.html", funnel=funnel, health=health, version_id=version_id)


@router.get("/funnel")
def funnel(request: Request, by: str = "", cohort: str = "", to: str = "") -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    _, rules = ctx.rules()
    error = None
    try:
        with ctx.store.transaction() as tx:
            report = funnel_report(tx, rules, by or None, cohort or None)
    except ReportError as err:
        error = str(err)
        with ctx.store.transaction() as tx:
            report = funnel_report(tx, rules)
    target = to if to in report["ladder"] else _target(report["ladder"])
    best = best_converting(report, target) if report["groups"] else None
    return page(request, who, "funnel.html", report=report, attributes=sorted(rules.symbols.attributes),
                cohorts=COHORTS, by=by, cohort=cohort, target=target, best=best, error=error)


@router.get("/journeys")
def journeys(request: Request) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    _, rules = ctx.rules()
    with ctx.store.transaction() as tx:
        found = journey_list(tx, rules)
        emails = email_report(tx)
    return page(request, who, "journeys.html", journeys=found, emails=emails)


@router.get("/journeys/{name}")
def journey(request: Request, name: str) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    _, rules = ctx.rules()
    if name not in rules.symbols.journeys:
        raise Refused(404, f"the applied campaign has no journey {name!r}")
    with ctx.store.transaction() as tx:
        report = journey_report(tx, rules, name)
    return page(request, who, "journey.html", j=report)


@router.get("/campaign")
def campaign(request: Request, a: int | None = None, b: int | None = None) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    applied, _ = ctx.rules()
    with ctx.store.transaction() as tx:
        versions = tx.insights.versions()
        ids = {v.id for v in versions}
        diff = None
        if a is not None and b is not None:
            if a not in ids or b not in ids:
                raise Refused(404, f"no campaign version {a if a not in ids else b}; pick two from the list")
            diff = _diff(tx.reports.campaign_files(a), tx.reports.campaign_files(b), a, b)
        scenarios = tx.meta.scenario_results(applied)
    return page(request, who, "campaign.html", versions=versions, applied=applied, diff=diff, a=a, b=b,
                scenarios=scenarios)


def _diff(old: dict[str, str], new: dict[str, str], a: int, b: int) -> list[dict[str, Any]]:
    """Per changed file, the unified diff lines from version ``a`` to ``b``."""
    changed = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path, ""), new.get(path, "")
        if before == after:
            continue
        lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), f"v{a}/{path}", f"v{b}/{path}",
                                          lineterm=""))
        changed.append({"path": path, "lines": lines})
    return changed


@router.get("/health")
def health(request: Request) -> Response:
    who = signed_in(request)
    ctx = ctx_of(request)
    with ctx.store.transaction() as tx:
        report = health_report(tx, ctx.clock.now())
    return page(request, who, "health.html", health=report)
