"""The `nurture` command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from . import check, fmt  # noqa: F401  (importing a module registers its commands)
from .app import app

__all__ = ["app"]
