"""A history of real events, read for `nurture backtest` and `nurture tune`, and scored as the engine scores it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from dsl.campaign import Campaign
from engine.core.clock import parse_instant
from engine.delivery.memory import MemoryTransport
from engine.errors import ConfigError
from engine.ingest.rows import InvalidRow, Row, open_input, read_rows
from engine.lab.virtual import VirtualRun
from engine.store.tallies import LedgerLine, StageReached

Progress = Callable[[int], None]


@dataclass
class EventSource:
    """The events file, read twice: once to learn its span and order, then in time order.

    ``until``: events after this instant are left out, as if the history ended there (``--at``).
    """

    path: str
    kind: str = "jsonl"
    count: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    ordered: bool = True
    until: dt.datetime | None = None
    #: events after ``until``, left out
    later: int = 0

    @classmethod
    def scan(cls, path: str, until: dt.datetime | None = None) -> EventSource:
        if path == "-":
            raise ConfigError("the events file is read twice; give a file, not - for stdin")
        try:
            stream, kind = open_input(path)
        except InvalidRow as err:
            raise ConfigError(str(err)) from None
        except OSError as err:
            raise ConfigError(f"cannot read the events file {path}: {err.strerror}") from None
        source = cls(path, kind, until=until)
        previous = None
        with stream:
            for row in read_rows(stream, kind):
                when = event_time(row)
                if when is not None and until is not None and when > until:
                    source.later += 1
                    continue
                source.count += 1
                if when is None:
                    continue
                source.first = when if source.first is None else min(source.first, when)
                source.last = when if source.last is None else max(source.last, when)
                if previous is not None and when < previous:
                    source.ordered = False
                previous = when
        if source.first is None or source.last is None:
            before = f" at or before {until.isoformat()}" if until is not None else ""
            raise ConfigError(f"{path} has no events with a readable `at` timestamp{before}")
        return source

    @property
    def end(self) -> dt.datetime:
        """When the history is judged: ``until``, else the midnight after its last event."""
        assert self.last is not None
        if self.until is not None:
            return self.until
        return self.last.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)

    @property
    def start(self) -> dt.datetime:
        assert self.first is not None
        return self.first.replace(hour=0, minute=0, second=0, microsecond=0)

    def rows(self) -> Iterator[tuple[dt.datetime | None, Row]]:
        """(time, row) in time order; rows without a readable time come first (they will be quarantined).

        A file in time order (the usual export) is streamed; any other is sorted in memory.
        """
        stream, kind = open_input(self.path)
        with stream:
            rows = ((event_time(row), row) for row in read_rows(stream, kind))
            rows = ((when, row) for when, row in rows if self.until is None or when is None or when <= self.until)
            if self.ordered:
                yield from rows
            else:
                floor = dt.datetime.min.replace(tzinfo=dt.UTC)
                yield from sorted(rows, key=lambda pair: pair[0] or floor)


def event_time(row: Row) -> dt.datetime | None:
    if row.data is None:
        return None
    at = row.data.get("at")
    try:
        return parse_instant(str(at)) if at is not None else None
    except ValueError:
        return None


def parse_at(text: str) -> dt.datetime:
    """An ``--at`` time: ISO 8601 (a date alone is its midnight, UTC when no offset is given)."""
    try:
        return parse_instant(text if "T" in text or " " in text else f"{text}T00:00:00Z")
    except ValueError:
        raise ConfigError(f"--at {text!r} is not a time; use ISO 8601 like 2026-03-01T09:30:00Z or 2026-03-01") \
            from None


def score_history(campaign_dir: Path, template_dir: Path, source: EventSource, *, leads_file: str | None,
                  store: Path, progress: Progress = lambda n: None,
                  checked: Campaign | None = None) -> tuple[VirtualRun, int, int]:
    """The history ingested into a throwaway store at ``store``, as `nurture events ingest` would load it.

    Only scoring runs (no daemon ticks, so no journeys and no email): the ledger then holds every point
    each rule awarded, with caps and replays exactly as the engine keeps them. ``checked``: the campaign
    in ``campaign_dir``, already loaded and checked. Returns the run, the events accepted and the rows
    quarantined.
    """
    run = VirtualRun(campaign_dir, template_dir, source.start, database_url=f"sqlite:///{store}",
                     transport=MemoryTransport(keep_data=False), worker="history", base_url="https://nurture.example",
                     secret_key="history", batch_size=5000, throwaway=True, checked=checked)
    quarantined = 0
    if leads_file is not None:
        quarantined += import_leads(run, leads_file)
    run.clock.set(source.end)
    accepted = 0
    batch: list[Row] = []
    for _, row in source.rows():
        batch.append(row)
        if len(batch) == 5000:
            report = run.processor.ingest_events(batch, source.path, from_text=source.kind == "csv")
            accepted, quarantined = accepted + report.accepted, quarantined + len(report.rejected)
            progress(len(batch))
            batch = []
    if batch:
        report = run.processor.ingest_events(batch, source.path, from_text=source.kind == "csv")
        accepted, quarantined = accepted + report.accepted, quarantined + len(report.rejected)
        progress(len(batch))
    return run, accepted, quarantined


def import_leads(run: VirtualRun, leads_file: str) -> int:
    """The leads file imported into the run's store; returns the rows quarantined."""
    try:
        stream, kind = open_input(leads_file)
    except (InvalidRow, OSError) as err:
        raise ConfigError(f"cannot read the leads file {leads_file}: {err}") from None
    with stream:
        report = run.processor.import_leads(read_rows(stream, kind), leads_file, from_text=kind == "csv")
    return len(report.rejected)


R = TypeVar("R", LedgerLine, StageReached)


class Grouped(Generic[R]):
    """Rows ordered by lead id, handed out lead by lead without holding more than one lead's."""

    def __init__(self, rows: Iterable[R]) -> None:
        self._rows: Iterator[R] = iter(rows)
        self._next: R | None = next(self._rows, None)

    def get(self, lead_id: int) -> list[R]:
        while self._next is not None and self._next.lead_id < lead_id:
            self._next = next(self._rows, None)
        found: list[R] = []
        while self._next is not None and self._next.lead_id == lead_id:
            found.append(self._next)
            self._next = next(self._rows, None)
        return found
