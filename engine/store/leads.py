"""The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""

from __future__ import annotations

from engine.store.base import Repository


class Leads(Repository):
    """The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""
