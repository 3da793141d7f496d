"""Batch processing against the store: events and leads in, scores, ledger and stages out.

Each batch is one transaction: its good rows, their points, stage changes and actions, and its
quarantined rows commit together or not at all. Leads are locked while a batch updates them, so
several processes may ingest into one PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.core.clock import Clock, epoch, from_epoch
from engine.core.evaluator import Evaluator, LeadRecord
from engine.core.rules import Rules
from engine.core.scoring import LeadState
from engine.ingest.rows import EventIn, InvalidRow, LeadIn, Rejected, Row, validate_event, validate_lead
from engine.store.bulk import insert_ignoring, insert_many, update_many
from engine.store.tables import ACTIONS, CHANGES, EVENTS, LEADS, LEDGER, QUARANTINE, SIGNALS, TURNS

Progress = Callable[[int], None]
#: the attribute the funnel report breaks leads down by
SOURCE_ATTRIBUTE = "lead_source"


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


@contextlib.contextmanager
def transaction(db: Engine, dry_run: bool = False) -> Iterator[Connection]:
    """A transaction that commits, or with ``dry_run`` always rolls back (for `nurture plan`)."""
    with db.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        except BaseException:
            trans.rollback()
            raise
        if dry_run:
            trans.rollback()
        else:
            trans.commit()


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class Processor:
    def __init__(self, db: Engine, rules: Rules, version_id: int | None, clock: Clock,
                 batch_size: int = 5000) -> None:
        self.db = db
        self.rules = rules
        self.version_id = version_id
        self.clock = clock
        self.batch_size = batch_size

    # ----- public entry points ---------------------------------------------------------------

    def ingest_events(self, rows: Iterable[Row], origin: str, from_text: bool = False,
                      progress: Progress | None = None) -> Report:
        """Validate, store and score events; bad rows are quarantined with their reason."""
        report = self._in_batches(rows, origin, lambda row: validate_event(row, self.rules.event_types, from_text),
                                  self._store_events, progress)
        # Time-driven changes (decay, closing windows) are applied once the whole input is in, so a
        # file of history loads in order instead of replaying leads batch after batch.
        report.stage_changes += self.sweep()
        return report

    def import_leads(self, rows: Iterable[Row], origin: str, from_text: bool = False,
                     progress: Progress | None = None) -> Report:
        """Upsert leads by normalised email; fit scores and stages follow the new attributes."""
        return self._in_batches(rows, origin, lambda row: validate_lead(row, self.rules.attribute_types, from_text),
                                self.update_leads, progress)

    def _in_batches(self, rows: Iterable[Row], origin: str, validate: Callable[[Row], Any],
                    store: Callable[[Connection, list], Report], progress: Progress | None) -> Report:
        """Each batch in one transaction: its good rows stored, its bad rows quarantined."""
        report = Report()
        for batch in _batches(rows, self.batch_size):
            good, bad = [], []
            for row in batch:
                try:
                    if row.data is None:
                        raise InvalidRow(row.error or "unreadable row")
                    good.append(validate(row))
                except InvalidRow as err:
                    bad.append(Rejected(row.line, row.raw, str(err)))
            with self.db.begin() as conn:
                part = store(conn, good)
                self._quarantine(conn, origin, bad)
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
            with self.db.begin() as conn:
                query = sa.select(LEADS.c.id).where(LEADS.c.review_at <= until)
                if lead_ids is not None:
                    query = query.where(LEADS.c.id.in_(lead_ids))
                ids = list(conn.execute(query.order_by(LEADS.c.id).limit(self.batch_size)).scalars())
                if not ids:
                    return total
                leads = self._load(conn, ids)
                evaluator = self._evaluator(conn)
                for lead in leads.values():
                    evaluator.advance(lead, epoch(until))
                total += self._save(conn, leads.values(), evaluator)

    def rescore(self, progress: Progress | None = None, conn: Connection | None = None) -> Report:
        """Recompute every lead's points from its events under the current rules.

        Stage history stays as it happened; each lead's stage is then evaluated once, now. Each
        batch commits on its own, unless ``conn`` is given: then all of it runs in that transaction.
        """
        report = Report()
        last_id = 0
        now = epoch(self.clock.now())
        given = conn
        while True:
            with contextlib.nullcontext(given) if given is not None else self.db.begin() as conn:
                ids = list(conn.execute(sa.select(LEADS.c.id).where(LEADS.c.id > last_id)
                                        .order_by(LEADS.c.id).limit(self.batch_size)).scalars())
                if not ids:
                    return report
                leads = self._load(conn, ids)
                evaluator = self._evaluator(conn)
                events = self._events_of(conn, ids)
                conn.execute(LEDGER.delete().where(LEDGER.c.lead_id.in_(ids)))
                before = {lead.id: (lead.stage, lead.scope(self.rules, now)) for lead in leads.values()}
                for lead in leads.values():
                    self._rebuild_points(evaluator, lead, events.get(lead.id, []))
                    evaluator.evaluate(lead, now)
                    evaluator.advance(lead, now)
                report.changed_leads += [lead.email for lead in leads.values()
                                         if before[lead.id] != (lead.stage, lead.scope(self.rules, now))]
                report.stage_changes += self._save(conn, leads.values(), evaluator)
                report.leads_updated += len(ids)
                last_id = ids[-1]
            if progress:
                progress(len(ids))

    # ----- batch steps -----------------------------------------------------------------------

    def _store_events(self, conn: Connection, events: list[EventIn]) -> Report:
        report = Report()
        if not events:
            return report
        now = self.clock.now()
        unique = {e.key: e for e in events}
        report.duplicates += len(events) - len(unique)
        ids, report.leads_created = self._ensure_leads(conn, sorted({e.email for e in unique.values()}), now)
        rows = [{"key": e.key, "lead_id": ids[e.email], "type": e.type, "at": e.at, "props": e.props,
                 "received_at": now} for e in unique.values()]
        inserted = self._insert_new_events(conn, rows)
        report.duplicates += len(unique) - len(inserted)
        report.accepted += len(inserted)
        fresh: dict[int, list[EventIn]] = defaultdict(list)
        for e in unique.values():
            if e.key in inserted:
                fresh[ids[e.email]].append(e)
        if not fresh:
            return report
        leads = self._load(conn, sorted(fresh))
        for lead_id, evs in fresh.items():  # a lead is known from its earliest event, even one ingested late
            first = min(epoch(e.at) for e in evs)
            if first < leads[lead_id].created_at:
                leads[lead_id].created_at = first
                if leads[lead_id].stage == "lead" and not leads[lead_id].changes:
                    leads[lead_id].stage_since = first
        evaluator = self._evaluator(conn)
        late = [i for i, evs in fresh.items() if min(epoch(e.at) for e in evs) < leads[i].settled_until]
        history = self._events_of(conn, late) if late else {}
        if late:  # an event older than what the lead has seen: replay that lead from the start
            conn.execute(LEDGER.delete().where(LEDGER.c.lead_id.in_(late)))
            conn.execute(CHANGES.delete().where(CHANGES.c.lead_id.in_(late)))
        for lead_id, evs in fresh.items():
            lead = leads[lead_id]
            if lead_id in history:
                self._replay(evaluator, lead, history[lead_id])
            else:
                if lead.state.fit is None:  # created by an event: its fit was never computed
                    evaluator.refresh_fit(lead)
                for e in sorted(evs, key=lambda e: (e.at, e.key)):
                    at = epoch(e.at)
                    evaluator.advance(lead, at)
                    if evaluator.apply_event(lead, e.type, e.props, at, e.key):
                        evaluator.evaluate(lead, at)
        report.stage_changes += self._save(conn, leads.values(), evaluator, replayed=late)
        return report

    def update_leads(self, conn: Connection, leads_in: list[LeadIn]) -> Report:
        """Upsert leads' attributes inside the caller's transaction; fit and stage follow."""
        report = Report()
        if not leads_in:
            return report
        merged: dict[str, LeadIn] = {}
        for lead in leads_in:  # the same lead twice in one batch: the later values win
            before = merged.get(lead.email)
            merged[lead.email] = lead if before is None else LeadIn(
                lead.line, lead.email, {**before.attributes, **lead.attributes}, lead.owner or before.owner)
        leads_in = list(merged.values())
        now = self.clock.now()
        ids, report.leads_created = self._ensure_leads(conn, [lead.email for lead in leads_in], now)
        report.leads_updated = report.accepted = len(leads_in)
        leads = self._load(conn, sorted(ids.values()))
        evaluator = self._evaluator(conn)
        at = epoch(now)
        for incoming in leads_in:
            lead = leads[ids[incoming.email]]
            lead.attributes = {**lead.attributes, **incoming.attributes}
            lead.owner = incoming.owner or lead.owner
            lead.attributes_changed = True
            evaluator.advance(lead, at)
            evaluator.refresh_fit(lead)
            evaluator.evaluate(lead, at)
        report.stage_changes += self._save(conn, leads.values(), evaluator)
        return report

    def _replay(self, evaluator: Evaluator, lead: LeadRecord, events: list[tuple]) -> None:
        """Recompute a lead from its first event, as if its events had arrived in order."""
        lead.state = LeadState()
        lead.stage, lead.stage_since, lead.review_at, lead.last_event_at = "lead", lead.stage_since, None, None
        evaluator.refresh_fit(lead)
        for key, etype, at, props in events:
            t = epoch(at)
            evaluator.advance(lead, t)
            if evaluator.apply_event(lead, etype, props, t, key):
                evaluator.evaluate(lead, t)

    def _rebuild_points(self, evaluator: Evaluator, lead: LeadRecord, events: list[tuple]) -> None:
        lead.state = LeadState()
        evaluator.refresh_fit(lead)
        for key, etype, at, props in events:
            evaluator.apply_event(lead, etype, props, epoch(at), key)

    # ----- store access ----------------------------------------------------------------------

    def _ensure_leads(self, conn: Connection, emails: list[str], now: dt.datetime) -> tuple[dict[str, int], int]:
        """Ids of these leads, creating the missing ones; returns the ids and how many were created."""
        ids = self._ids(conn, emails)
        missing = [m for m in emails if m not in ids]
        insert_many(conn, LEADS, [{"email": m, "attributes": {}, "state": {}, "source": "unknown", "stage": "lead",
                                   "stage_since": now, "created_at": now, "updated_at": now} for m in missing],
                    ignore_conflicts_on="email")  # another writer may create the same lead meanwhile
        if missing:
            ids.update(self._ids(conn, missing))
        return ids, len(missing)

    def _insert_new_events(self, conn: Connection, rows: list[dict]) -> set[str]:
        """Store events whose key is new; returns those keys (each event counts exactly once)."""
        if conn.dialect.name == "postgresql":  # concurrent writers: let the unique index decide
            return set(insert_ignoring(conn, EVENTS, rows, "key", EVENTS.c.key))
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so a lookup is exact
        keys = [r["key"] for r in rows]
        seen = set(conn.execute(sa.select(EVENTS.c.key).where(EVENTS.c.key.in_(keys))).scalars())
        new = [r for r in rows if r["key"] not in seen]
        insert_many(conn, EVENTS, new)
        return {r["key"] for r in new}

    def _ids(self, conn: Connection, emails: list[str]) -> dict[str, int]:
        rows = conn.execute(sa.select(LEADS.c.email, LEADS.c.id).where(LEADS.c.email.in_(emails)))
        return dict(rows.all())

    def _load(self, conn: Connection, ids: list[int]) -> dict[int, LeadRecord]:
        query = sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.attributes, LEADS.c.stage, LEADS.c.stage_since,
                          LEADS.c.owner, LEADS.c.state, LEADS.c.last_event_at, LEADS.c.review_at,
                          LEADS.c.created_at) \
            .where(LEADS.c.id.in_(ids)).order_by(LEADS.c.id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # ordered by id, so two writers never deadlock
        leads = {}
        for row in conn.execute(query):
            leads[row.id] = LeadRecord(
                row.id, row.email, dict(row.attributes or {}), row.stage, epoch(row.stage_since), row.owner,
                LeadState(row.state), row.last_event_at and epoch(row.last_event_at),
                row.review_at and epoch(row.review_at), epoch(row.created_at))
        return leads

    def _events_of(self, conn: Connection, ids: list[int]) -> dict[int, list[tuple]]:
        rows = conn.execute(sa.select(EVENTS.c.lead_id, EVENTS.c.key, EVENTS.c.type, EVENTS.c.at,
                                      EVENTS.c.props).where(EVENTS.c.lead_id.in_(ids))
                            .order_by(EVENTS.c.lead_id, EVENTS.c.at, EVENTS.c.key))
        found: dict[int, list[tuple]] = defaultdict(list)
        for row in rows:
            found[row.lead_id].append((row.key, row.type, row.at, row.props or {}))
        return found

    def _evaluator(self, conn: Connection) -> Evaluator:
        turns: dict[str, int] = {}

        def next_turn(stage: str) -> int:
            if stage not in turns:
                query = sa.select(TURNS.c.counter).where(TURNS.c.stage == stage)
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                current = conn.execute(query).scalar()
                if current is None:
                    insert_ignoring(conn, TURNS, [{"stage": stage, "counter": 0}], "stage")
                turns[stage] = current or 0
            turns[stage] += 1
            conn.execute(TURNS.update().where(TURNS.c.stage == stage).values(counter=turns[stage]))
            return turns[stage] - 1

        return Evaluator(self.rules, self.version_id, next_turn)

    def _save(self, conn: Connection, leads: Iterable[LeadRecord], evaluator: Evaluator,
              replayed: Iterable[int] = ()) -> int:
        """Write leads back with their ledger lines, stage changes and actions; returns changes."""
        now = self.clock.now()
        leads = list(leads)
        rows = [{"id": lead.id, "stage": lead.stage, "stage_since": from_epoch(lead.stage_since), "owner": lead.owner,
                 "state": lead.state.to_json(), "last_event_at": lead.last_event_at and from_epoch(lead.last_event_at),
                 "review_at": lead.review_at and from_epoch(lead.review_at), "created_at": from_epoch(lead.created_at),
                 "updated_at": now} for lead in leads]
        update_many(conn, LEADS, [r for r, lead in zip(rows, leads, strict=True) if not lead.attributes_changed])
        update_many(conn, LEADS, [{**r, "attributes": lead.attributes,
                                   "source": str(lead.attributes.get(SOURCE_ATTRIBUTE) or "unknown")[:200]}
                                  for r, lead in zip(rows, leads, strict=True) if lead.attributes_changed])
        ledger = [line for lead in leads for line in lead.ledger]
        changes = [c for lead in leads for c in lead.changes]
        actions = [act for lead in leads for act in lead.actions]
        insert_many(conn, LEDGER, ledger)
        insert_many(conn, CHANGES, changes)
        replayed = list(replayed)
        if replayed:  # actions of transitions a replay no longer makes will not be delivered
            keep = [a["key"] for a in actions]
            conn.execute(ACTIONS.update().where(ACTIONS.c.lead_id.in_(replayed), ACTIONS.c.status == "pending",
                                                ACTIONS.c.key.not_in(keep)).values(status="cancelled"))
        insert_many(conn, ACTIONS, actions, ignore_conflicts_on="key")
        if self.rules.journeys:  # the daemon's journeys look once at every lead that changed
            insert_many(conn, SIGNALS, [
                {"lead_id": lead.id, "kind": "lead", "name": "", "at": now, "leased_until": None,
                 "props": {"events": lead.arrived, "stages": [(c["to_stage"], epoch(c["at"])) for c in lead.changes]}}
                for lead in leads if lead.arrived or lead.changes or lead.ledger or lead.attributes_changed])
        return len(changes)

    def _quarantine(self, conn: Connection, origin: str, rejected: list[Rejected]) -> None:
        now = self.clock.now()
        insert_ignoring(conn, QUARANTINE, [
            {"key": hashlib.sha256(f"{origin}\n{r.raw}\n{r.reason}".encode()).hexdigest(), "origin": origin,
             "line": r.line, "raw": r.raw, "reason": r.reason, "received_at": now} for r in rejected], "key")
