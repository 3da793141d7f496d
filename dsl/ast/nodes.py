"""The roots of the tree: names that remember where they were written, the node base class, and the file."""

from __future__ import annotations

import functools
import sys
import types
import typing
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..source import UNKNOWN, Span


class Name(str):
    """An identifier or quoted reference that remembers where it was written."""

    span: Span

    def __new__(cls, text: str, span: Span = UNKNOWN) -> Name:
        obj = super().__new__(cls, text)
        obj.span = span
        return obj

    def __reduce__(self):  # keep the span when pickled (parallel checks, caches)
        return (Name, (str(self), self.span))


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every node; never instantiated itself."""

    # Keyword-only, so subclasses may declare fields without defaults after it; written as a plain
    # `field(...)` so type checkers see the same constructor signature as the runtime.
    span: Span = field(default=UNKNOWN, compare=False, repr=False, kw_only=True)

    def children(self) -> Iterator[Node]:
        """Direct child nodes, in source order."""
        for name in _child_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                yield from (v for v in value if isinstance(v, Node))

    def walk(self) -> Iterator[Node]:
        """This node and all its descendants, depth first."""
        # A stack rather than nested generators: each node then costs the same at any depth, and the checks
        # walk every node of a campaign.
        pending: list[Node] = [self]
        while pending:
            node = pending.pop()
            yield node
            found: list[Node] = []
            for name in _child_fields(type(node)):  # as `children`, without a generator per node
                value = getattr(node, name)
                if isinstance(value, Node):
                    found.append(value)
                elif isinstance(value, tuple):
                    found += [v for v in value if isinstance(v, Node)]
            found.reverse()
            pending += found

    def by_class(self) -> dict[type[Node], list[Node]]:
        """This node and all its descendants grouped by class, each group in walk order: one walk for the
        checks that each look for a few classes anywhere in an item."""
        grouped: dict[type[Node], list[Node]] = defaultdict(list)
        for node in self.walk():
            grouped[type(node)].append(node)
        return grouped


#: the fields of each node class that may hold nodes, in declaration order; `dataclasses.fields` built a tuple of
#: every field for each call, which was most of the cost of walking a tree
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
#: what a field declared as one of these holds is never a node: half of all fields (names, operators, numbers)
_NEVER_NODES = (str, int, float, bool, type(None), Span)


def _child_fields(cls: type) -> tuple[str, ...]:
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = _CHILD_FIELDS[cls] = tuple(f.name for f in fields(cls) if _declared_may_hold_nodes(cls, f.type))
    return names


def _declared_may_hold_nodes(cls: type, declared: Any) -> bool:
    if isinstance(declared, str):  # as written: the AST's modules postpone the evaluation of annotations
        return _written_may_hold_nodes(cls.__module__, declared)
    return _may_hold_nodes(declared)


@functools.cache
def _written_may_hold_nodes(module: str, annotation: str) -> bool:
    """`_may_hold_nodes` for an annotation as written (postponed evaluation), read in the module that declares
    the class. Kept per text: the same few annotations recur in most classes, and reading one costs a compile."""
    try:
        declared = eval(annotation, vars(sys.modules[module]))
    except (NameError, TypeError, KeyError):  # not resolvable here: look in the field
        return True
    return _may_hold_nodes(declared)


def _may_hold_nodes(declared: Any) -> bool:
    """Whether a field declared so may hold a node, or a tuple of them (anything not known to be plain may)."""
    origin = typing.get_origin(declared)
    if origin in (typing.Union, types.UnionType):
        return any(_may_hold_nodes(arg) for arg in typing.get_args(declared))
    if origin is tuple:
        return any(_may_hold_nodes(arg) for arg in typing.get_args(declared) if arg is not Ellipsis)
    if origin is typing.Literal:
        return False
    return not (isinstance(declared, type) and issubclass(declared, _NEVER_NODES))


@dataclass(frozen=True, slots=True)
class Item(Node):
    """A top-level block of a file."""

    kind: ClassVar[str] = "item"


@dataclass(frozen=True, slots=True)
class File(Node):
    """One parsed `.nurture` file."""

    path: str
    items: tuple[Item, ...]
    #: comments as (line, column, text), for the formatter
    comments: tuple[tuple[int, int, str], ...] = field(default=(), compare=False, repr=False)
