"""The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.core.clock import from_epoch
from engine.core.evaluator import LeadRecord
from engine.core.scoring import LeadState
from engine.store.base import Repository
from engine.store.bulk import insert_many, one_of, read_epoch, read_json, update_many, values_param
from engine.store.tables import LEADS

#: the attribute the funnel report breaks leads down by (kept in its own indexed column)
SOURCE_ATTRIBUTE = "lead_source"
# The batch path reads through the driver: an expanding IN (...) of thousands of values is compiled
# anew for every length, and SQLAlchemy's per-value processing of JSON and times costs more than the query.
_LOAD_COLUMNS = "id, email, attributes, stage, stage_since, owner, state, last_event_at, review_at, created_at"


def _epoch(value: str | dt.datetime) -> float:
    seconds = read_epoch(value)
    assert seconds is not None  # a NOT NULL column
    return seconds


class Leads(Repository):
    """The leads table: ids by email, lead state loaded for an update and saved back, views of leads."""

    def ids_by_email(self, emails: Sequence[str]) -> dict[str, int]:
        """The ids of those of ``emails`` (normalised) that are leads."""
        if not emails:
            return {}
        sql = f"SELECT email, id FROM leads WHERE {one_of(self.conn, 'email')}"
        return dict(self.conn.exec_driver_sql(sql, (values_param(self.conn, emails),)).all())

    def ensure(self, emails: Sequence[str], now: dt.datetime) -> tuple[dict[str, int], int]:
        """Ids of these leads, creating the missing ones; returns the ids and how many were created."""
        ids = self.ids_by_email(emails)
        # in email order, so two writers creating the same leads wait for each other, never deadlock
        missing = sorted({m for m in emails if m not in ids})
        if not missing:
            return ids, 0
        insert_many(self.conn, LEADS, [{"email": m, "attributes": {}, "state": {}, "source": "unknown",
                                        "stage": "lead", "stage_since": now, "created_at": now, "updated_at": now}
                                       for m in missing],
                    ignore_conflicts_on="email")  # another writer may create the same lead meanwhile
        ids.update(self.ids_by_email(missing))
        return ids, len(missing)

    def lock(self, ids: Sequence[int]) -> dict[int, Revision]:
        """These leads' revisions, by id; on PostgreSQL their rows stay locked until commit.

        A lead kept in memory since it was saved at the revision read here is still current.
        """
        if not ids:
            return {}
        return {lead_id: Revision(revision, email) for lead_id, revision, email
                in self.conn.exec_driver_sql(self._locking("id, revision, email"), (values_param(self.conn, ids),))}

    def load_for_update(self, ids: Sequence[int]) -> dict[int, LeadRecord]:
        """These leads as the evaluator sees them, by id; on PostgreSQL their rows stay locked until commit."""
        if not ids:
            return {}
        leads = {}
        for (lead_id, email, attributes, stage, stage_since, owner, state, last_event_at, review_at,
             created_at) in self.conn.exec_driver_sql(self._locking(_LOAD_COLUMNS), (values_param(self.conn, ids),)):
            leads[lead_id] = LeadRecord(
                lead_id, email, dict(read_json(attributes) or {}), stage, _epoch(stage_since), owner,
                LeadState(read_json(state)), read_epoch(last_event_at), read_epoch(review_at), _epoch(created_at))
        return leads

    def _locking(self, columns: str) -> str:
        # ordered by id, so two writers locking the same leads wait for each other, never deadlock
        return (f"SELECT {columns} FROM leads WHERE {one_of(self.conn, 'id')} ORDER BY id"
                + (" FOR UPDATE" if self.postgres else ""))

    def save(self, leads: Sequence[LeadRecord], now: dt.datetime,
             loaded: Mapping[int, Settled] | None = None) -> None:
        """Write the leads' stage, owner and scoring state back; attributes too for those whose changed.

        A lead whose stage, stage_since, owner and created_at are still those in ``loaded`` (as `settled`
        gives them) is written without them: most events change a lead's score, few its stage. Each
        lead's revision goes up by one.
        """
        loaded = loaded or {}
        full: list[dict[str, Any]] = []
        scored: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for lead in leads:
            row = {"id": lead.id, "state": lead.state.to_json(),
                   "last_event_at": None if lead.last_event_at is None else from_epoch(lead.last_event_at),
                   "review_at": None if lead.review_at is None else from_epoch(lead.review_at), "updated_at": now}
            if lead.attributes_changed:
                changed.append({**row, **_settled_row(lead), "attributes": lead.attributes,
                                "source": str(lead.attributes.get(SOURCE_ATTRIBUTE) or "unknown")[:200]})
            elif loaded.get(lead.id) == settled(lead):
                scored.append(row)
            else:
                full.append({**row, **_settled_row(lead)})
        # each statement with the same columns in every row, so each is one executemany
        for rows in (scored, full, changed):
            update_many(self.conn, LEADS, rows, count="revision")

    def count(self) -> int:
        return self.conn.execute(sa.select(sa.func.count()).select_from(LEADS)).scalar_one()

    def due_for_review(self, until: dt.datetime, limit: int, among: Sequence[int] | None = None) -> list[int]:
        """Ids (ascending, at most ``limit``) of leads whose stage time alone may have changed by ``until``."""
        query = sa.select(LEADS.c.id).where(LEADS.c.review_at <= until)
        if among is not None:
            query = query.where(LEADS.c.id.in_(among))
        return list(self.conn.execute(query.order_by(LEADS.c.id).limit(limit)).scalars())

    def ids_after(self, cursor: int, limit: int) -> list[int]:
        """The next ``limit`` lead ids above ``cursor``, ascending: a walk over every lead."""
        return list(self.conn.execute(sa.select(LEADS.c.id).where(LEADS.c.id > cursor)
                                      .order_by(LEADS.c.id).limit(limit)).scalars())

    # ----- what journeys read ------------------------------------------------------------------

    def journey_views(self, lead_ids: Sequence[int]) -> dict[int, LeadRow]:
        """Many leads in one query: the daemon's batches read hundreds at a time, and a query per lead
        cost more than everything journeys then do with them."""
        if not lead_ids:
            return {}
        sql = f"SELECT {_VIEW_COLUMNS} FROM leads WHERE {one_of(self.conn, 'id')}"
        return {lead_id: LeadRow(lead_id, email, read_json(attributes) or {}, read_json(state) or {},
                                 stage, owner, unsubscribed_at is not None)
                for lead_id, email, attributes, state, stage, owner, unsubscribed_at
                in self.conn.exec_driver_sql(sql, (values_param(self.conn, sorted(set(lead_ids))),))}


#: a lead's stage, stage_since, owner and created_at: the columns most batches leave as they are
Settled = tuple[str, float, str | None, float]


def settled(lead: LeadRecord) -> Settled:
    return (lead.stage, lead.stage_since, lead.owner, lead.created_at)


def _settled_row(lead: LeadRecord) -> dict[str, Any]:
    return {"stage": lead.stage, "stage_since": from_epoch(lead.stage_since), "owner": lead.owner,
            "created_at": from_epoch(lead.created_at)}


class Revision(NamedTuple):
    """Which write of a lead is stored: its revision, and its address (an id alone may be reused)."""

    number: int
    email: str


class LeadRow(NamedTuple):
    """A lead as stored: what journeys and delivery build their view of it from."""

    id: int
    email: str
    attributes: dict[str, Any]
    #: the scoring state (engine.core.scoring.LeadState's JSON form)
    state: dict[str, Any]
    stage: str
    owner: str | None
    unsubscribed: bool


#: what journeys and delivery read of a lead, through the driver as the batch path reads (see `_LOAD_COLUMNS`)
_VIEW_COLUMNS = "id, email, attributes, state, stage, owner, unsubscribed_at"
