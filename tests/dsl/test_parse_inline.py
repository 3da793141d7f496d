"""The AST built during the parse is the one Lark's own transformer builds from the parse tree, spans included.

`parse_source` builds nodes in the LALR parser's reductions, working out each rule's position itself; the
reference here is the plain way: Lark's parse tree with `propagate_positions`, then `ToAst().transform`.
Node equality ignores spans, so spans are compared one by one.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lark import Tree

from dsl.ast.nodes import Name
from dsl.errors import DslSyntaxError
from dsl.parser import build_parser, collector_paused, parse_source, read_source
from dsl.source import SourceFile
from dsl.transformer import ToAst

ROOT = Path(__file__).resolve().parents[2]
# every campaign file of the project and of the language tests that can be read as text
CAMPAIGNS = sorted(path for path in [*ROOT.glob("journeys/**/*.nurture"), ROOT / "tests" / "dsl" / "sample.nurture",
                                     *(ROOT / "tests" / "dsl" / "cases").glob("**/*.nurture")]
                   if read_source(path)[0] is not None)


def _spans(value: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path in the tree, type, span) of every node and name, depth first."""
    if isinstance(value, Name):
        yield where, "Name", value.span
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield where, type(value).__name__, getattr(value, "span", None)
        for f in dataclasses.fields(value):
            yield from _spans(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _spans(item, f"{where}[{i}]")
    elif isinstance(value, Tree):
        yield where, f"Tree({value.data})", (value.meta.line, value.meta.column,
                                             value.meta.end_line, value.meta.end_column)
        for i, item in enumerate(value.children):
            yield from _spans(item, f"{where}/{i}")


@pytest.fixture(scope="module")
def reference_parser():
    return build_parser(None)


@pytest.mark.parametrize("path", CAMPAIGNS, ids=lambda p: str(p.relative_to(ROOT)))
def test_inline_ast_equals_the_transformed_tree(path: Path, reference_parser):
    source, problems = read_source(path)
    assert source is not None, problems
    try:
        built = parse_source.__wrapped__(source)  # not the per-process cache: this parse
    except DslSyntaxError:
        with pytest.raises(Exception):  # noqa: B017 - the reference refuses the same text
            reference_parser.parse(source.text)
        return
    expected = ToAst(source.path).transform(reference_parser.parse(source.text))
    assert list(built.items) == expected
    assert list(_spans(list(built.items))) == list(_spans(expected))


def test_positions_include_dropped_keywords_and_brackets():
    """A rule's span runs from its first to its last token, keywords and parentheses included."""
    text = 'stage s {\n  when (fit >= 20\n    and engagement >= 40)\n}\n'
    (stage,) = parse_source.__wrapped__(SourceFile("p.nurture", text)).items
    assert (stage.span.line, stage.span.column, stage.span.end_line, stage.span.end_column) == (1, 1, 4, 2)
    (promote,) = stage.items
    assert (promote.span.line, promote.span.column) == (2, 3)  # from `when`
    assert (promote.span.end_line, promote.span.end_column) == (3, 26)  # to the closing `)`
    condition = promote.condition
    assert (condition.span.line, condition.span.column, condition.span.end_line, condition.span.end_column) \
        == (2, 9, 3, 25)  # the `and` inside the brackets


def test_each_parse_builds_its_own_nodes_with_its_own_path():
    text = 'journey j {\n  send "welcome"\n}\n'
    first = parse_source.__wrapped__(SourceFile("a.nurture", text))
    second = parse_source.__wrapped__(SourceFile("b.nurture", text))
    assert first.items == second.items
    assert first.items[0].span.path == "a.nurture" and second.items[0].span.path == "b.nurture"
    assert first.items[0] is not second.items[0]


def test_long_lists_are_not_nesting():
    """A file of a thousand declarations parses: items side by side do not count as depth."""
    text = "attributes {\n" + "".join(f"  a{i}: text\n" for i in range(2000)) + "}\n"
    (attributes,) = parse_source.__wrapped__(SourceFile("long.nurture", text)).items
    assert len(attributes.decls) == 2000


@pytest.mark.parametrize("nested", ["not " * 3000 + "x > 1", "(" * 3000 + "x > 1" + ")" * 3000])
def test_thousands_of_nested_nots_are_reported_not_crashed(nested: str):
    text = f"stage s {{ when {nested} }}\n"
    if nested.startswith("("):  # brackets alone make no nodes: the condition is just `x > 1`
        (stage,) = parse_source.__wrapped__(SourceFile("deep.nurture", text)).items
        condition = stage.items[0].condition
        assert (str(condition.name), condition.op, condition.value.value) == ("x", ">", 1)
        return
    with pytest.raises(DslSyntaxError) as err:
        parse_source.__wrapped__(SourceFile("deep.nurture", text))
    (diagnostic,) = err.value.diagnostics
    assert diagnostic.code == "E001" and "nested too deeply" in diagnostic.title


def test_what_a_paused_load_built_goes_to_the_oldest_generation_and_a_frozen_heap_stays_frozen():
    """The trees a load builds live on after it: the collector's next young collection must not scan them all
    at once. A process that froze its own heap keeps it frozen."""
    assert gc.isenabled()
    gc.collect()
    with collector_paused():
        assert not gc.isenabled()
        built = [[i] for i in range(50_000)]  # containers the collector tracks
    assert gc.isenabled()
    oldest = gc.get_objects(generation=2)  # no young collection scanned them on the way there
    assert any(o is built for o in oldest) and any(o is built[-1] for o in oldest)
    del oldest
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            more = [[i] for i in range(1_000)]
        assert gc.get_freeze_count() == frozen and gc.isenabled()
        del more
    finally:
        gc.unfreeze()
