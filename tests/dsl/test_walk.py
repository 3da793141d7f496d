"""`Node.walk` looks only in the fields whose declared type may hold a node; it must still reach every node."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsl.ast.nodes import Node
from dsl.parser import parse_source, read_source

ROOT = Path(__file__).resolve().parents[2]
#: every campaign file of the project and its tests, but the error cases, which do not parse
SOURCES = sorted(path for path in [*(ROOT / "journeys").rglob("*.nurture"), *(ROOT / "tests").rglob("*.nurture")]
                 if "err" not in path.parts)


def every_node(root: Node) -> Iterator[Node]:
    """Depth first, looking in every field whatever its declared type."""
    yield root
    for f in dataclasses.fields(root):
        value = getattr(root, f.name)
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, Node):
                yield from every_node(child)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_walk_reaches_every_node_in_source_order(path: Path) -> None:
    source, _ = read_source(path)
    assert source is not None
    tree = parse_source(source)
    assert [id(n) for n in tree.walk()] == [id(n) for n in every_node(tree)]
