"""The fused lexer-and-parser loop reads every text exactly as Lark's own parser does.

`parse_source` parses with `dsl.lalr` and falls back to Lark only where the loop gives up. So for any text the
loop must either give up where Lark raises too, or build the same values, spans included (compared through
pickles, which keep every field and every name's span), with the same comments. The texts are every campaign
file of the project, a few written to reach the lexer's corners, and thousands of mutations of them.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import pytest
from lark.exceptions import UnexpectedInput

from dsl import parser as dsl_parser
from dsl.errors import DslSyntaxError
from dsl.lalr import NotRecognized
from dsl.parser import parse_source, read_source
from dsl.source import SourceFile
from dsl.transformer import ToAst

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(path for path in [*ROOT.glob("journeys/**/*.nurture"), ROOT / "tests" / "dsl" / "sample.nurture",
                                 *(ROOT / "tests" / "dsl" / "cases").glob("**/*.nurture")]
               if read_source(path)[0] is not None)

CORNERS = {
    # `every day` is one token that may span lines; the positions after it must count that newline
    "multi-line token": 'journey j {\n  send "a" at 09:00 on every\n     day\n  wait 2 days  # after it\n'
                        '  send "b"\n}\n',
    # words that are keywords elsewhere, used where only a name fits
    "keywords as names": "attributes {\n  day: text\n  plan: text\n  text: text\n  week: number = 0\n}\n"
                         "events {\n  page.viewed { day: text }\n}\n",
    "comments only": "# one\n#\n   # three, indented, no newline at the end",
    "empty": "",
    "blank": " \n\t\n",
    "comment at the end": 'journey j {\n  send "a" # trailing\n}  # closing',
    # white space is skipped in the same match as the token after it: every kind, in runs, before the end
    "blank runs": '\t\f journey\tj\f{\r\n  send "a"\n\n\n\t}\n \t\f\r\n',
    "a stray character after blanks": 'journey j {\n  send "a"\n}\n   \n  @',
}


def _texts() -> list[tuple[str, str]]:
    texts = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")) for path in FILES]
    texts += list(CORNERS.items())
    # Mutations: a line dropped, doubled or cut short, and a token dropped; most leave the language.
    rnd = random.Random(11)
    mutated = []
    for name, text in texts[: len(FILES)]:
        lines = text.split("\n")
        for turn in range(40):
            at = rnd.randrange(len(lines))
            changed = list(lines)
            how = turn % 4
            if how == 0:
                del changed[at]
            elif how == 1:
                changed.insert(at, changed[at])
            elif how == 2:
                changed[at] = changed[at][: rnd.randrange(len(changed[at]) + 1)]
            else:
                words = changed[at].split(" ")
                del words[rnd.randrange(len(words))]
                changed[at] = " ".join(words)
            mutated.append((f"{name}, mutation {turn}", "\n".join(changed)))
    return texts + mutated


def _read(parse: Any, text: str, path: str) -> tuple[str, Any]:
    """What one parse gives: ("value", its pickle and the comments), or ("refused", the exception's kind)."""
    comments: list[tuple[int, int, str]] = []
    token = dsl_parser._comments.set(comments)
    building = dsl_parser._transformer.set(ToAst(path))
    try:
        value = parse(text, comments)
    except (NotRecognized, UnexpectedInput):
        return "refused", "syntax"
    except Exception as err:  # noqa: BLE001 - a reduction's own refusal (a number too long) must match too
        return "refused", type(err).__name__
    finally:
        dsl_parser._comments.reset(token)
        dsl_parser._transformer.reset(building)
    return "value", (pickle.dumps(value[0]), comments)


TEXTS = _texts()


def test_the_texts_reach_both_outcomes():
    """The mutations are a real test only if many of them still parse and many do not."""
    outcomes = [_read(lambda text, comments: dsl_parser._lark().parse(text), text, "x.nurture")[0]
                for _, text in TEXTS]
    assert outcomes.count("value") > 200 and outcomes.count("refused") > 200


@pytest.mark.parametrize("chunk", range(8))
def test_the_loop_reads_every_text_as_lark_does(chunk: int):
    for name, text in TEXTS[chunk::8]:
        path = f"{name}.nurture"
        ours = _read(dsl_parser._tables().parse, text, path)
        lark = _read(lambda text, comments: dsl_parser._lark().parse(text), text, path)
        assert ours == lark, name


def test_a_syntax_error_is_reported_from_lark_as_before():
    """Where the loop gives up, the diagnostic is Lark's: what was expected, at the token that broke the rule."""
    text = 'journey j {\n  send "a"\n  wait 2 parsecs\n}\n'
    assert _read(dsl_parser._tables().parse, text, "bad.nurture") == ("refused", "syntax")
    with pytest.raises(DslSyntaxError) as err:
        parse_source.__wrapped__(SourceFile("bad.nurture", text))
    (diagnostic,) = err.value.diagnostics
    assert diagnostic.code == "E001"
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 10)
    assert "parsecs" in diagnostic.title


def test_comments_come_back_in_order_with_their_places():
    parsed = parse_source.__wrapped__(SourceFile("c.nurture", CORNERS["comment at the end"]))
    assert parsed.comments == ((2, 12, "# trailing"), (3, 4, "# closing"))
