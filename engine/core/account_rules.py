"""Compiles a campaign's `accounts` block and account alerts into `AccountRules`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dsl import ast as a
from engine.core.accounts import FREE_MAIL, AccountRules, AlertC, Keying, Notice, RollupC, Test
from engine.core.scoring import ScoreModel


def compile_accounts(items: Iterable[a.Item], scores: dict[str, ScoreModel], test: Callable[[a.Condition], Test],
                     text: Callable[[a.Node], str]) -> AccountRules | None:
    """The account rules of a checked campaign, or None when it declares no accounts.

    ``test`` compiles a condition as stage conditions are compiled; ``text`` gives a node as written.
    """
    items = list(items)
    block = next((i for i in items if isinstance(i, a.Accounts)), None)
    if block is None:
        return None
    by = block.by
    keying = Keying(str(by.attribute) if by is not None and by.attribute is not None else None,
                    FREE_MAIL | {d.lower() for d in block.free_mail})
    rollups = []
    time_dependent = False
    for score in block.scores:
        rollup = score.rollup
        where = test(rollup.where) if rollup.where is not None else None
        rollups.append(RollupC(str(score.name), rollup.kind, str(rollup.score) if rollup.score else None, where,
                               float(rollup.active.seconds) if rollup.active is not None else None))
        read = {str(rollup.score)} if rollup.score else _names(rollup.where)
        time_dependent = time_dependent or rollup.active is not None or any(
            scores[n].decay_rate for n in read if n in scores)
    alerts = [AlertC(str(alert.name), test(alert.condition), text(alert.condition),
                     tuple(Notice(n.recipient.kind, n.recipient.address, str(n.template)) for n in alert.notifications))
              for alert in items if isinstance(alert, a.AccountAlert)]
    edges: dict[str, set[float]] = {}
    for stage in items:
        if isinstance(stage, a.Stage):
            for node in stage.walk():
                if isinstance(node, a.AccountCompare) and isinstance(node.value.value, int | float):
                    edges.setdefault(node.field, set()).add(float(node.value.value))
    return AccountRules(keying, rollups, alerts, bool(edges), time_dependent,
                        {name: frozenset(found) for name, found in edges.items()})


def _names(condition: a.Condition | None) -> set[str]:
    if condition is None:
        return set()
    return {str(n.name) for n in condition.walk() if isinstance(n, a.Compare | a.Between) and n.name is not None}
