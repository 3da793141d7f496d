"""Runs the parser's LALR tables over a text in one loop of its own: the contextual lexer and the parser fused.

Lark builds the tables (the states, their actions, and for each state the terminals its lexer may match), and
Lark still reports every syntax error. This loop only takes the text that is correct, which is nearly all text
a parse ever sees, at half Lark's cost per token: Lark pulls each token through a generator, three method calls
and a line counter, and builds every token through keyword arguments, where this loop does it inline. When the
loop meets a character or a token that no state accepts, it gives up (`NotRecognized`) and the caller parses
the same text with Lark, whose exception says exactly what was expected, as it always did.

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


class NotRecognized(Exception):
    """The text is not in the language at some point; Lark's own parse says where and why."""


# A state's lexer: its terminals as one regex of named groups, and for each terminal whose matches may be
# keywords (`NAME` matching `journey`), the keywords it stands for in that state.
_Scanner = tuple[Callable[[str, int], "re.Match[str] | None"], dict[str, dict[str, str]]]
# A state's actions by terminal or rule name: (True, next state) to shift, (False, reduction) to reduce, where
# a reduction is (how many values it takes, the rule's name, its callback).
_Actions = dict[str, tuple[bool, Any]]


class Tables:
    """What the loop reads, taken once from a built Lark parser whose reductions are ``callbacks``."""

    def __init__(self, parser: Lark, callbacks: dict[Any, Callable[[list[Any]], Any]]) -> None:
        lexer = parser.parser.lexer
        assert isinstance(lexer, ContextualLexer), "the parser must be built with the contextual lexer"
        table = parser.parser.parser.parser.parse_table
        (start,) = parser.options.start
        self.start, self.end = table.start_states[start], table.end_states[start]
        self.ignored: frozenset[str] = frozenset(parser.lexer_conf.ignore)
        self.comment_types = frozenset(name for name in parser.lexer_conf.callbacks if name in self.ignored)
        scanners: dict[int, _Scanner] = {}
        self.scanners: dict[Any, _Scanner] = {}
        self.multiline: set[str] = set()
        for state, state_lexer in lexer.lexers.items():
            assert isinstance(state_lexer, BasicLexer)
            if id(state_lexer) not in scanners:
                scanners[id(state_lexer)] = self._scanner(state_lexer)
                self.multiline |= state_lexer.newline_types
            self.scanners[state] = scanners[id(state_lexer)]
        reductions: dict[Any, tuple[int, str, Callable[[list[Any]], Any]]] = {}
        self.actions: dict[Any, _Actions] = {}
        for state, row in table.states.items():
            actions: _Actions = {}
            for name, (action, target) in row.items():
                if action is Shift:
                    actions[name] = (True, target)
                else:
                    if target not in reductions:
                        reductions[target] = (len(target.expansion), target.origin.name, callbacks[target])
                    actions[name] = (False, reductions[target])
            self.actions[state] = actions

    def _scanner(self, lexer: BasicLexer) -> _Scanner:
        scanner = lexer.scanner  # built on first use: sorts the terminals, and folds keywords into names
        pattern = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals)
        keywords: dict[str, dict[str, str]] = {}
        for name, callback in lexer.callback.items():
            if isinstance(callback, UnlessCallback):
                words = callback.scanner.terminals
                assert all(t.pattern.type == "str" and not t.pattern.flags for t in words), \
                    f"{name}: keywords with flags are not read as plain words"
                keywords[name] = {t.pattern.value: t.name for t in words}
            else:
                assert name in self.comment_types, f"{name}: only ignored terminals may have lexer callbacks"
        return re.compile(pattern, lexer.g_regex_flags).match, keywords

    def parse(self, text: str, comments: list[tuple[int, int, str]]) -> Any:
        """The start rule's value for ``text``, appending each comment to ``comments`` as (line, column, text
        without trailing space); or NotRecognized where the text leaves the language. Exceptions raised by the
        reductions go up as they are."""
        scanners, actions, ignored, multiline = self.scanners, self.actions, self.ignored, self.multiline
        make = str.__new__
        states: list[Any] = [self.start]
        values: list[Any] = []
        pos, line, line_start, size = 0, 1, 0, len(text)
        while pos < size:
            match, keywords = scanners[states[-1]]
            found = match(text, pos)
            if found is None:
                raise NotRecognized
            kind: str = found.lastgroup  # type: ignore[assignment]  # every alternative is a named group
            value = found.group()
            end = found.end()
            first_line, column = line, pos - line_start + 1
            if kind in multiline and "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            if kind in ignored:
                if kind in self.comment_types:
                    comments.append((first_line, column, value.rstrip()))
                pos = end
                continue
            if kind in keywords:
                kind = keywords[kind].get(value, kind)
            # A Token as Lark's lexer makes it, its slots set directly (Token() goes through keyword handling).
            token = make(Token, value)
            token.type, token.value, token.start_pos, token.end_pos = kind, value, pos, end
            token.line, token.column, token.end_line, token.end_column = first_line, column, line, end - line_start + 1
            pos = end
            while True:  # reduce as often as the state says, then shift the token
                try:
                    shift, target = actions[states[-1]][kind]
                except KeyError:
                    raise NotRecognized from None
                if shift:
                    states.append(target)
                    values.append(token)
                    break
                self._reduce(target, states, values)
        while True:  # the end of the text: reduce until the start rule is complete
            try:
                shift, target = actions[states[-1]]["$END"]
            except KeyError:
                raise NotRecognized from None
            assert not shift
            self._reduce(target, states, values)
            if states[-1] == self.end:
                return values[-1]

    def _reduce(self, reduction: tuple[int, str, Callable[[list[Any]], Any]], states: list[Any],
                values: list[Any]) -> None:
        taken, rule, callback = reduction
        if taken:
            children = values[-taken:]
            del states[-taken:]
            del values[-taken:]
        else:
            children = []
        values.append(callback(children))
        states.append(self.actions[states[-1]][rule][1])
