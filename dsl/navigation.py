"""Names in a parsed campaign by place: what a name at a line and column refers to, and where it is declared.

Editors ask these questions (hover, go to definition); the answers come from the AST alone, so they hold for
any file that parses. Every name is one of the kinds below; a field in a condition is an attribute or a score.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from . import ast as a
from .source import Span
from .symbols import step_labels


class Kind(StrEnum):
    EVENT = "event"
    PROPERTY = "property"
    #: an attribute or a score, as a condition or an expectation names it
    FIELD = "field"
    ATTRIBUTE = "attribute"
    SCORE = "score"
    STAGE = "stage"
    JOURNEY = "journey"
    STEP = "step"
    TEMPLATE = "template"


@dataclass(frozen=True, slots=True)
class Reference:
    """A name written in a file: what kind of thing it names, and the scope it is looked up in."""

    kind: Kind
    name: str
    span: Span
    #: the name is declared here (an event in `events`, a score's own name, a step's label, ...)
    declaration: bool = False
    #: the event a property belongs to, the journey a step belongs to
    scope: str | None = None

    @property
    def key(self) -> tuple[Kind, str | None, str]:
        return self.kind, self.scope, self.name


# (node type, field) -> the kind of the name in that field; the declarations are listed in _DECLARES
_KINDS: dict[tuple[type, str], Kind] = {
    (a.EventDecl, "name"): Kind.EVENT,
    (a.PropDecl, "name"): Kind.PROPERTY,
    (a.AttributeDecl, "name"): Kind.ATTRIBUTE,
    (a.Score, "name"): Kind.SCORE,
    (a.Stage, "name"): Kind.STAGE,
    (a.Journey, "name"): Kind.JOURNEY,
    (a.Step, "label"): Kind.STEP,
    (a.EventRef, "event"): Kind.EVENT,
    (a.ScenarioEvent, "event"): Kind.EVENT,
    (a.StageIs, "stage"): Kind.STAGE,
    (a.StageBecomes, "stage"): Kind.STAGE,
    (a.Demote, "target"): Kind.STAGE,
    (a.ExpectStage, "stage"): Kind.STAGE,
    (a.Send, "template"): Kind.TEMPLATE,
    (a.Notify, "template"): Kind.TEMPLATE,
    (a.NotifyAction, "template"): Kind.TEMPLATE,
    (a.ExpectEmail, "template"): Kind.TEMPLATE,
    (a.ExpectEmail, "journey"): Kind.JOURNEY,
    (a.ExpectEmail, "step"): Kind.STEP,
    (a.ExpectJourney, "journey"): Kind.JOURNEY,
    (a.Happened, "since"): Kind.STEP,
    (a.SetAttribute, "name"): Kind.ATTRIBUTE,
    (a.ExpectValue, "name"): Kind.FIELD,
    (a.ExpectBetween, "name"): Kind.FIELD,
    # follow-ups name an event and a stage; `sla <stage>` expectations a stage
    (a.FollowUp, "event"): Kind.EVENT,
    (a.BackTo, "target"): Kind.STAGE,
    (a.ExpectSla, "stage"): Kind.STAGE,
    (a.AccountBy, "attribute"): Kind.ATTRIBUTE,
    (a.Rollup, "score"): Kind.SCORE,
}
_DECLARES = {(a.EventDecl, "name"), (a.PropDecl, "name"), (a.AttributeDecl, "name"), (a.Score, "name"),
             (a.Stage, "name"), (a.Journey, "name"), (a.Step, "label")}


@dataclass(frozen=True, slots=True)
class _Scope:
    journey: str | None = None
    #: the event whose properties a name in this place refers to
    event: str | None = None
    #: names here are a scenario lead's attributes
    lead: bool = False
    #: inside a condition, where a plain name is an attribute or a score (or a property, in a filter)
    condition: bool = False


def references(file: a.File) -> list[Reference]:
    """Every name written in ``file`` with its kind, in source order."""
    found = list(_walk(file, _Scope()))
    found.sort(key=lambda r: (r.span.line, r.span.column))
    return found


def _walk(node: a.Node, scope: _Scope) -> Iterator[Reference]:
    scope = _enter(node, scope)
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, a.Name):
            ref = _classify(node, f.name, value, scope)
            if ref is not None:
                yield ref
        elif isinstance(value, a.Node):
            yield from _walk(value, _inner(node, f.name, scope))
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, a.Node):
                    yield from _walk(item, _inner(node, f.name, scope))


def _enter(node: a.Node, scope: _Scope) -> _Scope:
    match node:
        case a.Journey(name=name):
            return _Scope(journey=str(name))
        case a.EventDecl(name=name) | a.ScenarioEvent(event=name):
            return _Scope(scope.journey, event=str(name))
        case a.ScenarioLead():
            return _Scope(scope.journey, lead=True)
        case a.Condition() if not scope.condition:
            return replace(scope, condition=True)
    return scope


def _inner(node: a.Node, field: str, scope: _Scope) -> _Scope:
    """The scope of a child: an event reference's filter names that event's properties."""
    if isinstance(node, a.EventRef) and field == "where":
        return _Scope(scope.journey, event=str(node.event))
    if isinstance(node, a.EventRef):
        return _Scope(scope.journey, condition=scope.condition)
    return scope


def _classify(node: a.Node, field: str, name: a.Name, scope: _Scope) -> Reference | None:
    if isinstance(node, a.AccountCompare | a.ExpectAccountValue):
        return None  # an account value, declared in the `accounts` block, not a lead's attribute or score
    kind = _KINDS.get((type(node), field))
    if kind is None and scope.condition and field == "name":  # comparisons, text tests, sums, ...
        kind = Kind.PROPERTY if scope.event is not None else Kind.FIELD
    if kind is None and isinstance(node, a.Assignment) and field == "name":
        kind = Kind.ATTRIBUTE if scope.lead else Kind.PROPERTY if scope.event is not None else None
    if kind is None:
        return None
    where: str | None = None
    if kind is Kind.PROPERTY:
        where = scope.event
    elif kind is Kind.STEP:
        where = str(node.journey) if isinstance(node, a.ExpectEmail) and node.journey else scope.journey
    return Reference(kind, str(name), name.span, (type(node), field) in _DECLARES, where)


def reference_at(file: a.File, line: int, column: int) -> Reference | None:
    """The name at 1-based ``line`` and ``column`` (or just after its last character), or None."""
    best: Reference | None = None
    for ref in references(file):
        span = ref.span
        if (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column):
            best = ref  # a later (inner) name wins a tie at a shared edge
    return best


def declarations(files: Sequence[a.File]) -> dict[tuple[Kind, str | None, str], Span]:
    """Where each name is declared, by (kind, scope, name); the first declaration wins, as in the checker.

    Steps without a label are declared under their derived label (`send_welcome`), at the step itself.
    """
    found: dict[tuple[Kind, str | None, str], Span] = {}
    for file in files:
        for ref in references(file):
            if ref.declaration:
                found.setdefault(ref.key, ref.span)
        for item in file.items:
            if isinstance(item, a.Journey):
                for step, label in _labelled_steps(item):
                    found.setdefault((Kind.STEP, str(item.name), label), step.label.span if step.label else step.span)
    return found


def _labelled_steps(journey: a.Journey) -> Iterator[tuple[a.Step, str]]:
    labels = step_labels(journey.steps)

    def visit(steps: Sequence[a.Step]) -> Iterator[tuple[a.Step, str]]:
        for step in steps:
            yield step, labels[id(step)]
            yield from visit(a.inner_steps(step.action))  # a branch's sides, a split's arms

    yield from visit(journey.steps)


def step_names(journey: a.Journey) -> list[str]:
    """Every step label of a journey, written or derived, in order."""
    return [label for _, label in _labelled_steps(journey)]


def definition(ref: Reference, declared: dict[tuple[Kind, str | None, str], Span]) -> Span | None:
    """Where the name ``ref`` refers to is declared, or None (built-in names, templates, unknown names)."""
    if ref.kind is Kind.FIELD:
        return declared.get((Kind.ATTRIBUTE, None, ref.name)) or declared.get((Kind.SCORE, None, ref.name))
    return declared.get(ref.key)
