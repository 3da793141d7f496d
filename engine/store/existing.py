"""Opening a store that must already exist at the latest schema: readers never create or upgrade one."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from engine.errors import StoreNotReady
from engine.store.db import MIGRATIONS
from engine.store.store import Store

__all__ = ["StoreNotReady", "latest_revision", "location", "open_existing"]


@cache
def _migrations() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def latest_revision() -> str | None:
    """The newest migration this version of Nurture ships."""
    return _migrations().get_current_head()


def _known(revision: str) -> bool:
    try:
        return _migrations().get_revision(revision) is not None
    except CommandError:
        return False


def location(store: Store) -> str:
    """The store's URL as people may see it (no password)."""
    return store.engine.url.render_as_string(hide_password=True)


def open_existing(url: str) -> Store:
    """The store at ``url`` as it is, when it exists at the latest schema; StoreNotReady otherwise.

    Nothing is created: a missing SQLite file is not made by looking for it.
    """
    store = Store.connect(url)
    shown = location(store)
    missing = StoreNotReady(f"no Nurture store at {shown} - run `nurture apply` (or `nurture db upgrade`) first")
    if store.dialect == "sqlite":
        path = store.sqlite_path
        if path is None or not Path(path).is_file():  # connecting would create the file
            store.dispose()
            raise missing
    try:
        with store.transaction(dry_run=True) as tx:  # a look, nothing to keep
            revision = tx.meta.schema_revision()
    except BaseException:
        store.dispose()
        raise
    latest = latest_revision()
    if revision != latest:
        store.dispose()
        if revision is None:
            raise missing
        if _known(revision):
            raise StoreNotReady(f"the Nurture store at {shown} has an older schema ({revision}; this version "
                                f"reads {latest}) - run `nurture db upgrade` first")
        raise StoreNotReady(f"the Nurture store at {shown} has schema {revision}, newer than this version of "
                            "Nurture knows - upgrade Nurture first")
    return store
