"""The accounts tables: which account each lead belongs to, and each account's values and alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.scoring import LeadState
from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring, insert_many, one_of, read_epoch, read_json, update_many, values_param
from engine.store.tables import ACCOUNT_MEMBERS, ACCOUNTS, LEADS

#: when an account marked stale was "computed": before any real time, so every refresh takes it
STALE = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)

class AccountRow(NamedTuple):
    key: str
    scores: dict[str, float]
    #: alert name -> when it started to hold (ISO text)
    alerts: dict[str, str]
    computed_at: dt.datetime | None


class MemberRow(NamedTuple):
    """A contact of an account as the rollups read it."""

    lead_id: int
    email: str
    attributes: dict[str, Any]
    stage: str
    owner: str | None
    #: what its scores are worked out from (see `_scoring`)
    state: LeadState
    last_event_at: float | None
    #: what callers work out from this row, kept as long as the row is (while the lead's revision holds)
    memo: dict[str, Any]


def _scoring(state: dict[str, Any] | None) -> LeadState:
    """What a lead's scores at any time are worked out from (its event points and fit points), without what its
    caps' windows and event conditions remember: roll-ups never read those, and they are most of a lead's state,
    which `ContactCache` keeps for tens of thousands of contacts."""
    state = state or {}
    return LeadState({"sums": state.get("sums", {}), "fit": state.get("fit")})


class ContactCache:
    """Account contacts as committed transactions read them, by lead id, each with the lead's revision then.

    Every write of a lead's row raises its revision, so a kept contact is used only while the store still
    holds the revision it was read at, for the same address (SQLite may give an erased lead's id to a new one,
    and an erased address is refused ever after). Contacts are kept only once the transaction that read them committed,
    so a contact read after its own transaction's uncommitted write never outlives a rollback. Shared by the
    store's threads: each operation on the dict is atomic, and a full cache is emptied rather than trimmed.

    A contact takes a few kilobytes here, so the default keeps tens of megabytes: accounts of up to 20,000
    contacts in all are read once, and larger ones are read again in part. A transaction remembers no more
    contacts than the cache keeps. Bounded at 50,000, with every contact a roll-up read remembered until commit,
    100,000 leads in 5 accounts took 534 MB at the peak of a 1M-event import; now 269 MB.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._kept: dict[int, tuple[int, MemberRow]] = {}

    def get(self, lead_id: int, revision: int, email: str) -> MemberRow | None:
        entry = self._kept.get(lead_id)
        return entry[1] if entry is not None and entry[0] == revision and entry[1].email == email else None

    def keep(self, read: Sequence[tuple[int, MemberRow]]) -> None:
        """Keep what a committed transaction read: at most ``size`` contacts (`Accounts.members_page` stops
        remembering there)."""
        if len(self._kept) + len(read) > self.size:
            self._kept = {}
        for revision, row in read:
            self._kept[row.lead_id] = (revision, row)


class Accounts(Repository):
    """Which account each lead belongs to, and each account's values and alerts."""

    def __init__(self, conn: Connection, contacts: ContactCache | None = None,
                 contacts_read: list[tuple[int, MemberRow]] | None = None) -> None:
        super().__init__(conn)
        self.contacts = contacts
        #: contacts this transaction read from the leads table, for the cache once it commits
        self.contacts_read = contacts_read if contacts_read is not None else []

    def keys_of(self, lead_ids: Sequence[int]) -> dict[int, str]:
        """The account of each of these leads that has one."""
        sql = f"SELECT lead_id, account_key FROM account_members WHERE {one_of(self.conn, 'lead_id')}"
        return dict(self.conn.exec_driver_sql(sql, (values_param(self.conn, lead_ids),)).all())

    def set_keys(self, keys: Mapping[int, str | None]) -> None:
        """Put each lead in its account (None: in none)."""
        ids = sorted(keys)
        self.conn.exec_driver_sql(f"DELETE FROM account_members WHERE {one_of(self.conn, 'lead_id')}",
                                  (values_param(self.conn, ids),))
        insert_many(self.conn, ACCOUNT_MEMBERS,
                    [{"lead_id": i, "account_key": keys[i]} for i in ids if keys[i] is not None])

    def lock(self, keys: Sequence[str], now: dt.datetime) -> dict[str, AccountRow]:
        """These accounts, created empty where missing; on PostgreSQL locked until commit (in key order, so two
        writers refreshing the same accounts wait for each other), so an alert is judged by one writer at a time."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        insert_ignoring(self.conn, ACCOUNTS, [{"key": k, "scores": {}, "alerts": {}, "computed_at": now}
                                              for k in keys], "key")
        found: dict[str, AccountRow] = {}
        for part in chunks(keys):
            query = sa.select(ACCOUNTS).where(ACCOUNTS.c.key.in_(part)).order_by(ACCOUNTS.c.key)
            if self.postgres:
                query = query.with_for_update()
            for row in self.conn.execute(query):
                found[row.key] = AccountRow(row.key, dict(row.scores or {}), dict(row.alerts or {}), row.computed_at)
        return found

    def mark_stale(self, keys: Sequence[str]) -> None:
        """These accounts' contacts changed: roll them up again (`stale` finds them first). Created where missing."""
        keys = sorted(set(keys))
        if not keys:
            return
        insert_many(self.conn, ACCOUNTS, [{"key": k, "scores": {}, "alerts": {}, "computed_at": STALE} for k in keys],
                    "key", update_on_conflict=["computed_at"])

    def save(self, rows: Sequence[AccountRow]) -> None:
        update_many(self.conn, ACCOUNTS, [{"key": row.key, "scores": row.scores, "alerts": row.alerts,
                                           "computed_at": row.computed_at} for row in rows], key="key")

    def members(self, keys: Sequence[str], limit: int | None = None) -> dict[str, list[MemberRow]]:
        """The contacts of these accounts (the first ``limit`` of each, by id, when given), by account; leads
        erased since they joined are left out."""
        found: dict[str, list[MemberRow]] = {k: [] for k in keys}
        for key in sorted(set(keys)):
            found[key] = self._members(ACCOUNT_MEMBERS.c.account_key == key, limit).get(key, [])
        return found

    def members_page(self, key: str, after: int, limit: int) -> list[MemberRow]:
        """Up to ``limit`` contacts of one account with ids above ``after``, in id order: an account a page at a
        time, however large. Contacts the store's `ContactCache` holds at their current revision are not read
        again: an account is rolled up whenever one of its contacts acts, and most of the others have not."""
        mark = "%s" if self.postgres else "?"
        listed = self.conn.exec_driver_sql(
            f"SELECT l.id, l.revision, l.email FROM account_members m JOIN leads l ON l.id = m.lead_id "
            f"WHERE m.account_key = {mark} AND l.id > {mark} ORDER BY l.id LIMIT {mark}", (key, after, limit)).all()
        found: dict[int, MemberRow] = {}
        for lead_id, revision, email in listed:
            kept = self.contacts.get(lead_id, revision, email) if self.contacts is not None else None
            if kept is not None:
                found[lead_id] = kept
        missing = [lead_id for lead_id, _, _ in listed if lead_id not in found]
        if missing:
            sql = (f"SELECT id, email, attributes, stage, owner, state, last_event_at, revision FROM leads "
                   f"WHERE {one_of(self.conn, 'id')}")
            for lead_id, email, attributes, stage, owner, state, last_event_at, revision in self.conn.exec_driver_sql(
                    sql, (values_param(self.conn, missing),)):
                found[lead_id] = row = MemberRow(lead_id, email, dict(read_json(attributes) or {}), stage, owner,
                                                 _scoring(read_json(state)), read_epoch(last_event_at), {})
                # no more than the cache keeps: a roll-up of 80,000 contacts otherwise holds every one until commit
                if self.contacts is not None and len(self.contacts_read) < self.contacts.size:
                    self.contacts_read.append((revision, row))
        # a lead erased between the two reads is left out
        return [found[lead_id] for lead_id, _, _ in listed if lead_id in found]

    def _members(self, where: sa.ColumnElement[bool], limit: int | None = None) -> dict[str, list[MemberRow]]:
        found: dict[str, list[MemberRow]] = {}
        query = (sa.select(ACCOUNT_MEMBERS.c.account_key, LEADS.c.id, LEADS.c.email, LEADS.c.attributes,
                           LEADS.c.stage, LEADS.c.owner, LEADS.c.state, LEADS.c.last_event_at)
                 .join(LEADS, LEADS.c.id == ACCOUNT_MEMBERS.c.lead_id).where(where).order_by(LEADS.c.id))
        for key, *lead in self.conn.execute(query if limit is None else query.limit(limit)):
            lead_id, email, attributes, stage, owner, state, last_event_at = lead
            found.setdefault(key, []).append(MemberRow(lead_id, email, dict(read_json(attributes) or {}), stage,
                                                       owner, LeadState(read_json(state)), read_epoch(last_event_at),
                                                       {}))
        return found

    def of_lead(self, lead_id: int) -> AccountRow | None:
        """The account of a lead, as last computed; None for a lead with none."""
        joined = ACCOUNTS.join(ACCOUNT_MEMBERS, ACCOUNT_MEMBERS.c.account_key == ACCOUNTS.c.key)
        row = self.conn.execute(sa.select(ACCOUNTS).select_from(joined)
                                .where(ACCOUNT_MEMBERS.c.lead_id == lead_id)).first()
        return None if row is None else AccountRow(row.key, dict(row.scores or {}), dict(row.alerts or {}),
                                                   row.computed_at)

    def values_of(self, lead_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        """The account values of each of these leads that has an account."""
        found: dict[int, dict[str, float]] = {}
        for part in chunks(list(lead_ids)):
            query = (sa.select(ACCOUNT_MEMBERS.c.lead_id, ACCOUNTS.c.scores)
                     .join(ACCOUNTS, ACCOUNTS.c.key == ACCOUNT_MEMBERS.c.account_key)
                     .where(ACCOUNT_MEMBERS.c.lead_id.in_(part)))
            found.update({lead_id: dict(scores or {}) for lead_id, scores in self.conn.execute(query)})
        return found

    def stale(self, before: dt.datetime, after: str, limit: int) -> list[str]:
        """Keys (in order, after ``after``) of accounts last computed before ``before`` (those marked stale
        first of all: `STALE` is before any real time)."""
        query = (sa.select(ACCOUNTS.c.key).where(ACCOUNTS.c.computed_at < before, ACCOUNTS.c.key > after)
                 .order_by(ACCOUNTS.c.key).limit(limit))
        return list(self.conn.execute(query).scalars())

    def review_members(self, keys: Sequence[str], at: dt.datetime) -> None:
        """Have the stages of these accounts' leads reviewed at ``at`` (by the next sweep): their account's
        values changed. On PostgreSQL leads another writer holds are skipped: that writer refreshes the account
        after its own batch."""
        for part in chunks(sorted(set(keys))):
            members = sa.select(ACCOUNT_MEMBERS.c.lead_id).where(ACCOUNT_MEMBERS.c.account_key.in_(part))
            due = sa.or_(LEADS.c.review_at.is_(None), LEADS.c.review_at > at)
            ids = sa.select(LEADS.c.id).where(LEADS.c.id.in_(members), due)
            if self.postgres:
                ids = ids.with_for_update(skip_locked=True)
            self.conn.execute(LEADS.update().where(LEADS.c.id.in_(ids))
                              .values(review_at=at, revision=LEADS.c.revision + 1))
