"""A daemon's presence: the OS lock that keeps a second daemon off an SQLite store, and the heartbeat row."""

from __future__ import annotations

import fcntl
from typing import TextIO

from engine.core.clock import Clock
from engine.errors import EngineError
from engine.store import Store


class AnotherDaemonRunning(EngineError):
    pass


class Presence:
    """Registers daemon ``worker`` in the store, beats its heartbeat, and unregisters it."""

    def __init__(self, store: Store, clock: Clock, worker: str) -> None:
        self.store = store
        self.clock = clock
        self.worker = worker
        self._lock_file: TextIO | None = None

    def register(self) -> None:
        """Announce this daemon; on SQLite refuse when another one holds the store."""
        if self.store.sqlite_path is not None:
            self._lock_sqlite(self.store.sqlite_path)
        with self.store.transaction() as tx:
            tx.daemons.register(self.worker, self.clock.now())

    def heartbeat(self) -> None:
        with self.store.transaction() as tx:
            tx.daemons.heartbeat(self.worker, self.clock.now())

    def unregister(self) -> None:
        with self.store.transaction() as tx:
            tx.daemons.unregister(self.worker)
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
            self._lock_file = None

    def _lock_sqlite(self, database: str) -> None:
        # An OS lock beside the database file: released by the kernel when the process dies, even by
        # kill -9, so a restarted daemon never waits for a stale heartbeat.
        handle = open(f"{database}.daemon-lock", "a+")  # noqa: SIM115 - held open for the daemon's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AnotherDaemonRunning(
                f"another daemon ({holder}) is running on this SQLite database; stop it first, or use "
                "PostgreSQL (NURTURE_DATABASE_URL=postgresql+psycopg://...) to run several daemons") from None
        handle.truncate(0)
        handle.write(self.worker)
        handle.flush()
        self._lock_file = handle
