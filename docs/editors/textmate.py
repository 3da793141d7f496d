"""Writes the TextMate grammar of the VS Code extension (vscode/syntaxes/nurture.tmLanguage.json) from the
keywords of dsl/grammar.lark. Run it after adding a keyword to the language:

    python docs/editors/textmate.py

tests/lsp/test_highlighting.py fails when the grammar file is not what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dsl.lexer import REGEX_KEYWORDS, TYPES, grammar_keywords  # noqa: E402

OUT = Path(__file__).resolve().parent / "vscode" / "syntaxes" / "nurture.tmLanguage.json"
CONSTANTS = ("true", "false")
LOGICAL = ("and", "or", "not")
DECLARE = ("settings", "attributes", "events", "score", "stage", "journey", "scenario", "topics")


def _any_of(words: set[str] | tuple[str, ...]) -> str:
    """A regex matching any of ``words`` as a whole word; longer words first."""
    return r"\b(?:" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + r")\b"


def textmate() -> dict:
    keywords = set(grammar_keywords()) | set(REGEX_KEYWORDS)
    control = keywords - set(TYPES) - set(CONSTANTS) - set(LOGICAL) - set(DECLARE)
    rules = {
        "comment": {"name": "comment.line.number-sign.nurture", "match": "#.*$"},
        "string": {"name": "string.quoted.double.nurture", "begin": '"', "end": '"|$',
                   "patterns": [{"name": "constant.character.escape.nurture", "match": r"\\."}]},
        "regex": {"match": r"\b(matches)\s+(/(?:\\.|[^/\\])+/[imsx]*)",
                  "captures": {"1": {"name": "keyword.control.nurture"}, "2": {"name": "string.regexp.nurture"}}},
        "declaration": {"match": r'\b(score|stage|journey)\s+([A-Za-z_][A-Za-z0-9_]*)(?=\s*["{])',
                        "captures": {"1": {"name": "keyword.other.declaration.nurture"},
                                     "2": {"name": "entity.name.type.nurture"}}},
        "event": {"name": "variable.other.constant.event.nurture",
                  "match": r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+\b"},
        "number": {"name": "constant.numeric.nurture",
                   "match": r"(?:\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}\b|\b\d+(?:w|d|h|min)\b|[+-]\d+\b|\b\d+%"
                            r"|\b\d+(?:\.\d+)?\b)"},
        "declare": {"name": "keyword.other.declaration.nurture", "match": _any_of(DECLARE)},
        "logical": {"name": "keyword.operator.logical.nurture", "match": _any_of(LOGICAL)},
        "keyword": {"name": "keyword.control.nurture", "match": _any_of(control)},
        "type": {"name": "storage.type.nurture", "match": _any_of(TYPES)},
        "constant": {"name": "constant.language.nurture", "match": _any_of(CONSTANTS)},
        "label": {"match": r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(:)(?!\s*(?:" + "|".join((*TYPES, "list")) + r")\b)",
                  "captures": {"1": {"name": "entity.name.label.nurture"},
                               "2": {"name": "punctuation.separator.nurture"}}},
        "operator": {"name": "keyword.operator.comparison.nurture", "match": ">=|<=|!=|=|<|>"},
        "punctuation": {"name": "punctuation.nurture", "match": r"[{}()\[\],:]"},
    }
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "Nurture",
        "scopeName": "source.nurture",
        "fileTypes": ["nurture"],
        "patterns": [{"include": f"#{name}"} for name in rules],
        "repository": rules,
    }


def text() -> str:
    return json.dumps(textmate(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(text(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
