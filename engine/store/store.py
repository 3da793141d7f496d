"""The store as one object: opened once, handing out units of work with a repository per concern."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import cached_property

from sqlalchemy.engine import Connection, Engine

from engine.store.accounts import Accounts, ContactCache, MemberRow
from engine.store.actions import Actions
from engine.store.checkpoints import checkpoints_in_background, empty_log
from engine.store.daemons import Daemons
from engine.store.db import create_db_engine, open_store, throwaway_store
from engine.store.enrollments import Enrollments
from engine.store.events import Events
from engine.store.experiments import Experiments
from engine.store.figures import Figures
from engine.store.history import History
from engine.store.insights import Insights
from engine.store.leads import Leads
from engine.store.ledger import Ledger
from engine.store.mailroom import Mailroom
from engine.store.meta import MetaValues
from engine.store.outbox import Outbox
from engine.store.privacy import Privacy, SaltCache
from engine.store.quarantine import Quarantine
from engine.store.reports import Reports
from engine.store.signals import Signals
from engine.store.sla import SlaClocks
from engine.store.suppressions import Suppressions
from engine.store.tallies import Tallies
from engine.store.topics import TopicOptOuts
from engine.store.users import Users
from engine.store.versions import Versions
from engine.store.visitors import Visitors

log = logging.getLogger("nurture.store")


class Tx:
    """One transaction; each repository works inside it, so what they write commits together or not at all."""

    def __init__(self, conn: Connection, contacts: ContactCache | None = None, salts: SaltCache | None = None) -> None:
        self.conn = conn
        self.contacts = contacts
        self.salts = salts
        #: the erasure salt as this transaction read it, kept in ``salts`` once the transaction commits
        self.salt_read: list[str] = []
        #: account contacts read from the leads table, kept in ``contacts`` once the transaction commits
        self.contacts_read: list[tuple[int, MemberRow]] = []
        #: the leads this transaction erased: once it commits, the store empties SQLite's WAL
        self.erased: list[int] = []

    @cached_property
    def leads(self) -> Leads:
        return Leads(self.conn)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.conn, self.contacts, self.contacts_read)

    @cached_property
    def events(self) -> Events:
        return Events(self.conn)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.conn)

    @cached_property
    def actions(self) -> Actions:
        return Actions(self.conn)

    @cached_property
    def signals(self) -> Signals:
        return Signals(self.conn)

    @cached_property
    def quarantine(self) -> Quarantine:
        return Quarantine(self.conn)

    @cached_property
    def enrollments(self) -> Enrollments:
        return Enrollments(self.conn)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.conn)

    @cached_property
    def suppressions(self) -> Suppressions:
        return Suppressions(self.conn)

    @cached_property
    def versions(self) -> Versions:
        return Versions(self.conn)

    @cached_property
    def reports(self) -> Reports:
        return Reports(self.conn)

    @cached_property
    def meta(self) -> MetaValues:
        return MetaValues(self.conn)

    @cached_property
    def daemons(self) -> Daemons:
        return Daemons(self.conn)

    @cached_property
    def history(self) -> History:
        return History(self.conn)

    @cached_property
    def figures(self) -> Figures:
        return Figures(self.conn)

    @cached_property
    def tallies(self) -> Tallies:
        return Tallies(self.conn)

    @cached_property
    def privacy(self) -> Privacy:
        return Privacy(self.conn, self.salts, self.salt_read, self.erased)

    @cached_property
    def visitors(self) -> Visitors:
        return Visitors(self.conn)

    @cached_property
    def users(self) -> Users:
        return Users(self.conn)

    @cached_property
    def insights(self) -> Insights:
        return Insights(self.conn)

    @cached_property
    def mailroom(self) -> Mailroom:
        return Mailroom(self.conn)

    @cached_property
    def experiments(self) -> Experiments:
        """Split steps (A/B experiments): each lead's arm and each split's winner."""
        return Experiments(self.conn)

    @cached_property
    def topics(self) -> TopicOptOuts:
        """Subscription topics each lead has left."""
        return TopicOptOuts(self.conn)

    @cached_property
    def sla(self) -> SlaClocks:
        """Follow-up clocks: when each stage entry must be followed up, and whether it was."""
        return SlaClocks(self.conn)


class Store:
    """The database behind the engine: SQLite (WAL) by default, PostgreSQL for several daemons."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: account contacts as last read, used while their revision holds (see `ContactCache`)
        self.contacts = ContactCache()
        #: the erasure salt, once read (see `SaltCache`)
        self.salts = SaltCache()

    @classmethod
    def open(cls, url: str, *, upgrade: bool = False) -> Store:
        """Open ``url``, creating the store when the database is empty; an older schema is upgraded only
        with ``upgrade`` (`nurture db upgrade`), and refused with the fix otherwise."""
        return cls(open_store(url, upgrade_existing=upgrade))

    @classmethod
    def connect(cls, url: str) -> Store:
        """Open ``url`` as it is: no schema is created or upgraded."""
        return cls(create_db_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_path(self) -> str | None:
        """The database file of an SQLite store (None for PostgreSQL or an in-memory database)."""
        database = self.engine.url.database
        return database if self.dialect == "sqlite" and database and database != ":memory:" else None

    @contextlib.contextmanager
    def transaction(self, *, dry_run: bool = False) -> Iterator[Tx]:
        """A unit of work that commits when the block ends, or with ``dry_run`` always rolls back."""
        with self.engine.connect() as conn:
            trans = conn.begin()
            tx = Tx(conn, self.contacts, self.salts)
            try:
                yield tx
            except BaseException:
                trans.rollback()
                raise
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
                self.contacts.keep(tx.contacts_read)
                if tx.salt_read:
                    self.salts.salt = tx.salt_read[-1]
                if tx.erased:
                    self.empty_journal()

    def empty_journal(self) -> None:
        """SQLite: move the WAL into the database file and truncate it. Erased content is overwritten in the
        file (secure_delete), but the WAL still holds the pages as they were before, until a checkpoint
        reaches them and the log starts over; truncating leaves none of them behind. It waits for readers
        as long as the busy timeout allows. Nothing to do on PostgreSQL."""
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            # on the driver's connection, outside any transaction: a checkpoint cannot run inside one
            if not empty_log(conn.connection.driver_connection):  # type: ignore[arg-type]
                log.warning("the WAL still holds pages from before an erasure: a reader or another checkpoint kept "
                            "it busy; the next erasure tries again",
                            extra={"fields": {"database": self.sqlite_path}})

    @contextlib.contextmanager
    def checkpoints_in_background(self) -> Iterator[None]:
        """SQLite: while the block runs, a thread of its own copies the WAL into the database file, so no commit
        has to (see `checkpoints`). For long-running writers; nothing to do on PostgreSQL."""
        path = self.sqlite_path
        if path is None:
            yield
            return
        with checkpoints_in_background(path):
            yield

    def tune_for_throwaway(self) -> None:
        """Trade durability for speed in a store deleted after the run (simulations, backtests)."""
        if self.dialect == "sqlite":
            throwaway_store(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
