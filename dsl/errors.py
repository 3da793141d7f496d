"""The language's exceptions; each carries the diagnostics that explain it."""

from __future__ import annotations

from .diagnostics import Diagnostic


class DslError(Exception):
    """Root of the language's errors."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(f"{d.span}: {d.title}" for d in diagnostics))


class DslSyntaxError(DslError):
    """A file could not be parsed."""


class DslCheckError(DslError):
    """A campaign parsed but has errors."""
