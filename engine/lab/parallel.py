"""Independent parts of one run (a simulation's shards, a backtest's versions) in processes of their own, with
their progress reported back as they go."""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

P = TypeVar("P")
R = TypeVar("R")

#: in a part's process: where it reports its progress
_reports: Any = None


def run_parts(work: Callable[[P, Callable[[int], None]], R], parts: list[P], workers: int | None,
              progress: Callable[[int], None]) -> list[R]:
    """``work(part, report)`` for every part, ``workers`` processes at once (None: one per core); the results in
    the parts' order. What a part reports reaches ``progress`` in this process. ``work`` must be a module-level
    function, as the processes are started with "spawn": the caller may have threads, and a forked child would
    copy their locks in whatever state they were."""
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    count = max(1, min(workers or os.cpu_count() or 1, len(parts)))
    with ProcessPoolExecutor(count, context, initializer=_report_to, initargs=(reports,)) as pool:
        futures = [pool.submit(_run, work, part) for part in parts]
        while not all(future.done() for future in futures):
            try:
                progress(reports.get(timeout=0.2))
            except queue.Empty:
                continue
        results = [future.result() for future in futures]
    return results


def _report_to(reports: Any) -> None:
    global _reports
    _reports = reports


def _run(work: Callable[[P, Callable[[int], None]], R], part: P) -> R:
    return work(part, _reports.put)
