"""Semantic checks over a whole campaign (placeholder until the checker lands)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import ast as a
from .diagnostics import Diagnostic


def check_files(files: Sequence[a.File], template_dir: Path) -> list[Diagnostic]:
    return []
