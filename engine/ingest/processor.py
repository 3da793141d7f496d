"""Batch processing against the store: events and leads in, scores, ledger and stages out.

Each batch is one transaction: its good rows, their points, stage changes and actions, and its
quarantined rows commit together or not at all. Leads are locked while a batch updates them, so
several processes may ingest into one PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol, TypeVar

from engine.core.clock import Clock, epoch
from engine.core.evaluator import Evaluator, LeadRecord
from engine.core.rules import Rules
from engine.core.scoring import LeadState
from engine.ingest.accounts import account_values, after_batch, refresh_stale
from engine.ingest.cache import DEFAULT_SIZE, LeadCache
from engine.ingest.collection import fewer_collections
from engine.ingest.follow_ups import keep_follow_ups
from engine.ingest.rows import EventIn, InvalidRow, LeadIn, Rejected, Row, validate_event, validate_lead
from engine.store import Store, Tx
from engine.store.events import StoredEvent
from engine.store.leads import Settled, settled
from engine.store.privacy import REFUSED, WITHHELD

Progress = Callable[[int], None]
T = TypeVar("T")


@dataclass
class Report:
    """What a run did, for the command's summary and exit status."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    leads_created: int = 0
    leads_updated: int = 0
    stage_changes: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    #: emails of leads whose scores or stage a rescore changed
    changed_leads: list[str] = field(default_factory=list)

    def merge(self, other: Report) -> None:
        for name in ("rows", "accepted", "duplicates", "leads_created", "leads_updated", "stage_changes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected
        self.changed_leads += other.changed_leads


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class _Addressed(Protocol):
    @property
    def line(self) -> int: ...
    @property
    def email(self) -> str: ...


A = TypeVar("A", bound=_Addressed)


def _refuse_erased(tx: Tx, good: list[A], bad: list[Rejected]) -> list[A]:
    """Rows whose address was erased at the person's request are refused: kept in quarantine without
    their text (which would hold the address again), with a reason that does not name it."""
    erased = tx.privacy.erased_among(row.email for row in good)
    if not erased:
        return good
    bad += [Rejected(row.line, WITHHELD, REFUSED) for row in good if row.email in erased]
    bad.sort(key=lambda r: r.line)
    return [row for row in good if row.email not in erased]


class Processor:
    def __init__(self, store: Store, rules: Rules, version_id: int | None, clock: Clock,
                 batch_size: int = 5000, cache_size: int = DEFAULT_SIZE) -> None:
        self.store = store
        self.rules = rules
        self.version_id = version_id
        self.clock = clock
        self.batch_size = batch_size
        #: leads as this processor saved them, used while the store still holds that revision
        self.cache = LeadCache(cache_size)
        #: the settled columns of the leads the batch being stored read
        self._loaded: dict[int, Settled] = {}

    # ----- public entry points ---------------------------------------------------------------

    def ingest_events(self, rows: Iterable[Row], origin: str, from_text: bool = False,
                      progress: Progress | None = None, sweep: bool = True) -> Report:
        """Validate, store and score events; bad rows are quarantined with their reason.

        ``sweep``: then do what the daemon's tick would: roll up the accounts the events touched, and apply
        what time alone has made due for every lead (see `sweep`). The HTTP writer passes False: the daemon's
        tick does both, once a tick, where a pass of a few events should neither review the whole store nor roll
        up a whole company's contacts.
        """
        report = self._in_batches(rows, origin, lambda row: validate_event(row, self.rules.event_types, from_text),
                                  self._store_events, progress)
        # Time-driven changes (decay, closing windows) are applied once the whole input is in, so a
        # file of history loads in order instead of replaying leads batch after batch.
        if sweep:
            self.roll_up_accounts()
            report.stage_changes += self.sweep()
            self.roll_up_accounts()  # stage moves the sweep made may change what accounts count
        return report

    def import_leads(self, rows: Iterable[Row], origin: str, from_text: bool = False,
                     progress: Progress | None = None) -> Report:
        """Upsert leads by normalised email; fit scores and stages follow the new attributes."""
        report = self._in_batches(rows, origin, lambda row: validate_lead(row, self.rules.attribute_types, from_text),
                                  self.update_leads, progress)
        self.roll_up_accounts()
        return report

    def roll_up_accounts(self) -> int:
        """Roll up the accounts the last input touched (marked stale as each batch was stored); returns the alerts
        fired. The daemon's tick does the same, so accounts a crash left marked are rolled up there."""
        if self.rules.accounts is None:
            return 0
        return refresh_stale(self.store, self.rules, self.clock.now(), marked_only=True)

    def _in_batches(self, rows: Iterable[Row], origin: str, validate: Callable[[Row], A],
                    store: Callable[[Tx, list[A]], Report], progress: Progress | None) -> Report:
        """Each batch in one transaction: its good rows stored, its bad rows quarantined."""
        with fewer_collections():
            return self._each_batch(rows, origin, validate, store, progress)

    def _each_batch(self, rows: Iterable[Row], origin: str, validate: Callable[[Row], A],
                    store: Callable[[Tx, list[A]], Report], progress: Progress | None) -> Report:
        report = Report()
        for batch in _batches(rows, self.batch_size):
            good: list[A] = []
            bad: list[Rejected] = []
            for row in batch:
                try:
                    if row.data is None:
                        raise InvalidRow(row.error or "unreadable row")
                    good.append(validate(row))
                except InvalidRow as err:
                    bad.append(Rejected(row.line, row.raw, str(err)))
                except (ValueError, OverflowError) as err:  # a value no check foresaw: this row only
                    bad.append(Rejected(row.line, row.raw, f"cannot be read: {err}"))
            try:
                with self.store.transaction() as tx:
                    good = _refuse_erased(tx, good, bad)
                    part = store(tx, good)
                    if bad:
                        tx.quarantine.keep(origin, bad, self.clock.now())
            except BaseException:
                self.cache.rollback()
                raise
            self.cache.commit()
            part.rows, part.rejected = len(batch), bad
            report.merge(part)
            if progress:
                progress(len(batch))
        return report

    def sweep(self, until: dt.datetime | None = None, lead_ids: list[int] | None = None) -> int:
        """Apply stage changes that time alone has made due (decay, windows closing); returns how many."""
        until = until or self.clock.now()
        total = 0
        while True:
            with self.store.transaction() as tx:
                ids = tx.leads.due_for_review(until, self.batch_size, among=lead_ids)
                if not ids:
                    return total
                leads = tx.leads.load_for_update(ids)
                evaluator = self._evaluator(tx, leads)
                for lead in leads.values():
                    evaluator.advance(lead, epoch(until))
                total += self._save(tx, leads.values(), evaluator, time_alone=True)

    def rescore(self, progress: Progress | None = None, tx: Tx | None = None) -> Report:
        """Recompute every lead's points from its events under the current rules.

        Stage history stays as it happened; each lead's stage is then evaluated once, now. Each
        batch commits on its own, unless ``tx`` is given: then all of it runs in that transaction.
        """
        report = Report()
        cursor = 0
        now = epoch(self.clock.now())
        while True:
            with contextlib.nullcontext(tx) if tx is not None else self.store.transaction() as batch_tx:
                ids = batch_tx.leads.ids_after(cursor, self.batch_size)
                if not ids:
                    return report
                leads = batch_tx.leads.load_for_update(ids)
                evaluator = self._evaluator(batch_tx, leads)
                events = batch_tx.events.histories(ids)
                batch_tx.ledger.delete_lines(ids)
                before = {lead.id: (lead.stage, lead.scope(self.rules, now)) for lead in leads.values()}
                for lead in leads.values():
                    self._rebuild_points(evaluator, lead, events.get(lead.id, []))
                    evaluator.evaluate(lead, now)
                    evaluator.advance(lead, now)
                report.changed_leads += [lead.email for lead in leads.values()
                                         if before[lead.id] != (lead.stage, lead.scope(self.rules, now))]
                report.stage_changes += self._save(batch_tx, leads.values(), evaluator)
                report.leads_updated += len(ids)
                cursor = ids[-1]
            if progress:
                progress(len(ids))

    # ----- batch steps -----------------------------------------------------------------------

    def _store_events(self, tx: Tx, events: list[EventIn]) -> Report:
        report = Report()
        if not events:
            return report
        now = self.clock.now()
        unique = {e.key: e for e in events}
        report.duplicates += len(events) - len(unique)
        ids, report.leads_created = tx.leads.ensure(sorted({e.email for e in unique.values()}), now)
        inserted = tx.events.insert_new([{"key": e.key, "lead_id": ids[e.email], "type": e.type, "at": e.at,
                                          "props": e.props, "received_at": now} for e in unique.values()])
        report.duplicates += len(unique) - len(inserted)
        report.accepted += len(inserted)
        fresh: dict[int, list[EventIn]] = defaultdict(list)
        for e in unique.values():
            if e.key in inserted:
                fresh[ids[e.email]].append(e)
        if not fresh:
            return report
        leads = self._load(tx, sorted(fresh))
        for lead_id, evs in fresh.items():  # a lead is known from its earliest event, even one ingested late
            first = min(epoch(e.at) for e in evs)
            if first < leads[lead_id].created_at:
                leads[lead_id].created_at = first
                if leads[lead_id].stage == "lead" and not leads[lead_id].changes:
                    leads[lead_id].stage_since = first
        evaluator = self._evaluator(tx, leads)
        # an event older than what the lead has seen: replay that lead from the start
        late = [i for i, evs in fresh.items() if min(epoch(e.at) for e in evs) < leads[i].settled_until]
        earlier = self._prepare_replay(tx, leads, late)
        history = tx.events.histories(late)
        for lead_id, evs in fresh.items():
            lead = leads[lead_id]
            if lead_id in history:
                self._replay(evaluator, lead, history[lead_id])
            else:
                if lead.state.fit is None:  # created by an event: its fit was never computed
                    evaluator.refresh_fit(lead)
                    evaluator.evaluate(lead, lead.created_at)  # and holds from the lead's start
                for e in sorted(evs, key=lambda e: (e.at, e.key)):
                    at = epoch(e.at)
                    evaluator.advance(lead, at)
                    if evaluator.apply_event(lead, e.type, e.props, at, e.key):
                        evaluator.evaluate(lead, at)
        follow_up_events = self.rules.slas.events
        followed_up = {ids[e.email] for e in unique.values() if e.key in inserted and e.type in follow_up_events}
        report.stage_changes += self._save(tx, leads.values(), evaluator, replayed=earlier, loaded=self._loaded,
                                           followed_up=followed_up)
        return report

    def update_leads(self, tx: Tx, leads_in: list[LeadIn]) -> Report:
        """Upsert leads' attributes inside the caller's transaction; fit and stage follow."""
        report = Report()
        if not leads_in:
            return report
        merged: dict[str, LeadIn] = {}
        for row in leads_in:  # the same lead twice in one batch: the later values win
            before = merged.get(row.email)
            merged[row.email] = row if before is None else LeadIn(
                row.line, row.email, {**before.attributes, **row.attributes}, row.owner or before.owner)
        leads_in = list(merged.values())
        now = self.clock.now()
        ids, report.leads_created = tx.leads.ensure([lead.email for lead in leads_in], now)
        report.leads_updated = report.accepted = len(leads_in)
        leads = tx.leads.load_for_update(sorted(ids.values()))
        evaluator = self._evaluator(tx, leads)
        at = epoch(now)
        refit: list[int] = []
        for incoming in leads_in:
            lead = leads[ids[incoming.email]]
            lead.attributes = {**lead.attributes, **incoming.attributes}
            lead.owner = incoming.owner or lead.owner
            lead.attributes_changed = True
            fit = lead.state.fit
            evaluator.refresh_fit(lead)
            if lead.last_event_at is not None and lead.state.fit != fit:
                # Fit follows the attributes over the lead's whole history, so its events are
                # replayed with the new fit: the outcome is the same whichever came first.
                refit.append(lead.id)
                continue
            evaluator.advance(lead, at)
            evaluator.evaluate(lead, at)
        earlier = self._prepare_replay(tx, leads, refit)
        for lead_id, events in tx.events.histories(refit).items():
            self._replay(evaluator, leads[lead_id], events)
            evaluator.advance(leads[lead_id], at)
        report.stage_changes += self._save(tx, leads.values(), evaluator, replayed=earlier)
        return report

    def _prepare_replay(self, tx: Tx, leads: dict[int, LeadRecord],
                        ids: Sequence[int]) -> dict[int, set[tuple[dt.datetime, str, str]]]:
        """Forget these leads' points and stage history before their replay; returns that history, and
        lets each lead know what its earlier stage entries did (owners, notifications)."""
        if not ids:
            return {}
        before = tx.ledger.changes_of(ids)
        for lead_id, entries in tx.actions.entries_of(ids).items():
            leads[lead_id].prior = entries
        tx.ledger.delete_lines(ids)
        tx.ledger.delete_changes(ids)
        return {i: before.get(i, set()) for i in ids}

    def _replay(self, evaluator: Evaluator, lead: LeadRecord, events: list[StoredEvent]) -> None:
        """Recompute a lead from its start, as if its events had arrived in order and its current
        attributes had been known from the start (so a stage it holds on fit alone is never lost)."""
        lead.state = LeadState()
        lead.stage, lead.stage_since, lead.review_at, lead.last_event_at = "lead", lead.stage_since, None, None
        lead.entered = {}
        evaluator.refresh_fit(lead)
        start = min([lead.created_at, *(e.at for e in events[:1])])
        evaluator.evaluate(lead, start)
        for key, etype, at, props in events:
            evaluator.advance(lead, at)
            if evaluator.apply_event(lead, etype, props, at, key):
                evaluator.evaluate(lead, at)

    def _rebuild_points(self, evaluator: Evaluator, lead: LeadRecord, events: list[StoredEvent]) -> None:
        lead.state = LeadState()
        evaluator.refresh_fit(lead)
        for key, etype, at, props in events:
            evaluator.apply_event(lead, etype, props, at, key)

    def _load(self, tx: Tx, ids: list[int]) -> dict[int, LeadRecord]:
        """These leads, locked: from the cache where the store still holds what this processor saved,
        read otherwise; held for the cache once the batch commits."""
        stored = tx.leads.lock(ids)
        leads = self.cache.take(stored)
        if len(leads) < len(ids):
            leads.update(tx.leads.load_for_update([i for i in ids if i not in leads]))
        self.cache.hold(leads.values(), stored)
        self._loaded = {lead.id: settled(lead) for lead in leads.values()}
        return dict(sorted(leads.items()))  # in id order, as they were read

    def _evaluator(self, tx: Tx, leads: dict[int, LeadRecord]) -> Evaluator:
        return Evaluator(self.rules, self.version_id, tx.actions.next_turn, account_values(self.rules, tx, leads))

    def _save(self, tx: Tx, leads: Iterable[LeadRecord], evaluator: Evaluator,
              replayed: dict[int, set[tuple[dt.datetime, str, str]]] | None = None,
              loaded: dict[int, Settled] | None = None, followed_up: Collection[int] = (),
              time_alone: bool = False) -> int:
        """Write leads back with their ledger lines, stage changes and actions; returns the changes made
        (for a replayed lead: the entries its stage history gained or lost). ``loaded``: the leads' settled
        columns as they were read, so those left unchanged are not written again. ``followed_up``: leads with
        a follow-up event just stored. ``time_alone``: the leads only moved on in time (a review), so only those
        whose stage changed change what their accounts add up: a score read at an instant is the same whether
        the decay before it was settled or not."""
        now = self.clock.now()
        replayed = replayed or {}
        leads = list(leads)
        tx.leads.save(leads, now, loaded)
        changes = [c for lead in leads for c in lead.changes]
        actions = [act for lead in leads for act in lead.actions]
        tx.ledger.insert_lines([line for lead in leads for line in lead.ledger])
        tx.ledger.insert_changes(changes)
        if replayed:  # actions of transitions a replay no longer makes will not be delivered
            kept = [a["key"] for a in actions] + [key for lead in leads for key in lead.kept]
            tx.actions.cancel_replaced(list(replayed), keep=kept, reason=(
                f"cancelled {now.isoformat(timespec='seconds')}: with its events in time order the lead no "
                "longer makes this stage change, so nothing was sent"))
        tx.actions.insert_pending(actions)
        keep_follow_ups(tx, self.rules.slas, leads, now, replayed, followed_up)  # follow-up clocks start and are met
        # their accounts, marked to roll up once the input is in
        after_batch(tx, self.rules, [lead for lead in leads if lead.changes] if time_alone else leads)
        if self.rules.journeys:  # the daemon's journeys look once at every lead that changed
            tx.signals.insert_lead_changes([
                (lead.id, {"events": lead.arrived, "stages": [(c["to_stage"], epoch(c["at"])) for c in lead.changes]})
                for lead in leads if lead.arrived or lead.changes or lead.ledger or lead.attributes_changed], now)
        made = 0
        for lead in leads:
            if lead.id in replayed:
                after = {(c["at"], c["from_stage"], c["to_stage"]) for c in lead.changes}
                made += len(after ^ replayed[lead.id])
            else:
                made += len(lead.changes)
        return made
