"""The `nurture` command line: one module per command group, all registered on one Typer app."""

from __future__ import annotations

from . import check  # noqa: F401,E402  (registers commands)
from .app import app

__all__ = ["app"]
