"""Semantic checks over a whole campaign: names, types, values, templates and logic, all reported at once.

The checks live in the ``check_*`` modules, one concern each; this module walks the campaign and
runs them in a fixed order, so the same campaign always gives the same diagnostics in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from . import ast as a
from .check_accounts import check_accounts
from .check_context import Context
from .check_journeys import check_journey
from .check_names import declare_event, declare_lead_field, declare_setting
from .check_scenarios import check_invariant, check_scenario
from .check_scores import check_score, check_score_cycles, check_unused_scores
from .check_sla import check_slas
from .check_stages import check_reachability, check_stage, reachable_stages
from .check_templates import check_templates
from .check_topics import check_journey_topics, check_scenario_topics, check_topics, check_unsubscribe_leaves
from .check_types import check_given, check_literals, check_placeholders, check_setting
from .diagnostics import Diagnostic
from .logic import Logic, score_bounds
from .symbols import collect
from .templates import TemplateLibrary
from .values import impossible_date


def check_files(files: Sequence[a.File], template_dir: Path) -> list[Diagnostic]:
    """Every problem in a campaign's parsed files, in the order found (the caller sorts)."""
    ctx = _context(files)
    account_reads: list[tuple[a.Item, list[a.AccountCompare]]] = []
    for file in files:
        for item in file.items:
            _check_item(ctx, item)
            nodes = item.by_class()  # one walk for the checks that look anywhere in the item
            check_literals(ctx, nodes)
            reads = [node for node in nodes.get(a.AccountCompare, ()) if isinstance(node, a.AccountCompare)]
            account_reads.append((item, reads))
    # Campaign-wide checks, once every file's declarations and uses are known.
    check_slas(ctx, files)  # follow-up deadlines and the settings they read
    check_score_cycles(ctx)
    check_reachability(ctx)
    check_accounts(ctx, account_reads)
    check_templates(ctx, TemplateLibrary(template_dir))
    check_unused_scores(ctx)
    return ctx.diagnostics


def _context(files: Sequence[a.File]) -> Context:
    sym = collect(files)
    bounds = {name: score_bounds(score) for name, score in sym.scores.items()}
    scopes: dict[str | None, Mapping[str, a.TypeRef]] = {None: sym.attributes}
    scopes.update(sym.events)
    logic = Logic(scopes, bounds)
    return Context(sym, logic, reachable_stages(sym, logic))


def _check_item(ctx: Context, item: a.Item) -> None:
    match item:
        case a.Settings():
            for setting in item.items:
                if isinstance(setting, a.UnsubscribeLeaves):  # subscription topics
                    check_unsubscribe_leaves(ctx, setting)
                    continue
                if isinstance(setting, a.BusinessHours | a.OwnerTimezone):  # checked in check_slas
                    continue
                declare_setting(ctx, setting)
                check_setting(ctx, setting)
        case a.Attributes():
            for decl in item.decls:
                declare_lead_field(ctx, "attribute", decl.name)
                # an impossible date is reported by `check_literals` alone
                if decl.default is not None and not impossible_date(decl.default):
                    check_given(ctx, decl.name, decl.type, decl.default, "default")
                check_placeholders(ctx, decl)
        case a.Events():
            for event in item.decls:
                declare_event(ctx, event)
        case a.Score():
            check_score(ctx, item)
        case a.Stage():
            check_stage(ctx, item)
        case a.Journey():
            check_journey(ctx, item)
            check_journey_topics(ctx, item)
        case a.Scenario():
            check_scenario(ctx, item)
            check_scenario_topics(ctx, item)
        case a.Topics():
            check_topics(ctx, item)
        case a.Invariant():
            check_invariant(ctx, item)
