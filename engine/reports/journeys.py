"""Each journey as a readable diagram of its steps, drawn from the campaign's AST (the same text the
formatter prints), with per-step counts from the store: entered, waiting now, exited, goal reached; and for
each send, how its email does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsl import ast as a
from dsl.formatter.expressions import text_of
from dsl.symbols import step_labels
from engine.reports.emails import email_report

if TYPE_CHECKING:
    from engine.core.rules import Rules
    from engine.store import Tx


def _text(node: a.Node) -> str:
    if isinstance(node, a.StageBecomes):
        return f"stage becomes {node.stage}"
    try:
        return text_of(node)
    except TypeError:
        return type(node).__name__.lower()


def diagram(journey: a.Journey) -> list[dict[str, Any]]:
    """The steps in source order as rows of a diagram: depth (nesting in branches), label, kind and text;
    a branch is followed by its `then` rows, an `else` row and its `otherwise` rows."""
    labels = step_labels(journey.steps)
    rows: list[dict[str, Any]] = []

    def walk(steps: tuple[a.Step, ...], depth: int) -> None:
        for step in steps:
            label = labels[id(step)]
            action = step.action
            if isinstance(action, a.Branch):
                rows.append({"depth": depth, "label": label, "kind": "branch", "text": f"if {_text(action.condition)}"})
                walk(action.then, depth + 1)
                if action.otherwise:
                    rows.append({"depth": depth, "label": None, "kind": "else", "text": "else"})
                    walk(action.otherwise, depth + 1)
            elif isinstance(action, a.Split):  # an A/B experiment: a row for the split, then each arm's
                rows.append({"depth": depth, "label": label, "kind": "split", "text": _text(action)})
                for arm in action.arms:
                    rows.append({"depth": depth, "label": None, "kind": "arm", "text": f"{arm.weight}% {arm.name}"})
                    walk(arm.steps, depth + 1)
            else:
                kind = type(action).__name__.lower()
                rows.append({"depth": depth, "label": label, "kind": kind, "text": _text(action),
                             "template": str(action.template) if isinstance(action, a.Send) else None})

    walk(journey.steps, 0)
    return rows


def triggers(journey: a.Journey) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"enter": [], "exit": [], "goal": []}
    for item in journey.items:
        if isinstance(item, a.Entry):
            found["enter"].append(_text(item.trigger))
        elif isinstance(item, a.ExitRule):
            found["exit"].append(_text(item.trigger))
        elif isinstance(item, a.Goal):
            found["goal"].append(_text(item.trigger))
    return found


def journey_report(tx: Tx, rules: Rules, name: str) -> dict[str, Any]:
    """One journey: its triggers, its diagram with each step's counts, and each send's email figures."""
    node = rules.symbols.journeys[name]
    rows = diagram(node)
    labels = [row["label"] for row in rows if row["label"] is not None]
    counts = tx.insights.journey_steps(name, labels)
    by_label = {c.label: c._asdict() for c in counts["steps"]}
    emails = email_report(tx, name)
    by_step = {send["step"]: send for send in emails["sends"]}
    for row in rows:
        if row["label"] is not None:
            row["counts"] = by_label.get(row["label"])
            row["email"] = by_step.get(row["label"])
    return {"name": name, "title": node.title, "triggers": triggers(node), "rows": rows,
            "enrolled": counts["enrolled"], "open": counts["open"], "exited": counts["exited"], "goal": counts["goal"],
            "sends": emails["sends"], "loses_most_readers": emails["loses_most_readers"]}


def journey_list(tx: Tx, rules: Rules) -> list[dict[str, Any]]:
    """Every journey of the applied version with its enrolment totals."""
    found = []
    for name, node in rules.symbols.journeys.items():
        counts = tx.insights.journey_steps(name, [])
        found.append({"name": name, "title": node.title, "enrolled": counts["enrolled"], "open": counts["open"],
                      "exited": counts["exited"], "goal": counts["goal"]})
    return found
