"""Consent: the suppression list and the leads' unsubscribe flag, changed together."""

from __future__ import annotations

from engine.store.base import Repository


class Suppressions(Repository):
    """Consent: the suppression list and the leads' unsubscribe flag, changed together."""
