"""Completion items: the campaign's names of the kinds expected at a place, and the keywords that fit there."""

from __future__ import annotations

from lsprotocol import types

from dsl.completion import Expected
from dsl.formatter import text_of
from dsl.navigation import Kind, step_names
from dsl.symbols import BUILTIN_EVENTS
from engine.lsp.analysis import Snapshot

_ITEM_KINDS = {
    Kind.EVENT: types.CompletionItemKind.Event,
    Kind.PROPERTY: types.CompletionItemKind.Property,
    Kind.ATTRIBUTE: types.CompletionItemKind.Field,
    Kind.SCORE: types.CompletionItemKind.Variable,
    Kind.STAGE: types.CompletionItemKind.EnumMember,
    Kind.JOURNEY: types.CompletionItemKind.Module,
    Kind.STEP: types.CompletionItemKind.Reference,
    Kind.TEMPLATE: types.CompletionItemKind.File,
}


def candidates(expected: Expected, snap: Snapshot) -> list[tuple[Kind | None, str, str]]:
    """(kind, name, detail) of everything that may be written at the place; kind None for a keyword."""
    sym = snap.symbols
    found: list[tuple[Kind | None, str, str]] = []
    kinds = expected.kinds
    if Kind.EVENT in kinds:
        found += [(Kind.EVENT, name, "built-in event" if name in BUILTIN_EVENTS else "event")
                  for name in sorted(sym.events)]
    if Kind.PROPERTY in kinds:
        props = sym.events.get(expected.scope or "", {})
        found += [(Kind.PROPERTY, name, f"{text_of(type_)} ({expected.scope})") for name, type_ in props.items()]
    if Kind.FIELD in kinds or Kind.ATTRIBUTE in kinds:
        found += [(Kind.ATTRIBUTE, name, f"attribute: {text_of(type_)}")
                  for name, type_ in sorted(sym.attributes.items())]
    if Kind.FIELD in kinds or Kind.SCORE in kinds:
        found += [(Kind.SCORE, name, f"score{': ' + score.title if score.title else ''}")
                  for name, score in sorted(sym.scores.items())]
    if Kind.STAGE in kinds:
        found += [(Kind.STAGE, name, "stage") for name in sym.stages]
    if Kind.JOURNEY in kinds:
        found += [(Kind.JOURNEY, name, "journey") for name in sorted(sym.journeys)]
    if Kind.STEP in kinds and expected.scope in sym.journeys:
        found += [(Kind.STEP, name, f"step of {expected.scope}")
                  for name in dict.fromkeys(step_names(sym.journeys[expected.scope]))]
    if Kind.TEMPLATE in kinds:
        found += [(Kind.TEMPLATE, name, "template") for name in snap.templates()]
    found += [(None, word, "keyword") for word in expected.keywords]
    return found


def completion_items(expected: Expected, snap: Snapshot, start: types.Position,
                     end: types.Position) -> list[types.CompletionItem]:
    """The items for ``expected``, each replacing the word typed so far (from ``start`` to ``end``)."""
    edit_range = types.Range(start=start, end=end)
    items = []
    for order, (kind, name, detail) in enumerate(candidates(expected, snap)):
        if not name.startswith(expected.prefix):
            continue
        item_kind = _ITEM_KINDS[kind] if kind is not None else types.CompletionItemKind.Keyword
        items.append(types.CompletionItem(
            label=name, kind=item_kind, detail=detail, sort_text=f"{order:04d}",
            text_edit=types.TextEdit(range=edit_range, new_text=name)))
    return items
