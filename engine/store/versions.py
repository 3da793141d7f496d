"""Campaign versions: the files of each applied version and their hashes."""

from __future__ import annotations

from engine.store.base import Repository


class Versions(Repository):
    """Campaign versions: the files of each applied version and their hashes."""
