"""A Pygments lexer for `.nurture` files, so documentation and terminals can highlight the language.

Registered under the name `nurture` through the `pygments.lexers` entry point in pyproject.toml. The keywords
are read from the grammar itself, so a keyword added to the language is highlighted without a change here.
"""

from __future__ import annotations

import re
from pathlib import Path

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

GRAMMAR = Path(__file__).with_name("grammar.lark")
TYPES = ("text", "number", "bool", "date", "timezone")
CONSTANTS = ("true", "false")
#: words the grammar spells with a regex rather than a quoted literal
REGEX_KEYWORDS = ("minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "emails",
                  "weekdays", "weekends", "every")
DECLARES = ("score", "stage", "journey")


def grammar_keywords(grammar: Path = GRAMMAR) -> list[str]:
    """Every keyword the grammar spells as a quoted literal (`"journey"`, `"half-life"`), sorted."""
    text = grammar.read_text(encoding="utf-8")
    text = re.sub(r"//[^\n]*", "", text)  # comments mention words that are not keywords
    return sorted(set(re.findall(r'"([a-z][a-z-]*)"', text)))


_KEYWORDS = [k for k in grammar_keywords() if k not in TYPES + CONSTANTS]
_OTHER_WORDS = [w for w in REGEX_KEYWORDS if w not in _KEYWORDS]


class NurtureLexer(RegexLexer):
    """The Nurture campaign language: scores, stages, journeys and scenarios."""

    name = "Nurture"
    aliases = ["nurture"]
    filenames = ["*.nurture"]
    mimetypes = ["text/x-nurture"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(\\.|[^"\\\n])*"', String.Double),
            (r"(matches)(\s+)(/(?:\\.|[^/\\\n])+/[imsx]*)", bygroups(Keyword, Whitespace, String.Regex)),
            (r"\b(" + "|".join(DECLARES) + r")(\s+)([A-Za-z_]\w*)(?=\s*[\"{])",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+", Name.Entity),  # events: `page.viewed`
            (r"\d{4}-\d{2}-\d{2}", Number.Other),  # dates
            (r"\d{1,2}:\d{2}", Number.Other),  # times of day
            (r"\d+(w|d|h|min)\b", Number.Other),  # a scenario's offsets
            (r"[+-]\d+", Number.Integer),  # points
            (r"\d+%", Number.Integer),
            (r"\d+(\.\d+)?", Number),
            (r"half-life\b", Keyword),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(_OTHER_WORDS, suffix=r"\b"), Keyword),
            (words(TYPES, suffix=r"\b"), Keyword.Type),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"([A-Za-z_]\w*)(\s*)(:)(?!\s*(?:" + "|".join(TYPES) + r"|list)\b)",
             bygroups(Name.Label, Whitespace, Punctuation)),
            (r"[A-Za-z_]\w*", Name),
            (r">=|<=|!=|[=<>+-]", Operator),
            (r"[{}()\[\],:.]", Punctuation),
            (r".", Error),
        ],
    }
