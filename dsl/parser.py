"""Parses campaign source into the AST. With `lalr`, the only module that sees Lark and its exceptions."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.tree import Meta

from . import ast as a
from .diagnostics import Diagnostic
from .errors import DslSyntaxError
from .lalr import NotRecognized, Tables, pass_up
from .source import SourceFile, Span, normalize, span_at
from .transformer import MAX_DIGITS, NumberTooLong, ToAst

MAX_FILE_BYTES = 5 * 1024 * 1024

# What a user calls each named terminal (anonymous keywords print as themselves).
_TERMINAL_WORDS = {
    "STRING": 'a quoted text like `"welcome"`',
    "NAME": "a name like `job_title`",
    "EVENT_NAME": "an event name like `page.viewed`",
    "TYPE_NAME": "a type (`text`, `number`, `bool`, `date` or `timezone`)",
    "UNIT": "a time unit (`minutes`, `hours`, `days` or `weeks`)",
    "PERIOD": "`day` or `week`",
    "EMAILS": "`emails`",
    "DAY_SET": "`weekdays`, `weekends` or `every day`",
    "DAY": "a day like `mon`",
    "COMPARE": "a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`)",
    "POINTS": "points like `+10` or `-5`",
    "PERCENT": "a percentage like `50%`",
    "TIME": "a time of day like `09:00`",
    "OFFSET": "a time from the start like `2d` (`w` weeks, `d` days, `h` hours, `min` minutes)",
    "DATE": "a date like `2026-03-01`",
    "INT": "a whole number",
    "NUMBER": "a number",
    "REGEX": "a regex like `/pricing/i`",
    "SLA_STATUS": "an SLA status (`open`, `met` or `breached`)",
}

# Keywords after which a number starts a duration.
_DURATION_AFTER = {"wait", "every", "within", "after", "half-life", "to", "per"}
_TOP_LEVEL = ["settings", "attributes", "events", "score", "stage", "journey", "scenario", "topics"]


# The grammar ignores comments; the formatter needs them back, so the lexer hands them here.
_comments: contextvars.ContextVar[list[tuple[int, int, str]]] = contextvars.ContextVar("comments")


def _keep_comment(token: Token) -> Token:
    found = _comments.get(None)
    if found is not None:
        found.append((token.line or 1, token.column or 1, str(token).rstrip()))
    return token


GRAMMAR = Path(__file__).with_name("grammar.lark")


def cache_file(grammar: Path = GRAMMAR) -> str:
    """Where the parser built from ``grammar`` is kept between runs: next to the grammar, in the project's own
    directory, named by the grammar's hash and Lark's version. The file is a pickle, so it lives only where the
    code that reads it does: whoever could change it could change the parser itself. Where that directory cannot
    be written (an installation owned by another user), Lark builds the parser each time and says nothing. A
    file left by an earlier grammar or Lark is removed when this one is first looked for."""
    digest = hashlib.sha256(grammar.read_bytes()).hexdigest()[:16]
    path = grammar.with_name(f"{grammar.stem}-{digest}-lark-{lark.__version__}.pickle")
    if not path.exists():
        for earlier in grammar.parent.glob(f"{grammar.stem}-*-lark-*.pickle"):
            with contextlib.suppress(OSError):
                earlier.unlink()
    return str(path)


def build_parser(cache: str | None) -> Lark:
    """The parser, loaded from ``cache`` when it holds one for this grammar and this Lark, else built (and saved
    there, when it can be). Lark checks the grammar's hash inside the file too, and rebuilds quietly on any mismatch
    or damage."""
    return Lark.open(
        str(GRAMMAR),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _keep_comment},
        cache=cache or False,
    )


# A rule's ToAst method as a plain function of (transformer, meta, children).
_Builder = Callable[[ToAst, Any, list[Any]], Any]


def _builder(name: str) -> _Builder | None:
    """ToAst's method for a rule, unwrapped: every one is declared with v_args(meta=True), (self, meta, children)."""
    method = getattr(ToAst, name, None)
    return None if method is None else method.__wrapped__


# ----- the AST built during the parse -----------------------------------------------------------
#
# Lark's `transformer=` option runs a transformer inside the LALR parse, so no parse tree is built
# and walked again; but it hands a rule's method only its kept children, never the positions
# (`v_args(meta=True)` is refused there). So the parser here is given callbacks of its own: each
# reduction works out the rule's position from all its children, dropped keywords and brackets
# included, exactly as Lark's `propagate_positions` does, and then calls the same ToAst method.
#
# A rule's value sits on the parser's stack as a plain tuple, (value, first token, last token, depth):
# the tokens bounding the text the rule matched (None for a rule that matched none), and how many nodes
# are nested in it, itself included. Tokens are shifted as they are. A tuple rather than an object with
# named fields, because the parser makes one per reduction and a class's __init__ cost more than the
# rest of the reduction; only the code below reads them.

#: the transformer of the parse under way (a context variable: parses may run in several threads)
_transformer: contextvars.ContextVar[ToAst] = contextvars.ContextVar("transformer")

_Reduced = tuple[Any, Token | None, Token | None, int]


class _TooDeep(Exception):
    """Nodes nested more deeply than the rest of the language's code may walk."""


#: how deeply nodes may nest (thousands of brackets or `not`s): as deep as the checks and the formatter can recurse
MAX_NESTING = 900

# How a rule's child goes into the children its ToAst method is given.
_TOKEN, _VALUE, _SPLICE = 0, 1, 2  # the token itself; the value of a rule; the children of an inlined `_rule`


def _kept_children(expansion: list[Any], empty_indices: list[bool]) -> tuple[list[tuple[int, int, int]], int]:
    """Which children of a rule its method is given, as Lark's tree builder chooses them (keywords dropped,
    `_rules` inlined, a None for each `[optional]` left out, the parser being built with maybe_placeholders):
    (index, how, Nones before it) for each kept child, and the Nones after the last."""
    if empty_indices:  # a True for each left-out optional, a False for each symbol written
        runs = "".join("1" if empty else "0" for empty in empty_indices).split("0")
        nones = [len(run) for run in runs]
    else:
        nones = [0] * (len(expansion) + 1)
    kept = []
    pending = 0
    for index, symbol in enumerate(expansion):
        pending += nones[index]
        if symbol.is_term and symbol.filter_out:
            continue
        how = _TOKEN if symbol.is_term else _SPLICE if symbol.name.startswith("_") else _VALUE
        kept.append((index, how, pending))
        pending = 0
    return kept, pending + nones[len(expansion)]


def _reduction(name: str, expansion: list[Any], empty_indices: list[bool], build: _Builder | None,
               expand_single: bool, nests: bool) -> Callable[[list[Any]], Any]:
    """The callback for one grammar rule: its extent, its kept children, then its AST node (or a Tree for a
    rule ToAst has no method for, as `Transformer.__default__` keeps it)."""
    if expand_single and nests and len(expansion) == 1 and not expansion[0].is_term \
            and not expansion[0].name.startswith("_"):
        # `?condition: or_condition` and the like: the child stands for the rule, with the same extent and
        # depth, so its value goes up as it is (a quarter of all reductions)
        return pass_up

    kept, nones_after = _kept_children(expansion, empty_indices)
    rules_at = [index for index, symbol in enumerate(expansion) if not symbol.is_term]
    inlined = name.startswith("_")

    def reduce(children: list[Any]) -> _Reduced:
        first = last = None
        for child in children:
            if type(child) is not tuple:  # a token
                first = child
                break
            if child[1] is not None:
                first = child[1]
                break
        for child in reversed(children):
            if type(child) is not tuple:
                last = child
                break
            if child[2] is not None:
                last = child[2]
                break
        # only rules that can contain themselves nest without bound; the others need not count
        if not nests or not rules_at:
            depth = 0
        elif len(rules_at) == 1:
            depth = children[rules_at[0]][3]
        else:
            depth = max([children[index][3] for index in rules_at])
        values: list[Any] = []
        for index, how, nones in kept:
            if nones:
                values += [None] * nones
            if how == _TOKEN:
                values.append(children[index])
            elif how == _VALUE:
                values.append(children[index][0])
            elif values:
                values += children[index][0]
            else:  # a list's rule recurses on the left: go on with its children's list instead of copying it
                values = children[index][0]
        if nones_after:
            values += [None] * nones_after
        if expand_single and len(values) == 1:  # `?rule`: the child stands for it, with the rule's extent
            return values[0], first, last, depth
        if inlined:  # a `_rule` (lists among them): its children go into its parent's; not a level of its own
            return values, first, last, depth
        if build is None:
            return Tree(name, values, _meta(first, last)), first, last, depth + 1
        if depth >= MAX_NESTING:
            raise _TooDeep
        transformer = _transformer.get()
        return build(transformer, _span(transformer.path, first, last), values), first, last, depth + 1

    return reduce


def _span(path: str, first: Token | None, last: Token | None) -> Span:
    """What ToAst's methods are given for the place of their text: its span (the first line for no text)."""
    if first is None or last is None:
        return Span(path, 1, 1, 1, 1)
    return span_at(path, first.line, first.column, last.end_line, last.end_column)  # type: ignore[arg-type]


def _meta(first: Any, last: Any) -> Meta:
    """Lark's meta for the text from token ``first`` to token ``last`` (None: no text), as
    ``propagate_positions`` fills it in (for the trees ToAst keeps)."""
    meta = Meta()
    if first is not None:
        meta.line, meta.column, meta.start_pos = first.line, first.column, first.start_pos
        meta.empty = False
    if last is not None:
        meta.end_line, meta.end_column, meta.end_pos = last.end_line, last.end_column, last.end_pos
        meta.empty = False
    return meta


def _self_containing(rules: list[Any]) -> set[str]:
    """The rules that can contain themselves (conditions in brackets, branches in branches)."""
    inside: dict[str, set[str]] = {}
    for rule in rules:
        inside.setdefault(rule.origin.name, set()).update(s.name for s in rule.expansion if not s.is_term)
    found = set()
    for name in inside:
        seen, todo = set(), list(inside[name])
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo += inside.get(other, ())
        if name in seen:
            found.add(name)
    return found


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, whose reductions build the AST directly (see `_reduction`)."""
    parser = build_parser(cache_file())
    callbacks: dict[Any, Callable[[list[Any]], Any]] = {}
    nesting = _self_containing(parser.rules)
    for rule in parser.rules:
        name = str(rule.alias or rule.origin.name)
        options = rule.options
        assert not options.keep_all_tokens  # `!rule`s would keep their keywords; the grammar has none
        callbacks[rule] = _reduction(name, list(rule.expansion), list(options.empty_indices), _builder(name),
                                     bool(options.expand1 and not rule.alias), rule.origin.name in nesting)
    # The LALR parser calls these on each reduction; tokens are shifted as they are (no terminal callbacks).
    parser.parser.parser.parser.callbacks = callbacks
    return parser


@functools.lru_cache(maxsize=1)
def _tables() -> Tables:
    """The same parser's tables, for the loop that parses correct text (see `lalr`)."""
    parser = _lark()
    return Tables(parser, parser.parser.parser.parser.callbacks)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Parsing allocates several objects per token and leaves no cyclic garbage, yet each allocation
    burst triggers the cyclic collector over the whole heap; pausing it saves about 15% of the time.
    Pauses nest: only the outermost one starts the collector again.

    What the pause built (the trees, the checks' facts) lives on after it. Left young, the collector's first
    young collection would scan all of it at once, a tenth of a large campaign's check. So it is moved
    straight to the oldest generation (`gc.freeze` then `gc.unfreeze`: two list splices), which a full
    collection still scans. Not where the process already keeps a frozen heap of its own (`nurture serve`):
    unfreezing would hand that back to the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _describe(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    terminal = _lark().get_terminal(name)
    return f"`{terminal.pattern.value}`"


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


def _expected_words(expected: set[str], previous: str) -> str:
    if previous in _DURATION_AFTER and expected & {"INT", "UNIT"}:
        return "a duration like `2 days`"
    if expected == {"UNIT"}:
        return "a duration like `2 days`"
    words = sorted({_describe(name) for name in expected if name != "$END"})
    if len(words) > 6:
        words = words[:6] + ["..."]
    if not words:
        return "the end of the file"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _previous_word(text: str, pos: int) -> str:
    match = re.search(r"(\S+)\s*$", text[:pos])
    return match.group(1) if match else ""


def _syntax_diagnostic(err: UnexpectedInput, source: SourceFile) -> Diagnostic:
    path, text = source.path, source.text
    if isinstance(err, UnexpectedCharacters):
        # Lark declares the offset as None on the base class; the lexer always sets it to an int.
        char = text[err.pos_in_stream]  # type: ignore[index]
        span = Span(path, err.line, err.column, err.line, err.column + 1)
        shown = repr(char) if not char.isprintable() or char.isspace() else f"`{char}`"
        return Diagnostic.make("E001", span, message=f"unexpected character {shown}",
                               label="not part of the language",
                               help='quote text with double quotes: `"hello"`' if char in "'“”" else None)
    # Besides bad characters, Lark raises only a wrong token or an early end, and both carry the token.
    assert isinstance(err, UnexpectedToken | UnexpectedEOF)
    token: Token = err.token
    expected: set[str] = set(getattr(err, "expected", ()) or ())
    if isinstance(err, UnexpectedEOF) or token.type == "$END":
        last = max(len(source.lines), 1)
        span = Span(path, last, len(source.line(last)) + 1, last, len(source.line(last)) + 2)
        if "RBRACE" in expected:
            return Diagnostic.make("E001", span, message="the file ends inside a block: expected `}`",
                                   label="file ends here",
                                   help="close every block opened with `{` with a matching `}`")
        what = _expected_words(expected, _previous_word(text, len(text)))
        return Diagnostic.make("E001", span, message=f"the file ends early: expected {what}",
                               label="file ends here")
    start = token.start_pos or 0
    previous = _previous_word(text, start)
    what = _expected_words(expected, previous)
    span = Span(path, token.line or 1, token.column or 1, token.end_line or token.line or 1,
                token.end_column or (token.column or 1) + 1)
    help_ = None
    if token.type == "NAME" and "STRING" in expected:
        help_ = f'put it in double quotes: `"{token}"`'
    elif token.type in ("NAME", "EVENT_NAME") and previous in ("}", "") and str(token) not in _TOP_LEVEL:
        help_ = "a file holds `" + "`, `".join(_TOP_LEVEL) + "` blocks, and `invariant` lines"
    elif previous == "topic" and "COLON" in expected:  # a journey's `topic` line below its first line
        help_ = "a journey's `topic` line comes first in the journey, before `enter when` and the steps"
    return Diagnostic.make("E001", span, message=f"expected {what}, found {_found(token)}",
                           label="unexpected here", help=help_)


@functools.lru_cache(maxsize=256)
def parse_source(source: SourceFile) -> a.File:
    """Parse one file's text into an AST, or raise DslSyntaxError with one diagnostic.

    The tree is immutable, so the same text at the same path is parsed once per process: scenario
    tests read the same campaign again for every scenario (checking it, applying it, compiling it).
    """
    comments: list[tuple[int, int, str]] = []
    token = _comments.set(comments)
    building = _transformer.set(ToAst(source.path))
    with collector_paused():
        try:
            try:
                reduced: Any = _tables().parse(source.text, comments)  # the start rule's value, with its extent
            except NotRecognized:  # Lark's own parse raises what the diagnostic reports
                comments.clear()
                reduced = _lark().parse(source.text)
            items = reduced[0]
        except UnexpectedInput as err:
            raise DslSyntaxError([_syntax_diagnostic(err, source)]) from None
        except NumberTooLong as err:
            raise DslSyntaxError([Diagnostic.make(
                "E001", err.span, message=f"a number has more than {MAX_DIGITS} digits", label="too long to read",
                help="write a number of a sensible size")]) from None
        except _TooDeep:  # thousands of nested brackets or `not`s: say so instead of crashing later
            raise DslSyntaxError([Diagnostic.make(
                "E001", Span(source.path, 1, 1, 1, 1), message="the file is nested too deeply to read",
                help="split deeply nested conditions into simpler ones")]) from None
        finally:
            _comments.reset(token)
            _transformer.reset(building)
    return a.File(source.path, tuple(items), comments=tuple(comments), span=Span(source.path, 1, 1, 1, 1))


def _line_at(before: str) -> int:
    """The line a position is on, given the text before it; counted as `SourceFile` counts lines."""
    return normalize(before).count("\n") + 1


def read_source(path: str | Path) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Read a file as UTF-8 text, or explain why it cannot be used."""
    path = str(path)
    where = Span(path, 1, 1, 1, 1)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return None, [Diagnostic.make("E004", where, path=path, reason=err.strerror or str(err))]
    if len(data) > MAX_FILE_BYTES:
        return None, [Diagnostic.make("E003", where, size=len(data), limit=MAX_FILE_BYTES,
                                      help="split the campaign into several files")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = _line_at(data[: err.start].decode("utf-8"))
        return None, [Diagnostic.make("E002", Span(path, line, 1, line, 1),
                                      label=f"byte {err.start} is not valid UTF-8",
                                      help="save the file as UTF-8")]
    if "\x00" in text:
        line = _line_at(text[: text.index("\x00")])
        return None, [Diagnostic.make("E002", Span(path, line, 1, line, 1), label="contains NUL bytes",
                                      help="this looks like a binary file; save the campaign as UTF-8 text")]
    return SourceFile(path, text), []
