"""The canonical layout of campaign files: one printing function per node kind, comments kept in place."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from decimal import Decimal
from functools import singledispatch

from . import ast as a
from .parser import parse_source
from .source import SourceFile

INDENT = "  "
Pos = tuple[int, int]  # (line, column), 1-based, as Lark reports them
_FAR = 10**9  # a column past the end of any line


# ===== values ===================================================================================


def quote(text: str) -> str:
    """A string literal: only `"` and `\\` need escaping in the language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def number(value: int | float) -> str:
    """A number as the grammar accepts it: digits, a float keeps its `.`, never an exponent."""
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):  # only a literal too long for a float gets here; print one that is as long
        return ("-" if value < 0 else "") + "1" + "0" * 309 + ".0"
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


@singledispatch
def text_of(node: a.Node) -> str:
    """The one-line text of an expression or a simple statement."""
    raise TypeError(f"the formatter cannot print a {type(node).__name__}")


@text_of.register
def _value(node: a.Value) -> str:
    value = node.value
    if node.kind == "list":
        return "[" + ", ".join(text_of(v) for v in value) + "]"  # type: ignore[union-attr]
    if node.kind == "text":
        return quote(value)  # type: ignore[arg-type]
    if node.kind == "bool":
        return "true" if value else "false"
    if node.kind == "date":
        return value.isoformat()  # type: ignore[union-attr]
    return number(value)  # type: ignore[arg-type]


@text_of.register
def _duration(node: a.Duration) -> str:
    return str(node)


@text_of.register
def _time_of_day(node: a.TimeOfDay) -> str:
    return str(node)


@text_of.register
def _days(node: a.Days) -> str:
    return f"on {node}"


@text_of.register
def _type_ref(node: a.TypeRef) -> str:
    return str(node)


# ===== conditions ===============================================================================

# Binding strength: `or` < `and` < `not` < atoms. An operand weaker than its context needs parentheses.
_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4

# The filter after `where` may be one of these atoms bare; anything else needs parentheses (grammar: filter).
_BARE_FILTERS = (a.Compare, a.TextTest, a.Matches)


def _strength(node: a.Condition) -> int:
    if isinstance(node, a.AnyOf):
        return _OR
    if isinstance(node, a.AllOf):
        return _AND
    return _NOT if isinstance(node, a.Not) else _ATOM


def _operand(node: a.Condition, context: int) -> str:
    text = text_of(node)
    return f"({text})" if _strength(node) < context else text


def _filter(node: a.Condition) -> str:
    bare = (
        isinstance(node, _BARE_FILTERS)
        or (isinstance(node, a.Member) and not node.negated)
        or (isinstance(node, a.Presence) and node.present)
    )
    return text_of(node) if bare else f"({text_of(node)})"


@text_of.register
def _any_of(node: a.AnyOf) -> str:
    # A nested `or` keeps its parentheses: without them it would parse as one flat AnyOf.
    return " or ".join(_operand(item, _AND) for item in node.items)


@text_of.register
def _all_of(node: a.AllOf) -> str:
    return " and ".join(_operand(item, _NOT) for item in node.items)


@text_of.register
def _not(node: a.Not) -> str:
    return "not " + _operand(node.item, _NOT)


@text_of.register
def _compare(node: a.Compare) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"


@text_of.register
def _member(node: a.Member) -> str:
    return f"{node.name} {'not in' if node.negated else 'in'} {text_of(node.values)}"


@text_of.register
def _text_test(node: a.TextTest) -> str:
    return f"{node.name} {node.op} {quote(node.text)}"


@text_of.register
def _matches(node: a.Matches) -> str:
    return f"{node.name} matches {node.literal or f'/{node.pattern}/{node.flags}'}"


@text_of.register
def _presence(node: a.Presence) -> str:
    return f"{node.name} is {'set' if node.present else 'missing'}"


@text_of.register
def _stage_is(node: a.StageIs) -> str:
    return f"stage is {node.stage}"


@text_of.register
def _event_ref(node: a.EventRef) -> str:
    return node.event if node.where is None else f"{node.event} where {_filter(node.where)}"


@text_of.register
def _happened(node: a.Happened) -> str:
    parts = [text_of(node.event)]
    if node.times is not None:
        parts.append(f"at least {node.times} times")
    if node.within is not None:
        parts.append(f"within {node.within}")
    elif node.since is not None:
        parts.append(f"since {node.since}")
    return " ".join(parts)


# ===== simple statements ========================================================================


@text_of.register
def _setting(node: a.Setting) -> str:
    return f"{node.key} {quote(node.value)}"


@text_of.register
def _quiet_hours(node: a.QuietHours) -> str:
    return f"quiet hours {node.start} to {node.end}"


@text_of.register
def _frequency_cap(node: a.FrequencyCap) -> str:
    return f"max {node.count} email{'' if node.count == 1 else 's'} per {node.period}"


@text_of.register
def _attribute_decl(node: a.AttributeDecl) -> str:
    default = "" if node.default is None else f" = {text_of(node.default)}"
    return f"{node.name}: {node.type}{default}"


@text_of.register
def _prop_decl(node: a.PropDecl) -> str:
    return f"{node.name}: {node.type}"


@text_of.register
def _event_decl(node: a.EventDecl) -> str:
    if not node.props:
        return node.name
    return f"{node.name} {{ {', '.join(text_of(p) for p in node.props)} }}"


@text_of.register
def _attribute_rule(node: a.AttributeRule) -> str:
    return f"{node.points:+d} if {text_of(node.condition)}"


@text_of.register
def _event_rule(node: a.EventRule) -> str:
    cap = "" if node.cap is None else f" max {node.cap.points} per {node.cap.window}"
    return f"{node.points:+d} per {text_of(node.event)}{cap}"


@text_of.register
def _decay(node: a.Decay) -> str:
    if node.half_life:
        return f"decay half-life {node.every}"
    return f"decay {node.percent}% every {node.every}"


@text_of.register
def _floor(node: a.Floor) -> str:
    return f"floor {number(node.value)}"


@text_of.register
def _recipient(node: a.Recipient) -> str:
    if node.kind == "owner":
        return "owner"
    return "sales" if node.address is None else f"sales {quote(node.address)}"


@text_of.register
def _promote(node: a.Promote) -> str:
    return f"when {text_of(node.condition)}"


@text_of.register
def _demote(node: a.Demote) -> str:
    return f"back to {node.target} when {text_of(node.condition)}"


@text_of.register
def _notify(node: a.Notify) -> str:
    return f"notify {text_of(node.recipient)} with {quote(node.template)}"


@text_of.register
def _assign_round_robin(node: a.AssignRoundRobin) -> str:
    return f"assign owner round robin [{', '.join(quote(o) for o in node.owners)}]"


@text_of.register
def _assign_when(node: a.AssignWhen) -> str:
    return f"assign owner {quote(node.owner)} when {text_of(node.condition)}"


def _trigger(node: a.StageBecomes | a.Condition) -> str:
    return f"stage becomes {node.stage}" if isinstance(node, a.StageBecomes) else text_of(node)


@text_of.register
def _entry(node: a.Entry) -> str:
    return f"enter when {_trigger(node.trigger)}"


@text_of.register
def _exit_rule(node: a.ExitRule) -> str:
    return f"exit when {_trigger(node.trigger)}"


@text_of.register
def _goal(node: a.Goal) -> str:
    return f"goal {_trigger(node.trigger)}"


@text_of.register
def _reentry(node: a.Reentry) -> str:
    return f"reentry after {node.after}" if node.policy == "after" else f"reentry {node.policy}"


@text_of.register
def _send(node: a.Send) -> str:
    window = "" if node.window is None else f" {text_of(node.window)}"
    return f"send {quote(node.template)}{window}"


@text_of.register
def _send_window(node: a.SendWindow) -> str:
    return f"at {node.time}" + ("" if node.days is None else f" {text_of(node.days)}")


@text_of.register
def _wait(node: a.Wait) -> str:
    return f"wait {node.duration}"


@text_of.register
def _wait_event(node: a.WaitEvent) -> str:
    if node.timeout is None:
        return f"wait for {text_of(node.event)}"
    return f"wait up to {node.timeout} for {text_of(node.event)}"


@text_of.register
def _wait_time(node: a.WaitTime) -> str:
    return f"wait until {node.time}" + ("" if node.days is None else f" {text_of(node.days)}")


@text_of.register
def _set_attribute(node: a.SetAttribute) -> str:
    return f"set {node.name} = {text_of(node.value)}"


@text_of.register
def _notify_action(node: a.NotifyAction) -> str:
    return f"notify {text_of(node.recipient)} with {quote(node.template)}"


# ===== scenarios ================================================================================


@text_of.register
def _moment(node: a.Moment) -> str:
    return str(node)


@text_of.register
def _assignment(node: a.Assignment) -> str:
    return f"{node.name} = {text_of(node.value)}"


def _inline(assignments: tuple[a.Assignment, ...]) -> str:
    return "" if not assignments else " { " + ", ".join(text_of(x) for x in assignments) + " }"


@text_of.register
def _scenario_start(node: a.ScenarioStart) -> str:
    return f"start {text_of(node.date)}" + ("" if node.time is None else f" {node.time}")


@text_of.register
def _scenario_event(node: a.ScenarioEvent) -> str:
    return f"at {node.at}: {node.event}{_inline(node.props)}"


@text_of.register
def _expect(node: a.Expect) -> str:
    return f"expect at {node.at}: {text_of(node.check)}"


@text_of.register
def _expect_stage(node: a.ExpectStage) -> str:
    return f"stage is {node.stage}"


@text_of.register
def _expect_value(node: a.ExpectValue) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"


@text_of.register
def _expect_between(node: a.ExpectBetween) -> str:
    return f"{node.name} between {text_of(node.low)} and {text_of(node.high)}"


@text_of.register
def _expect_email(node: a.ExpectEmail) -> str:
    if node.kind == "notified":
        return f"sales {'not ' if node.negated else ''}notified with {quote(node.template)}"
    source = "" if node.journey is None else f" in {node.journey}" + ("" if node.step is None else f".{node.step}")
    return f"{'not ' if node.negated else ''}sent {quote(node.template)}{source}"


_JOURNEY_STATES = {"in": "in journey", "not in": "not in journey", "exited": "exited journey",
                   "finished": "finished journey", "goal": "goal reached in journey"}


@text_of.register
def _expect_journey(node: a.ExpectJourney) -> str:
    return f"{_JOURNEY_STATES[node.state]} {node.journey}"


# ===== lines and blocks =========================================================================


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

    def add(self, depth: int, text: str, at: Pos, **flags: bool) -> None:
        self.lines.append(Line(depth, text, at, **flags))

    def else_at(self, branch: a.Branch) -> Pos:
        """Where the `else` of ``branch`` was written; comments before it stay in the `then` block."""
        after = _end(branch.then[-1]) if branch.then else _end(branch.condition)
        found = self._find_else(after)
        # Without the text, every comment between the two blocks stays in the `then` block.
        return found if found is not None else _start(branch.otherwise[0])

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


def _start(node: a.Node) -> Pos:
    return node.span.line, node.span.column


def _end(node: a.Node) -> Pos:
    """The position of the node's last character (spans end one past it)."""
    return node.span.end_line, node.span.end_column - 1


@singledispatch
def emit(node: a.Node, out: Writer, depth: int) -> None:
    """Print a statement as lines; a simple one is its text on one line."""
    out.add(depth, text_of(node), _start(node))


def _block(out: Writer, depth: int, header: str, node: a.Node, items: tuple[a.Node, ...]) -> None:
    out.add(depth, f"{header} {{", _start(node), opens=True, top=depth == 0)
    for item in items:
        emit(item, out, depth + 1)
    out.add(depth, "}", _end(node), closes=True)


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
def _scenario_lead(node: a.ScenarioLead, out: Writer, depth: int) -> None:
    # One attribute per line, like an `attributes` block: a changed attribute is a one-line diff.
    header = f"lead {quote(node.email)}"
    if node.attributes:
        _block(out, depth, header, node, node.attributes)
    else:
        out.add(depth, header, _start(node))


@emit.register
def _step(node: a.Step, out: Writer, depth: int) -> None:
    label = "" if node.label is None else f"{node.label}: "
    if isinstance(node.action, a.Branch):
        _branch(node.action, out, depth, label, _start(node))
    else:
        out.add(depth, label + text_of(node.action), _start(node))


def _is_else_if(steps: tuple[a.Step, ...]) -> bool:
    return len(steps) == 1 and steps[0].label is None and isinstance(steps[0].action, a.Branch)


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
        if not _is_else_if(current.otherwise):
            out.add(depth, "} else {", else_at, opens=True, closes=True)
            for step in current.otherwise:
                emit(step, out, depth + 1)
            break
        current = current.otherwise[0].action  # type: ignore[assignment]
        out.add(depth, f"}} else if {text_of(current.condition)} {{", else_at, opens=True, closes=True)
    out.add(depth, "}", _end(node), closes=True)


# ===== comments and blank lines =================================================================


@dataclass(frozen=True, slots=True)
class _Extra:
    """A comment or a blank source line, waiting to be placed among the printed lines."""

    at: Pos
    text: str | None  # None: a blank line
    trailing: bool = False


def _extras(file: a.File, text: str | None) -> list[_Extra]:
    """The file's comments (and, given the text, its blank lines) in source order."""
    if text is None:
        # No text: a comment trails when some node starts or ends before it on its line.
        code: dict[int, int] = {}
        for node in file.walk():
            for line, column in (_start(node), _end(node)):
                code[line] = min(code.get(line, _FAR), column)
        extras = [_Extra((line, col), body, code.get(line, _FAR) < col) for line, col, body in file.comments]
    else:
        lines = text.split("\n")
        extras = [_Extra((line, col), body, bool(lines[line - 1][: col - 1].strip()))
                  for line, col, body in file.comments]
        extras += [_Extra((n, 0), None) for n, line in enumerate(lines, 1) if not line.strip()]
    return sorted(extras, key=lambda e: e.at)


def _place(lines: list[Line], extras: list[_Extra]) -> list[list[_Extra]]:
    """For each printed line (and the end of file), the comments and blanks that go before it.

    Trailing comments are attached to the printed line they follow instead; a second one on the
    same printed line becomes an own-line comment below it.
    """
    before: list[list[_Extra]] = [[] for _ in range(len(lines) + 1)]
    pending = iter(extras)
    extra = next(pending, None)
    for i, line in enumerate([*lines, None]):
        while extra is not None and (line is None or extra.at < line.at):
            previous = lines[i - 1] if i else None
            if extra.trailing and previous is not None and previous.trailing is None:
                previous.trailing = extra.text
            else:
                before[i].append(extra)
            extra = next(pending, None)
    return before


class _Output:
    """Joins lines, keeping at most one blank line and none after `{`, before `}` or at either end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.blank = False
        self.after_open = False

    def put(self, depth: int, text: str, *, opens: bool = False, closes: bool = False) -> None:
        if self.blank and self.lines and not self.after_open and not closes:
            self.lines.append("")
        self.blank = False
        self.after_open = opens
        self.lines.append(INDENT * depth + text)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def _render(lines: list[Line], before: list[list[_Extra]]) -> str:
    out = _Output()
    for i, line in enumerate([*lines, None]):
        if line is not None and line.top and i > 0:
            out.blank = True
        depth = 0 if line is None else line.depth + line.closes
        for extra in before[i]:
            if extra.text is None:
                out.blank = True
            else:
                out.put(depth, extra.text)
        if line is not None:
            trailing = "" if line.trailing is None else f"  {line.trailing}"
            out.put(line.depth, line.text + trailing, opens=line.opens, closes=line.closes)
    return out.text()


# ===== entry points =============================================================================


def format_file(file: a.File, text: str | None = None) -> str:
    """The canonical text of a parsed file.

    Layout: two-space indentation, one statement per line, `name "Title" {` ... `}` blocks, one blank
    line between top-level blocks, no column alignment. A blank line between two statements is kept
    (runs of them become one); none is kept right after `{` or right before `}`. An own-line comment
    goes before the statement that followed it (or before the `}` that followed it, inside the block);
    a trailing comment ends the line its statement is printed on; comments after the last block stay
    at the end.

    Pass the file's source ``text`` to keep the author's blank lines and to place comments around
    `else` exactly; without it, blank lines inside blocks are dropped, trailing comments are recognised
    from node positions alone, and comments between a `then` block and its `else` end the `then` block.
    """
    out = Writer(text)
    for item in file.items:
        emit(item, out, 0)
    extras = _extras(file, text)
    return _render(out.lines, _place(out.lines, extras))


def format_source(text: str, path: str = "<string>") -> str:
    """Parse ``text`` and return its canonical layout; raises DslSyntaxError if it does not parse."""
    return format_file(parse_source(SourceFile(path, text)), text)
