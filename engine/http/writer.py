"""Group commit: events from concurrent requests are stored in one pass, and each request is answered for its own.

The writer lives on the event loop: a request queues its rows and waits for a future. While anything is
queued, one task runs passes one after another, each over everything queued when it starts; the pass
itself runs in the writer's one thread, so the loop keeps reading requests meanwhile, and what arrives
then goes into the next pass. A burst of single events costs a few transactions, not one each, and the
loop is woken once per pass rather than once per request. One thread writes because SQLite allows one
writer anyway, and lock waits in its busy handler cost milliseconds each.

Routes that run in the thread pool hand their rows to the same loop and wait in their own thread; a
caller with no loop to hand over to stores its rows itself. Every request still gets exactly its own
answer: accepted, duplicates and rejected items.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from engine.core.rules import Rules
from engine.ingest.processor import Processor
from engine.ingest.rows import InvalidRow, Row, validate_event
from engine.store.privacy import REFUSED

log = logging.getLogger("nurture.http")
#: at most this many rows are taken into one pass (more requests wait for the next one)
PASS_ROWS = 5000


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    #: (0-based index of the item, reason)
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Job:
    rows: list[Row]
    origin: str
    #: resolved on its loop once the job's pass has ended (well or not); None for a pass run by its caller
    done: asyncio.Future[None] | None = None
    keys: list[str] = field(default_factory=list)
    #: the lead address of each row that validated (None for the others)
    emails: list[str | None] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    error: BaseException | None = None


class _FrozenClock:
    """One instant for a whole pass: every event it stores carries it as received_at."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


class PassFailed(Exception):
    """The pass this request's events joined failed; nothing of the request was answered as stored."""


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a request that went away meanwhile is not woken
        future.set_result(None)


def _finish(jobs: list[_Job], _: object = None) -> None:
    """Wake the requests of a pass that has ended: on the loop itself when they wait there (the usual case)."""
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for job in jobs:
        if job.done is None:
            continue
        loop = job.done.get_loop()
        if loop is here:
            _wake(job.done)
        else:
            loop.call_soon_threadsafe(_wake, job.done)


class EventWriter:
    def __init__(self, processor: Callable[[], Processor],
                 gate: Callable[[], contextlib.AbstractContextManager]) -> None:
        self._processor = processor
        self._gate = gate
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        #: the task running passes while anything is queued, and the loop it runs on
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nurture-intake")
        #: the instant of the last pass
        self._last_at = dt.datetime.min.replace(tzinfo=dt.UTC)

    async def submit(self, rows: list[Row], origin: str) -> Outcome:
        """Store ``rows`` (bad ones are quarantined by the processor) and say what became of them; the event
        loop stays free while they are stored."""
        loop = asyncio.get_running_loop()
        job = _Job(rows, origin, loop.create_future())
        with self._lock:
            self._queue.append(job)
            if self._task is None:
                self._loop = loop
                self._task = loop.create_task(self._serve(loop), name="nurture-intake")
        assert job.done is not None
        await asyncio.shield(job.done)  # a request cancelled meanwhile leaves its pass to finish
        return self._answer(job)

    def write(self, rows: list[Row], origin: str) -> Outcome:
        """``submit`` for a caller in a thread of its own (the routes that run in the thread pool): its rows
        join the loop's passes when a loop serves intake, and are stored in this thread otherwise."""
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_on(loop):
            return asyncio.run_coroutine_threadsafe(self.submit(rows, origin), loop).result()
        job = _Job(rows, origin)
        self._pass([job])
        return self._answer(job)

    @staticmethod
    def _answer(job: _Job) -> Outcome:
        if job.error is not None:
            raise PassFailed(f"storing events failed: {type(job.error).__name__}") from job.error
        return job.outcome

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """One pass at a time over everything queued, until nothing is."""
        while True:
            # let the loop run once first: requests it has already read reach the queue and share this pass
            await asyncio.sleep(0)
            with self._lock:
                jobs = self._take()
                if not jobs:
                    self._task = None
                    return
            stored = loop.run_in_executor(self._thread, self._pass, jobs)
            # the requests are woken when the pass has ended, even if this task is cancelled meanwhile
            stored.add_done_callback(functools.partial(_finish, jobs))
            await asyncio.shield(stored)

    def _pass(self, jobs: list[_Job]) -> None:
        """Store the jobs' rows under the gate; a failure is every job's answer."""
        try:
            with self._gate():
                self._run(jobs)
        except BaseException as err:  # every request of the pass hears of it
            for job in jobs:
                job.error = err
            if not isinstance(err, Exception):
                raise

    def _take(self) -> list[_Job]:
        jobs: list[_Job] = []
        rows = 0
        for j in self._queue:
            if jobs and rows + len(j.rows) > PASS_ROWS:
                continue
            jobs.append(j)
            rows += len(j.rows)
        taken = {id(j) for j in jobs}
        self._queue = [j for j in self._queue if id(j) not in taken]
        return jobs

    def _run(self, jobs: list[_Job]) -> None:
        """Store the jobs' rows in one go, then tell each job what became of its own.

        The processor validates and stores; when it stored every row (all valid, all new: the usual
        case) that is the answer for every job. Only otherwise are the rows validated here too, to say
        which of a job's rows were refused and why, and which were stored before.
        """
        processor = self._processor()
        # One instant for the pass, never the last pass's (a clock that has not moved, a virtual one): stored
        # rows carry it, so the pass can tell which it added even when another process stores the same keys.
        with self._lock:
            at = max(processor.clock.now(), self._last_at + dt.timedelta(microseconds=1))
            self._last_at = at
        processor.clock = _FrozenClock(at)
        by_origin: dict[str, list[Row]] = {}
        for job in jobs:
            by_origin.setdefault(job.origin, []).extend(job.rows)
        stored = 0
        for origin, rows in by_origin.items():
            stored += processor.ingest_events(rows, origin, sweep=False).accepted
        if stored == sum(len(job.rows) for job in jobs):
            for job in jobs:
                job.outcome.accepted = len(job.rows)
            return
        for job in jobs:
            self._validate(job, processor.rules)
        keys = sorted({k for job in jobs for k in job.keys if k})
        # some rows were refused or stored before: ask the store which, in one transaction
        new = set(keys) if stored == len(keys) else self._sort_out(processor, jobs, keys, at, stored)
        taken: set[str] = set()
        for job in jobs:
            for key in job.keys:
                if not key:
                    continue
                if key in new and key not in taken:
                    taken.add(key)
                    job.outcome.accepted += 1
                else:
                    job.outcome.duplicates += 1
        if stored != len(taken):  # should not happen; the counts given to clients would be off
            log.warning("intake counts differ", extra={"fields": {"stored": stored, "attributed": len(taken)}})

    @staticmethod
    def _validate(job: _Job, rules: Rules) -> None:
        for index, row in enumerate(job.rows):
            try:
                if row.data is None:
                    raise InvalidRow(row.error or "unreadable row")
                event = validate_event(row, rules.event_types, False)
                job.keys.append(event.key)
                job.emails.append(event.email)
            except InvalidRow as err:
                job.keys.append("")
                job.emails.append(None)
                job.outcome.rejected.append((index, str(err)))
            except (ValueError, OverflowError) as err:  # as the processor words it when it quarantines the row
                job.keys.append("")
                job.emails.append(None)
                job.outcome.rejected.append((index, f"cannot be read: {err}"))

    @staticmethod
    def _sort_out(processor: Processor, jobs: list[_Job], keys: list[str], at: dt.datetime, stored: int) -> set[str]:
        """The keys this pass stored, and the events refused because their address was erased at the person's
        request (as the processor refused them), so the client is told why instead of reading a duplicate."""
        emails = {email for job in jobs for email in job.emails if email}
        with processor.store.transaction() as tx:
            erased = tx.privacy.erased_among(emails)
            # what this pass added carries its instant; a key stored before carries an earlier one
            new = tx.events.existing_keys(keys, at) if stored else set()
        for job in jobs:
            for index, email in enumerate(job.emails):
                if email in erased:
                    job.keys[index] = ""
                    job.outcome.rejected.append((index, REFUSED))
        return new


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the calling thread is ``loop``'s own (waiting there for the loop would never end)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
