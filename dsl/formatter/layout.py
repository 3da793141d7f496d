"""Statements as indented lines: blocks, steps and `if`/`else` chains, each line tied to its source position."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import singledispatch

from .. import ast as a
from .expressions import quote, text_of
from .splits import emit_split

Pos = tuple[int, int]  # (line, column), 1-based, as Lark reports them


@dataclass(slots=True)
class Line:
    """One printed statement line, with the source position comments are placed against."""

    depth: int
    text: str
    at: Pos
    opens: bool = False  # ends with `{`: no blank line may follow
    closes: bool = False  # starts with `}`: no blank line may precede; comments before it stay inside
    top: bool = False  # a top-level block header: a blank line separates it from the block before
    trailing: str | None = None


@dataclass
class Writer:
    """Collects lines; knows the source text (when given) to find where each `else` was written."""

    text: str | None = None
    lines: list[Line] = field(default_factory=list)
    #: offset of each source line's first character
    starts: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.text is not None:
            offset = 0
            for line in self.text.split("\n"):
                self.starts.append(offset)
                offset += len(line) + 1

    def add(self, depth: int, text: str, at: Pos, *, opens: bool = False, closes: bool = False,
            top: bool = False) -> None:
        self.lines.append(Line(depth, text, at, opens=opens, closes=closes, top=top))

    def else_at(self, branch: a.Branch) -> Pos:
        """Where the `else` of ``branch`` was written; comments before it stay in the `then` block."""
        after = end_of(branch.then[-1]) if branch.then else end_of(branch.condition)
        found = self._find_else(after)
        # Without the text, every comment between the two blocks stays in the `then` block.
        return found if found is not None else start_of(branch.otherwise[0])

    def _find_else(self, after: Pos) -> Pos | None:
        # Between the `then` block and `else` there are only braces, blanks and comments.
        if self.text is None or after[0] > len(self.starts):
            return None
        i = self.starts[after[0] - 1] + after[1]
        while i < len(self.text):
            if self.text[i] == "#":
                i = self.text.find("\n", i)
                if i < 0:
                    return None
            elif self.text.startswith("else", i):
                line = bisect.bisect_right(self.starts, i)
                return line, i - self.starts[line - 1] + 1
            i += 1
        return None


def start_of(node: a.Node) -> Pos:
    return node.span.line, node.span.column


def end_of(node: a.Node) -> Pos:
    """The position of the node's last character (spans end one past it)."""
    return node.span.end_line, node.span.end_column - 1


@singledispatch
def emit(node: a.Node, out: Writer, depth: int) -> None:
    """Print a statement as lines; a simple one is its text on one line."""
    out.add(depth, text_of(node), start_of(node))


def _block(out: Writer, depth: int, header: str, node: a.Node, items: tuple[a.Node, ...]) -> None:
    out.add(depth, f"{header} {{", start_of(node), opens=True, top=depth == 0)
    for item in items:
        emit(item, out, depth + 1)
    out.add(depth, "}", end_of(node), closes=True)


def _titled(keyword: str, name: str, title: str | None) -> str:
    return f"{keyword} {name}" + ("" if title is None else f" {quote(title)}")


@emit.register
def _settings(node: a.Settings, out: Writer, depth: int) -> None:
    _block(out, depth, "settings", node, node.items)


@emit.register
def _attributes(node: a.Attributes, out: Writer, depth: int) -> None:
    _block(out, depth, "attributes", node, node.decls)


@emit.register
def _events(node: a.Events, out: Writer, depth: int) -> None:
    _block(out, depth, "events", node, node.decls)


@emit.register
def _score(node: a.Score, out: Writer, depth: int) -> None:
    _block(out, depth, _titled("score", node.name, node.title), node, node.items)


@emit.register
def _stage(node: a.Stage, out: Writer, depth: int) -> None:
    _block(out, depth, _titled("stage", node.name, node.title), node, node.items)


@emit.register
def _journey(node: a.Journey, out: Writer, depth: int) -> None:
    _block(out, depth, _titled("journey", node.name, node.title), node, node.items)


@emit.register
def _scenario(node: a.Scenario, out: Writer, depth: int) -> None:
    _block(out, depth, f"scenario {quote(node.name)}", node, node.items)


@emit.register
def _invariant(node: a.Invariant, out: Writer, depth: int) -> None:
    # one line each, kept together; a blank line parts them from a block before
    after_block = bool(out.lines) and out.lines[-1].closes and out.lines[-1].depth == depth
    out.add(depth, text_of(node), start_of(node), top=after_block)


@emit.register
def _scenario_lead(node: a.ScenarioLead, out: Writer, depth: int) -> None:
    # One attribute per line, like an `attributes` block: a changed attribute is a one-line diff.
    header = f"lead {quote(node.email)}"
    if node.attributes:
        _block(out, depth, header, node, node.attributes)
    else:
        out.add(depth, header, start_of(node))


@emit.register
def _step(node: a.Step, out: Writer, depth: int) -> None:
    label = "" if node.label is None else f"{node.label}: "
    if isinstance(node.action, a.Branch):
        _branch(node.action, out, depth, label, start_of(node))
    elif isinstance(node.action, a.Split):  # an A/B experiment: formatter/splits.py
        emit_split(node.action, out, depth, label, start_of(node), emit)
    else:
        out.add(depth, label + text_of(node.action), start_of(node))


def _chained_if(steps: tuple[a.Step, ...]) -> a.Branch | None:
    """The `if` an else block holds alone and unlabelled: it prints as `else if`."""
    if len(steps) == 1 and steps[0].label is None and isinstance(steps[0].action, a.Branch):
        return steps[0].action
    return None


def _branch(node: a.Branch, out: Writer, depth: int, label: str, at: Pos) -> None:
    """`if C {` ... `} else if C {` ... `} else {` ... `}`: an else holding only an unlabelled `if`
    continues the chain (the same tree as `else { if ... }`)."""
    out.add(depth, f"{label}if {text_of(node.condition)} {{", at, opens=True)
    current = node
    while True:
        for step in current.then:
            emit(step, out, depth + 1)
        if not current.otherwise:
            break
        else_at = out.else_at(current)
        chained = _chained_if(current.otherwise)
        if chained is None:
            out.add(depth, "} else {", else_at, opens=True, closes=True)
            for step in current.otherwise:
                emit(step, out, depth + 1)
            break
        current = chained
        out.add(depth, f"}} else if {text_of(current.condition)} {{", else_at, opens=True, closes=True)
    out.add(depth, "}", end_of(node), closes=True)
