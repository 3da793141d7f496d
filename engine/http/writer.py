"""Group commit: events from concurrent requests are validated per request and stored in one pass.

One writer at a time per process (SQLite allows one anyway, and lock waits in its busy handler
cost milliseconds each). Requests that arrive while a write is under way queue up and the next
writer takes them all, so a burst of single events costs a few transactions, not one each.
Every request still gets exactly its own answer: accepted, duplicates and rejected items.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.core.rules import Rules
from engine.ingest.processor import Processor
from engine.ingest.rows import InvalidRow, Row, validate_event
from engine.store.privacy import REFUSED

log = logging.getLogger("nurture.http")
#: at most this many rows are taken into one pass (more requests wait for the next one)
PASS_ROWS = 5000
#: a pass that starts this soon after the last one is under load: it waits GATHER seconds for company
BUSY_WINDOW = 0.02
GATHER = 0.002


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
    keys: list[str] = field(default_factory=list)
    #: the lead address of each row that validated (None for the others)
    emails: list[str | None] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)
    finished: bool = False
    error: BaseException | None = None


class _FrozenClock:
    """One instant for a whole pass: every event it stores carries it as received_at."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


class PassFailed(Exception):
    """The pass this request's events joined failed; nothing of the request was answered as stored."""


class EventWriter:
    def __init__(self, processor: Callable[[], Processor],
                 gate: Callable[[], contextlib.AbstractContextManager]) -> None:
        self._processor = processor
        self._gate = gate
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._busy = False
        self._last_pass = 0.0

    def write(self, rows: list[Row], origin: str) -> Outcome:
        """Store ``rows`` (bad ones are quarantined by the processor) and say what became of them."""
        job = _Job(rows, origin)
        with self._cond:
            self._queue.append(job)
            while self._busy and not job.finished:
                self._cond.wait()
            lead = not job.finished
            if lead:
                self._busy = True
        if lead:
            jobs = [job]
            try:
                if time.monotonic() - self._last_pass < BUSY_WINDOW:
                    time.sleep(GATHER)  # under load: let requests already on their way join this pass
                with self._cond:
                    jobs = self._take(job)
                with self._gate():
                    self._run(jobs)
            except BaseException as err:  # every request of the pass hears of it, not just the writer's
                for j in jobs:
                    j.error = err
                raise
            finally:
                with self._cond:
                    for j in jobs:
                        j.finished = True
                    self._busy = False
                    self._last_pass = time.monotonic()
                    self._cond.notify_all()
        if job.error is not None:
            raise PassFailed(f"storing events failed: {type(job.error).__name__}") from job.error
        return job.outcome

    def _take(self, own: _Job) -> list[_Job]:
        jobs: list[_Job] = []
        rows = 0
        for j in self._queue:
            if jobs and rows + len(j.rows) > PASS_ROWS and j is not own:
                continue
            jobs.append(j)
            rows += len(j.rows)
        self._queue = [j for j in self._queue if j not in jobs]
        return jobs

    def _run(self, jobs: list[_Job]) -> None:
        processor = self._processor()
        rules = processor.rules
        for job in jobs:
            self._validate(job, rules)
        self._refuse_erased(processor, jobs)
        keys = sorted({k for job in jobs for k in job.keys if k})
        # One instant for the pass: stored rows carry it, so the pass knows exactly which it added
        # even when another process stores the same keys meanwhile.
        at = processor.clock.now()
        processor.clock = _FrozenClock(at)
        before = self._existing(processor, keys)
        by_origin: dict[str, list[Row]] = {}
        for job in jobs:
            by_origin.setdefault(job.origin, []).extend(job.rows)
        stored = 0
        for origin, rows in by_origin.items():
            stored += processor.ingest_events(rows, origin).accepted
        new = self._existing(processor, keys, received_at=at) - before
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
    def _refuse_erased(processor: Processor, jobs: list[_Job]) -> None:
        """Events of addresses erased at the person's request are refused, as the processor refuses them, so
        the client is told why instead of reading a duplicate."""
        emails = {email for job in jobs for email in job.emails if email}
        with processor.store.transaction() as tx:
            erased = tx.privacy.erased_among(emails)
        if not erased:
            return
        for job in jobs:
            for index, email in enumerate(job.emails):
                if email in erased:
                    job.keys[index] = ""
                    job.outcome.rejected.append((index, REFUSED))

    @staticmethod
    def _existing(processor: Processor, keys: list[str], received_at: dt.datetime | None = None) -> set[str]:
        with processor.store.transaction() as tx:
            return tx.events.existing_keys(keys, received_at)
