"""Scores: rules worth something, scores that depend on themselves, and scores nothing reads."""

from __future__ import annotations

from . import ast as a
from .check_conditions import Place, check_condition, check_event_ref
from .check_context import Context
from .check_names import declare, declare_lead_field, property_type
from .check_types import check_points
from .values import show_type


def check_score(ctx: Context, score: a.Score) -> None:
    declare_lead_field(ctx, "score", score.name)
    place = Place(score=str(score.name))
    for item in score.items:
        match item:
            case a.AttributeRule(points=points, condition=cond):
                check_points(ctx, points, item.span)
                check_condition(ctx, cond, place)
            case a.EventRule(points=points, event=event, per=per):
                check_points(ctx, points, item.span)
                check_event_ref(ctx, event, place)
                if per is not None:
                    _per_unit(ctx, per, event)
            case a.Decay() | a.Floor():
                kind = "decay" if isinstance(item, a.Decay) else "floor"
                declare(ctx, "setting", kind, item.span, ("score setting", score.name))


def _per_unit(ctx: Context, per: a.PerUnit, event: a.EventRef) -> None:
    """Points per unit count a number property of the event (E312), in steps of at least 1 (E304)."""
    if per.amount == 0:
        ctx.report("E304", per.span, what="unit", reason="`per 0` divides by nothing", label="0",
                   help=f"count whole units of at least 1, like `per 10 {per.prop} of`")
    if event.event not in ctx.sym.events:
        return  # reported where the event is named
    t = property_type(ctx, per.prop, event.event)
    if t is not None and (t.is_list or t.name != "number"):
        ctx.report("E312", per.prop.span, name=per.prop, event=event.event, type=show_type(t),
                   label="not a number", help=f"count a number property of `{event.event}`, or score each event "
                                              f"with `per {event.event}`")


def check_score_cycles(ctx: Context) -> None:
    """A score whose rules read, directly or through other scores, the score itself (E408)."""
    for name, score in ctx.sym.scores.items():
        path = _cycle(ctx.score_reads, name)
        if path:
            via = " -> ".join(f"`{p}`" for p in path)
            ctx.report("E408", score.name.span, name=name, label=f"its rules read {via}",
                       help="base a score on attributes and events, not on itself")


def _cycle(reads: dict[str, list[str]], start: str) -> list[str] | None:
    """Scores read by ``start``'s rules, as the shortest chain that leads back to ``start``."""
    queue: list[list[str]] = [[start]]
    seen: set[str] = set()
    while queue:
        path = queue.pop(0)
        for ref in reads.get(path[-1], []):
            if ref == start:
                return [*path, start]
            if ref not in seen:
                seen.add(ref)
                queue.append([*path, ref])
    return None


def check_unused_scores(ctx: Context) -> None:
    for name, score in ctx.sym.scores.items():
        if not ctx.score_uses[name]:
            ctx.report("W103", score.name.span, name=name, label="not used anywhere",
                       help=f"use it in a stage or journey condition, like `when {name} >= 20`, or delete it")
