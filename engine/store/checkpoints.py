"""SQLite checkpoints in a thread of their own, so that no request's commit pays for one.

In WAL mode a commit appends pages to the log, and a checkpoint copies them into the database file. Left to
SQLite, the checkpoint runs inside the commit that crosses `wal_autocheckpoint` pages (10,000 here, see
`db._sqlite_pragmas`): copying up to 40 MB and syncing the file, while that commit's requests wait. That was
the slowest few percent of HTTP intake: single events waited 132 ms at the 99th percentile against 46 ms at
the median. A long-running writer (`nurture serve`, `nurture run`) instead checkpoints from this thread a few
times a second, through a connection of its own. A passive checkpoint waits for no reader or writer, and
SQLite releases the interpreter lock while it copies, so commits go on meanwhile; the WAL then stays far
below the commits' own threshold, which is left in place as a safety net should this thread fall behind.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator

log = logging.getLogger("nurture.store")

#: how often the thread checkpoints; a checkpoint of a log with nothing new in it costs a few microseconds
EVERY_SECONDS = 0.25
#: the thread's name, by which an operator (or a test) can tell it among the process's threads
THREAD_NAME = "nurture-checkpoints"
#: how long emptying the log waits for another connection's checkpoint to end (this thread's take moments)
TRUNCATE_WAIT_SECONDS = 10.0


@contextlib.contextmanager
def checkpoints_in_background(path: str, every_seconds: float = EVERY_SECONDS) -> Iterator[None]:
    """While the block runs, copy the WAL of the SQLite database at ``path`` into the file every
    ``every_seconds``; the thread has stopped when the block ends."""
    stopping = threading.Event()
    thread = threading.Thread(target=_checkpoint_until, args=(path, every_seconds, stopping), name=THREAD_NAME,
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join()


def _checkpoint_until(path: str, every_seconds: float, stopping: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")  # as the writers: the file is synced after each checkpoint
        while not stopping.wait(every_seconds):
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as err:  # another checkpoint under way, a full disk: the next round tries again
                log.debug("background checkpoint skipped", extra={"fields": {"reason": str(err)}})
    finally:
        conn.close()


def empty_log(conn: sqlite3.Connection) -> bool:
    """Copy the WAL into the database file and truncate it to nothing, on a driver connection outside any
    transaction; whether it is empty now.

    SQLite's busy handler waits for readers, but a checkpoint under way on another connection (this module's
    thread, or a commit crossing its threshold) makes the truncation give up at once, reporting busy. So it is
    tried again until it succeeds or `TRUNCATE_WAIT_SECONDS` have passed.
    """
    deadline = time.monotonic() + TRUNCATE_WAIT_SECONDS
    while True:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)  # the other checkpoint holds SQLite's lock for a moment
