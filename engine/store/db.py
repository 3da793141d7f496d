"""Opening the store: SQLite (WAL) or PostgreSQL, upgraded to the latest schema on first use."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from engine.errors import ConfigError, StoreNotReady

MIGRATIONS = Path(__file__).parent / "migrations"
# JSON columns (lead state, event props) are read and written on every batch: use the fast codec.
_JSON = {"json_serializer": lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode(),
         "json_deserializer": orjson.loads}


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    # A checkpoint copies the WAL's pages into the file, inside the commit that crosses this many pages. The
    # pages every batch rewrites (leads, indexes) are copied once per checkpoint, so checkpointing every
    # 10,000 pages (a WAL of up to ~40 MB) rather than SQLite's 1,000 costs ingest ~8 % less CPU.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_db_engine(url: str) -> Engine:
    """An SQLAlchemy engine for ``url`` with the settings the store relies on."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"database url {url!r} is not valid; use sqlite:///nurture.db or "
                          "postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **_JSON)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # Take the write lock when a transaction starts: one writer at a time, no lock upgrades
        # that fail half-way, and a key looked up inside a transaction stays absent until it ends.
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, **_JSON)
    raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}; use SQLite or PostgreSQL")


def _alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _head() -> str | None:
    """The latest migration; the scripts are read once per process."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def upgrade(engine: Engine, *, existing: bool = True) -> None:
    """Bring the schema to the latest migration (a no-op when it is already there).

    An empty database gets the whole schema. A store at an older schema is upgraded only with
    ``existing``: an upgrade is a step its operator takes on purpose (after a backup), with
    `nurture db upgrade`, never a side effect of another command.
    """
    with engine.begin() as conn:
        # a store already at the latest schema is told apart without loading every migration script
        current = MigrationContext.configure(conn).get_current_revision()
        if current == _head():
            return
        shown = engine.url.render_as_string(hide_password=True)
        if current is not None and not existing:
            raise StoreNotReady(f"the Nurture store at {shown} has an older schema ({current}; this version uses "
                                f"{_head()}) - back it up, then run `nurture db upgrade`")
        try:
            command.upgrade(_alembic_config(conn), "head")
        except CommandError:  # a revision the scripts do not know: a newer Nurture made this store
            raise StoreNotReady(f"the Nurture store at {shown} has schema {current}, newer than this version of "
                                "Nurture knows - upgrade Nurture first") from None


def open_store(url: str, *, upgrade_existing: bool = False) -> Engine:
    """Create the engine, and the schema in an empty database: commands that write start here.

    An existing store at an older schema is refused with the fix, unless ``upgrade_existing``.
    """
    engine = create_db_engine(url)
    try:
        upgrade(engine, existing=upgrade_existing)
    except sa.exc.OperationalError as err:
        raise ConfigError(f"cannot open the database {engine.url.render_as_string()}: "
                          f"{err.orig}") from None
    except StoreNotReady:
        engine.dispose()
        raise
    return engine


def create_sqlite_store(path: Path) -> None:
    """A new SQLite store at ``path`` with the latest schema, copied from one migrated once per process:
    for short runs in a store of their own (scenario tests), migrating each store afresh costs more than
    the run itself."""
    path.write_bytes(_migrated_sqlite_image())


@functools.cache
def _migrated_sqlite_image() -> bytes:
    with tempfile.TemporaryDirectory(prefix="nurture-schema-") as tmp:
        database = Path(tmp) / "schema.db"
        open_store(f"sqlite:///{database}").dispose()  # the last connection closed moves the WAL into the file
        return database.read_bytes()


def throwaway_store(engine: Engine) -> None:
    """A store deleted after the run (simulations, backtests): commits need not wait for the disk, and a
    large page cache keeps its indexes in memory (10,000 leads over 90 days: ~11% faster)."""

    def fast(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=OFF")
        dbapi_conn.execute("PRAGMA cache_size=-262144")  # 256 MB of pages: the whole store, at most

    engine.dispose()  # connections opened from now on get the pragmas
    sa.event.listen(engine, "connect", fast)
