"""The HTTP side: event and lead intake, sales feedback, tracking, unsubscribe, health and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.http.app import Limits, create_app

__all__ = ["Limits", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when the app is wanted, so CLI commands that share helpers stay quick
    if name in __all__:
        from engine.http import app

        return getattr(app, name)
    raise AttributeError(name)
