"""SQLite checkpoints for long-running writers run in a thread of their own, not inside commits."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.store import Store
from engine.store.checkpoints import THREAD_NAME, checkpoints_in_background

from .helpers import wait_for

BLOB_BYTES = 2 * 1024 * 1024  # far below the commits' own threshold of 10,000 pages


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def _write_blobs(store: Store, table: str) -> None:
    with store.transaction() as tx:
        tx.conn.exec_driver_sql(f"CREATE TABLE {table} (data BLOB)")
        tx.conn.exec_driver_sql(f"INSERT INTO {table} VALUES (randomblob({BLOB_BYTES // 4}))")
        tx.conn.exec_driver_sql(f"INSERT INTO {table} SELECT data FROM {table}")
        tx.conn.exec_driver_sql(f"INSERT INTO {table} SELECT data FROM {table}")


def test_the_thread_copies_what_commits_left_in_the_log(tmp_path: Path):
    path = tmp_path / "store.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        before = path.stat().st_size
        _write_blobs(store, "left_in_the_log")
        # the commit copied nothing into the file: its pages wait in the log
        assert path.stat().st_size == before
        with store.checkpoints_in_background():
            assert len(_checkpointers()) == 1
            wait_for(lambda: path.stat().st_size >= before + BLOB_BYTES, "the thread to copy the log")
            # commits made while the thread runs are copied too
            copied = path.stat().st_size
            _write_blobs(store, "written_meanwhile")
            wait_for(lambda: path.stat().st_size >= copied + BLOB_BYTES, "the thread to copy a later commit")
        assert not _checkpointers()  # stopped with the block
        with store.transaction() as tx:
            assert tx.conn.exec_driver_sql("SELECT sum(length(data)) FROM written_meanwhile").scalar_one() \
                == BLOB_BYTES
    finally:
        store.dispose()


def test_postgres_needs_no_thread(postgres_url: str):
    store = Store.open(postgres_url)
    try:
        with store.checkpoints_in_background():
            assert not _checkpointers()
    finally:
        store.dispose()


def test_emptying_the_log_after_an_erasure_waits_out_the_threads_checkpoints(tmp_path: Path):
    """The thread's checkpoints hold SQLite's checkpoint lock, which makes a truncation give up at once; the
    store's truncation after an erasure tries again, so the log is empty every time."""
    path = tmp_path / "store.db"
    store = Store.open(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    try:
        with store.transaction() as tx:
            tx.conn.exec_driver_sql("CREATE TABLE pages (data BLOB)")
        with checkpoints_in_background(str(path), every_seconds=0):  # checkpoint after checkpoint, no pause
            for _ in range(40):
                with store.transaction() as tx:
                    tx.conn.exec_driver_sql("INSERT INTO pages VALUES (randomblob(65536))")
                assert wal.stat().st_size > 0
                store.empty_journal()
                assert wal.stat().st_size == 0
    finally:
        store.dispose()
