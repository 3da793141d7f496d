"""The daemon's store thread: database work runs there, off the event loop that also serves HTTP."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    """One thread per daemon: its store work never blocks the loop, and never competes with itself
    for SQLite's single write lock (several threads would only wait on each other's transactions)."""

    def __init__(self, name: str = "nurture-store") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)`` in the store thread; awaiting it leaves the loop free meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args, **kwargs))

    def close(self) -> None:
        """Wait for work under way, then let the thread end."""
        self._executor.shutdown(wait=True)
