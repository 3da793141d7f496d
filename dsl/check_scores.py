"""Scores: rules worth something, scores that depend on themselves, and scores nothing reads."""

from __future__ import annotations

from . import ast as a
from .check_conditions import Place, check_condition, check_event_ref
from .check_context import Context
from .check_names import declare, declare_lead_field
from .check_types import check_points


def check_score(ctx: Context, score: a.Score) -> None:
    declare_lead_field(ctx, "score", score.name)
    place = Place(score=str(score.name))
    for item in score.items:
        match item:
            case a.AttributeRule(points=points, condition=cond):
                check_points(ctx, points, item.span)
                check_condition(ctx, cond, place)
            case a.EventRule(points=points, event=event):
                check_points(ctx, points, item.span)
                check_event_ref(ctx, event, place)
            case a.Decay() | a.Floor():
                kind = "decay" if isinstance(item, a.Decay) else "floor"
                declare(ctx, "setting", kind, item.span, ("score setting", score.name))


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
