"""Lead state kept in memory between the batches of one run, so a lead is not read back after each save.

A kept lead is used only while the store still holds the revision its save made: a write by anyone
else (another process, the daemon, an erasure) raises the revision, and the lead is read again. A
lead is kept only once its batch has committed, and as the store would give it back (times to the
microsecond), so a run gives the same results with or without it.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable

from engine.core.evaluator import LeadRecord
from engine.store.leads import Revision

#: leads kept by default: a few batches' worth; at up to a few kilobytes a lead, tens of megabytes
DEFAULT_SIZE = 20_000


class LeadCache:
    """A bounded, least-recently-used store of leads as they were saved, by id."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[int, tuple[Revision, LeadRecord]] = OrderedDict()
        self._pending: list[tuple[Revision, LeadRecord]] = []
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, stored: dict[int, Revision]) -> dict[int, LeadRecord]:
        """The kept leads among ``stored`` still at the revision their save made. Every lead of ``stored``
        leaves the cache: it comes back with `hold` and `commit`, once its new state is stored."""
        found = {}
        for lead_id, revision in stored.items():
            entry = self._kept.pop(lead_id, None)
            if entry is not None and entry[0] == revision:
                found[lead_id] = entry[1]
        self.hits += len(found)
        self.misses += len(stored) - len(found)
        return found

    def hold(self, leads: Iterable[LeadRecord], stored: dict[int, Revision]) -> None:
        """Leads a batch is saving, each loaded at its ``stored`` revision: kept when the batch commits."""
        self._pending += [(Revision(stored[lead.id].number + 1, lead.email), lead) for lead in leads]

    def commit(self) -> None:
        """The held leads' batch committed: keep them, dropping the least recently used beyond the size."""
        for revision, lead in self._pending:
            self._kept[lead.id] = (revision, _as_stored(lead))
        self._pending = []
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def rollback(self) -> None:
        """The held leads' batch did not commit: they are read from the store next time."""
        self._pending = []


def _time(seconds: float) -> float:
    """Epoch seconds as the store gives them back: to the microsecond."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).timestamp()


def _as_stored(lead: LeadRecord) -> LeadRecord:
    """The lead as `Leads.load_for_update` would read it back after its save, with nothing pending.

    Its attributes and scoring state are taken as they are: they hold only what JSON keeps unchanged
    (text, numbers, lists, objects with text keys, and the state's atom indexes, which LeadState keeps
    as numbers either way), and the batch that made them is done with them.
    """
    return LeadRecord(lead.id, lead.email, lead.attributes, lead.stage, _time(lead.stage_since), lead.owner,
                      lead.state, None if lead.last_event_at is None else _time(lead.last_event_at),
                      None if lead.review_at is None else _time(lead.review_at), _time(lead.created_at))
