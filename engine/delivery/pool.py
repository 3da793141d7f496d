"""Rendering in worker processes, so a daemon sending fast uses more than one core.

Rendering and MIME assembly are about a third of a send's CPU, and in one process they take turns for the
interpreter lock with the sends themselves. `PooledComposer` builds each message's context where the store
is (`Composer.begin`), and has worker processes render and assemble it (`Composer.finish`); the daemon's
process meanwhile sends the batch before. Which bytes go out does not change, only where they are made.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import pickle
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from engine.delivery.compose import Composer, ContextFor, Draft, Job, Templates
from engine.delivery.message import ComposeError

#: the composer of a worker process, made once when the process starts
_worker: Composer | None = None


def _start_worker(base_url: str, key: str) -> None:
    global _worker
    _worker = Composer(base_url, lambda: key)


def _started_worker() -> bool:
    return _worker is not None


def _finish_all(jobs: list[Job], settings: Mapping[str, Any], templates: Templates) -> list[bytes | Exception]:
    """In a worker process: each job's bytes, or why it failed, as an exception that can travel back."""
    assert _worker is not None, "the pool's initializer makes the worker's composer"
    done: list[bytes | Exception] = []
    for job in jobs:
        try:
            done.append(_worker.finish(job, settings, templates))
        except Exception as err:  # this message's template or data: it fails alone
            done.append(err if _travels(err) else ComposeError(f"{type(err).__name__}: {err}"))
    return done


def _travels(err: Exception) -> bool:
    """Whether ``err`` comes back from a worker as itself (some libraries' exceptions cannot be rebuilt)."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return False
    return True


class PooledComposer:
    """Composes like ``full``, rendering in ``workers`` processes started the first time they are needed.

    A batch is split into one part per worker. The processes are started with "spawn": the daemon has threads,
    and a forked child would inherit their locks in whatever state they were.
    """

    def __init__(self, full: Composer, workers: int) -> None:
        if workers < 1:
            raise ValueError("a pool renders in at least one process")
        self.full = full
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def ready(self) -> None:
        """The signing key read, and the workers started (once; a new process takes a fraction of a second)."""
        self.full.ready()
        self._started()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                       initializer=_start_worker, initargs=(self.full.base_url, self.full.key))
            for started in [pool.submit(_started_worker) for _ in range(self.workers)]:
                started.result()
            self._pool = pool
        return self._pool

    def compose_all(self, drafts: Sequence[tuple[Draft, ContextFor]], settings: Mapping[str, Any],
                    templates: Templates, now: dt.datetime) -> list[bytes | Exception]:
        results: dict[int, bytes | Exception] = {}
        jobs: list[tuple[int, Job]] = []
        for index, (draft, context_for) in enumerate(drafts):
            try:  # the context is built here: a sales alert's reads the store
                jobs.append((index, self.full.begin(draft, now, context_for)))
            except Exception as err:
                results[index] = err
        if jobs:
            files = {path: text for path, text in templates[1].items() if path.startswith("templates/")}
            size = -(-len(jobs) // self.workers)
            parts = [jobs[at:at + size] for at in range(0, len(jobs), size)]
            try:
                pool = self._started()
                futures: list[Future[list[bytes | Exception]]] = [
                    pool.submit(_finish_all, [job for _, job in part], dict(settings), (templates[0], files))
                    for part in parts]
                for part, future in zip(parts, futures, strict=True):
                    for (index, _), done in zip(part, future.result(), strict=True):
                        results[index] = done
            except BrokenProcessPool:  # a worker died (killed, out of memory): the next batch starts new ones
                self.close()
                raise
        return [results[index] for index in range(len(drafts))]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
