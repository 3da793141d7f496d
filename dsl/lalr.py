"""Runs the parser's LALR tables over a text in one loop of its own: the contextual lexer and the parser fused.

Lark builds the tables (the states, their actions, and for each state the terminals its lexer may match), and
Lark still reports every syntax error. This loop only takes the text that is correct, which is nearly all text
a parse ever sees, at a fraction of Lark's cost per token. Lark pulls each token through a generator, three
method calls and a line counter, matches each run of white space as a token of its own, and builds every token
through keyword arguments; this loop skips white space in the same match as the token after it and does the
rest inline. When the loop meets a character or a token that no state accepts, it gives up (`NotRecognized`)
and the caller parses the same text with Lark, whose exception says exactly what was expected, as it always did.

It reads what Lark's `ContextualLexer` built for each parser state (the terminals in the order it tries them,
and which names are keywords in that state), so both lex the same text into the same tokens, and it applies
the parser's reductions in the same order as `lark.parsers.lalr_parser_state.ParserState.feed_token`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark import Lark, Token
from lark.lexer import BasicLexer, ContextualLexer, UnlessCallback
from lark.parsers.lalr_analysis import Shift


def pass_up(children: list[Any]) -> Any:
    """The reduction of a rule whose one child's value stands for it; the loop keeps the value where it is."""
    return children[0]


class NotRecognized(Exception):
    """The text is not in the language at some point; Lark's own parse says where and why."""


# A state's lexer: its terminals as one regex of named groups, and for each terminal whose matches may be
# keywords (`NAME` matching `journey`), the keywords it stands for in that state.
_Scanner = tuple[Callable[[str, int], "re.Match[str] | None"], dict[str, dict[str, str]]]
# A state's actions by terminal or rule name: (True, next state) to shift, (False, reduction) to reduce, where
# a reduction is (how many values it takes, the rule's name, its callback, or None for `pass_up`).
_Actions = dict[str, tuple[bool, Any]]
_Reduction = tuple[int, str, Callable[[list[Any]], Any] | None]


class _Scanners(dict[Any, _Scanner]):
    """Each parser state's scanner, made on first use."""

    def __init__(self, make: Callable[[Any], _Scanner]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, state: Any) -> _Scanner:
        made = self[state] = self.make(state)
        return made


class Tables:
    """What the loop reads, taken once from a built Lark parser whose reductions are ``callbacks``."""

    def __init__(self, parser: Lark, callbacks: dict[Any, Callable[[list[Any]], Any]]) -> None:
        lexer = parser.parser.lexer
        assert isinstance(lexer, ContextualLexer), "the parser must be built with the contextual lexer"
        table = parser.parser.parser.parser.parse_table
        (start,) = parser.options.start
        self.start, self.end = table.start_states[start], table.end_states[start]
        ignored = frozenset(parser.lexer_conf.ignore)
        self.comment_types = frozenset(name for name in parser.lexer_conf.callbacks if name in ignored)
        #: the ignored terminals matched as the start of the next token, not as tokens of their own
        self.blank_types = ignored - self.comment_types
        # The other ignored terminals (white space) are skipped by the same match as the token after them, in an
        # atomic group, so a failed match never tries shorter runs of blanks.
        blanks = "|".join(parser.get_terminal(name).pattern.to_regexp() for name in self.blank_types)
        self.skip_blanks = f"(?>(?:{blanks})*)" if blanks else ""
        self.only_blanks = re.compile(self.skip_blanks).fullmatch
        root = lexer.root_lexer
        assert isinstance(root, BasicLexer)
        self.multiline = root.newline_types  # the terminals whose text may hold a newline
        # Each state's scanner is made when a parse first reaches the state, as Lark makes its lexers' scanners:
        # a check of a small campaign visits a fraction of the states.
        self.lexers = lexer.lexers
        self.scanners = _Scanners(self._scanner)
        self._by_lexer: dict[int, _Scanner] = {}
        reductions: dict[Any, _Reduction] = {}
        self.actions: dict[Any, _Actions] = {}
        for state, row in table.states.items():
            actions: _Actions = {}
            for name, (action, target) in row.items():
                if action is Shift:
                    actions[name] = (True, target)
                else:
                    if target not in reductions:
                        callback = callbacks[target]
                        reductions[target] = (len(target.expansion), target.origin.name,
                                              None if callback is pass_up else callback)
                    actions[name] = (False, reductions[target])
            self.actions[state] = actions

    def _scanner(self, state: Any) -> _Scanner:
        lexer = self.lexers[state]
        assert isinstance(lexer, BasicLexer)
        made = self._by_lexer.get(id(lexer))
        if made is not None:
            return made
        scanner = lexer.scanner  # built on first use: sorts the terminals, and folds keywords into names
        alternatives = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals
                                if t.name not in self.blank_types)
        pattern = f"{self.skip_blanks}(?:{alternatives})"
        keywords: dict[str, dict[str, str]] = {}
        for name, callback in lexer.callback.items():
            if isinstance(callback, UnlessCallback):
                words = callback.scanner.terminals
                assert all(t.pattern.type == "str" and not t.pattern.flags for t in words), \
                    f"{name}: keywords with flags are not read as plain words"
                keywords[name] = {t.pattern.value: t.name for t in words}
            else:
                assert name in self.comment_types, f"{name}: only ignored terminals may have lexer callbacks"
        made = self._by_lexer[id(lexer)] = re.compile(pattern, lexer.g_regex_flags).match, keywords
        return made

    def parse(self, text: str, comments: list[tuple[int, int, str]]) -> Any:
        """The start rule's value for ``text``, appending each comment to ``comments`` as (line, column, text
        without trailing space); or NotRecognized where the text leaves the language. Exceptions raised by the
        reductions go up as they are."""
        scanners, actions, comment_types, multiline = self.scanners, self.actions, self.comment_types, self.multiline
        make = str.__new__
        states: list[Any] = [self.start]
        finished = self.end
        values: list[Any] = []
        pos, line, line_start = 0, 1, 0
        while True:
            match, keywords = scanners[states[-1]]
            found = match(text, pos)
            if found is None:  # the end of the text, or a character no terminal of this state matches
                if self.only_blanks(text, pos) is None:
                    raise NotRecognized
                kind, token = "$END", None
            else:
                kind = found.lastgroup  # type: ignore[assignment]  # every alternative is a named group
                start = found.start(kind)
                if start != pos:  # the blanks before it, skipped by the same match
                    newlines = text.count("\n", pos, start)
                    if newlines:
                        line += newlines
                        line_start = text.rindex("\n", pos, start) + 1
                value = found.group(kind)
                pos = end = found.end()
                first_line, column = line, start - line_start + 1
                if kind in multiline and "\n" in value:
                    line += value.count("\n")
                    line_start = start + value.rindex("\n") + 1
                if kind in comment_types:
                    comments.append((first_line, column, value.rstrip()))
                    continue
                if kind in keywords:
                    kind = keywords[kind].get(value, kind)
                # A Token as Lark's lexer makes it, its slots set directly (Token() goes through keyword handling).
                token = make(Token, value)
                token.type, token.value, token.start_pos, token.end_pos = kind, value, start, end
                token.line, token.column = first_line, column
                token.end_line, token.end_column = line, end - line_start + 1
            while True:  # reduce as often as the state says, then shift the token
                try:
                    shift, target = actions[states[-1]][kind]
                except KeyError:
                    raise NotRecognized from None
                if shift:
                    if token is None:  # nothing follows the end; Lark's tables never shift it, and neither does this
                        raise NotRecognized
                    states.append(target)
                    values.append(token)
                    break
                taken, rule, callback = target
                if callback is None:  # the one value stands for the rule as it is
                    del states[-1]
                else:
                    if taken:
                        children = values[-taken:]
                        del states[-taken:]
                        del values[-taken:]
                    else:
                        children = []
                    values.append(callback(children))
                state = actions[states[-1]][rule][1]
                if state == finished:  # only reached at the end of the text, with the start rule reduced
                    return values[-1]
                states.append(state)
