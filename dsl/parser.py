"""Parses campaign source into the AST. The only module that sees Lark and its exceptions."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parse_tree_builder import maybe_create_child_filter
from lark.tree import Meta

from . import ast as a
from .diagnostics import Diagnostic
from .errors import DslSyntaxError
from .source import SourceFile, Span, normalize
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


def cache_file(grammar: Path = GRAMMAR) -> str | None:
    """Where the parser built from ``grammar`` is kept between runs: $XDG_CACHE_HOME/nurture (or ~/.cache/nurture),
    in a file named by the grammar's hash and Lark's version. Never a shared temporary directory: the cache is a
    pickle, so it is read only from a directory of this user's own. None when there is no such directory to write."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    directory = (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "nurture"
    try:
        digest = hashlib.sha256(grammar.read_bytes()).hexdigest()[:16]
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        owned = directory.stat().st_uid == os.getuid() if hasattr(os, "getuid") else True
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    if not owned or not os.access(directory, os.W_OK | os.X_OK):
        return None
    return str(directory / f"grammar-{digest}-lark-{lark.__version__}.pickle")


def build_parser(cache: str | None) -> Lark:
    """The parser, loaded from ``cache`` when it holds one for this grammar and this Lark, else built (and saved
    there). Lark checks the grammar's hash inside the file too, and rebuilds quietly on any mismatch or damage."""
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

#: the transformer of the parse under way (a context variable: parses may run in several threads)
_transformer: contextvars.ContextVar[ToAst] = contextvars.ContextVar("transformer")


class _Built:
    """A rule's value while the parse goes on, with the extent of its text (line, column, offset at each
    end; None for a rule that matched no text). Parents take their own extent from their children's."""

    __slots__ = ("value", "start", "end", "depth")

    def __init__(self, value: Any, start: tuple[int, int, int] | None, end: tuple[int, int, int] | None,
                 depth: int) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.depth = depth  # nodes nested in it, itself included


class _TooDeep(Exception):
    """Nodes nested more deeply than the rest of the language's code may walk."""


#: how deeply nodes may nest (thousands of brackets or `not`s): as deep as the checks and the formatter can recurse
MAX_NESTING = 900


class _Position:
    """The part of Lark's meta that ToAst reads (``empty``, and the line and column at each end), lighter to make."""

    __slots__ = ("empty", "line", "column", "start_pos", "end_line", "end_column", "end_pos")

    def __init__(self, start: tuple[int, int, int] | None, end: tuple[int, int, int] | None) -> None:
        self.empty = start is None and end is None
        if start is not None:
            self.line, self.column, self.start_pos = start
        if end is not None:
            self.end_line, self.end_column, self.end_pos = end


def _meta(start: tuple[int, int, int] | None, end: tuple[int, int, int] | None) -> Meta:
    """Lark's meta for an extent, as ``propagate_positions`` fills it in (for the trees ToAst keeps)."""
    meta = Meta()
    if start is not None:
        meta.line, meta.column, meta.start_pos = start
        meta.empty = False
    if end is not None:
        meta.end_line, meta.end_column, meta.end_pos = end
        meta.empty = False
    return meta


def _reduction(name: str, build: _Builder | None, keep: Callable[[list[Any]], list[Any]] | None,
               expand_single: bool, nests: bool) -> Callable[[list[Any]], _Built]:
    """The callback for one grammar rule: its extent, its kept children, then its AST node (or a Tree for a
    rule ToAst has no method for, as `Transformer.__default__` keeps it)."""

    inlined = name.startswith("_")

    def reduce(children: list[Any]) -> _Built:
        start = end = None
        for child in children:
            if type(child) is _Built:
                if child.start is not None:
                    start = child.start
                    break
            else:  # a token
                start = (child.line, child.column, child.start_pos)
                break
        for child in reversed(children):
            if type(child) is _Built:
                if child.end is not None:
                    end = child.end
                    break
            else:
                end = (child.end_line, child.end_column, child.end_pos)
                break
        # only rules that can contain themselves nest without bound; the others need not count
        depth = max([child.depth for child in children if type(child) is _Built], default=0) if nests else 0
        values = [child.value if type(child) is _Built else child for child in children]
        kept = keep(values) if keep is not None else values
        if expand_single and len(kept) == 1:  # `?rule`: the child stands for it, with the rule's extent
            return _Built(kept[0], start, end, depth)
        if inlined:  # a `_rule` (lists among them): its children go into its parent's; not a level of its own
            return _Built(Tree(name, kept), start, end, depth)
        if build is None:
            return _Built(Tree(name, kept, _meta(start, end)), start, end, depth + 1)
        if depth >= MAX_NESTING:
            raise _TooDeep
        return _Built(build(_transformer.get(), _Position(start, end), kept), start, end, depth + 1)

    return reduce


def _identity(children: list[Any]) -> list[Any]:
    return children


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
    callbacks: dict[Any, Callable[[list[Any]], _Built]] = {}
    nesting = _self_containing(parser.rules)
    for rule in parser.rules:
        name = str(rule.alias or rule.origin.name)
        options = rule.options
        # as Lark's tree builder does it: keywords dropped, `_rules` inlined, None for a missing `[optional]`
        # (the parser is built with maybe_placeholders)
        make_filter = maybe_create_child_filter(rule.expansion, options.keep_all_tokens, False,
                                                list(options.empty_indices))
        callbacks[rule] = _reduction(name, _builder(name), make_filter(_identity) if make_filter else None,
                                     bool(options.expand1 and not rule.alias), rule.origin.name in nesting)
    # The LALR parser calls these on each reduction; tokens are shifted as they are (no terminal callbacks).
    parser.parser.parser.parser.callbacks = callbacks
    return parser


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing allocates several objects per token and leaves no cyclic garbage, yet each allocation
    burst triggers the cyclic collector over the whole heap; pausing it saves about 15% of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
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
    with _collector_paused():
        try:
            built: Any = _lark().parse(source.text)  # the start rule's _Built
            items = built.value
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
