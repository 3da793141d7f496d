"""The canonical layout of campaign files: one printing function per node kind, comments kept in place.

``expressions`` gives the one-line text of each node, ``layout`` turns statements into indented lines and
``comments`` puts the comments and blank lines back among them.
"""

from __future__ import annotations

from .. import ast as a
from ..parser import parse_source
from ..source import SourceFile
from . import accounts as _accounts  # noqa: F401 - registers the account constructs' layout
from .comments import comments_and_blanks, place, render
from .expressions import number, quote, text_of
from .layout import Writer, emit
from .sla import follow_up_header  # noqa: F401  # registers how follow-up SLAs print
from .topics import __name__ as _topics_registered  # noqa: F401  (registers the topic statements)

__all__ = ["format_file", "format_source", "number", "quote", "text_of"]


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
    extras = comments_and_blanks(file, text)
    return render(out.lines, place(out.lines, extras))


def format_source(text: str, path: str = "<string>") -> str:
    """Parse ``text`` and return its canonical layout; raises DslSyntaxError if it does not parse."""
    source = SourceFile(path, text)
    return format_file(parse_source(source), source.text)
