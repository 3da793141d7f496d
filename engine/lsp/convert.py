"""Spans and diagnostics as the protocol writes them: 0-based lines, columns in the client's code units."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from dsl.diagnostics import Diagnostic, Severity
from dsl.source import SourceFile, Span

SOURCE = "nurture"


def uri_of(path: str | Path) -> str:
    uri = from_fs_path(str(path))
    assert uri is not None  # an absolute file path always has a file URI
    return uri


def to_range(span: Span, lines: Sequence[str], codec: PositionCodec) -> types.Range:
    """A span (1-based, columns in characters) as a protocol range over ``lines``."""
    start = ServerTextPosition(max(span.line - 1, 0), max(span.column - 1, 0))
    end = ServerTextPosition(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    return types.Range(_position(start, lines, codec), _position(end, lines, codec))


def _position(at: ServerTextPosition, lines: Sequence[str], codec: PositionCodec) -> types.Position:
    if at.line >= len(lines):  # the end of the file: one past the last line
        return types.Position(line=at.line, character=0)
    return codec.position_to_client_units(lines, at)


def to_diagnostic(diag: Diagnostic, sources: dict[str, SourceFile], codec: PositionCodec) -> types.Diagnostic:
    """One campaign diagnostic, with its label and help in the message and its notes as related places."""
    message = diag.title
    if diag.label:
        message += f": {diag.label}"
    if diag.help:
        message += f"\nhelp: {diag.help}"
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=uri_of(note.span.path), range=to_range(note.span, _lines(note.span.path,
                                                                                               sources), codec)),
            message=note.message)
        for note in diag.notes if Path(note.span.path).is_absolute()
    ]
    severity = types.DiagnosticSeverity.Error if diag.severity is Severity.ERROR else types.DiagnosticSeverity.Warning
    return types.Diagnostic(range=to_range(diag.span, _lines(diag.span.path, sources), codec), message=message,
                            severity=severity, code=diag.code, source=SOURCE, related_information=related or None)


def _lines(path: str, sources: dict[str, SourceFile]) -> Sequence[str]:
    source = sources.get(path)
    return source.lines if source is not None else ()
