"""Data subject requests: everything held about one address, exported or erased, and erased addresses kept out.

Tables are found through the models' metadata, so a table added later with a ``lead_id`` column is
exported and erased with the others without a change here.

An erased address is kept only as a salted SHA-256 hash in ``erasures``. The salt is random and
generated once per store (kept in ``meta``): an unsalted hash of an address is the same in every
system, so anyone holding a list of addresses, or the same hash elsewhere, could tell that the person
was erased here and link the records; with the store's own salt the hash answers "was this address
erased?" only for someone who already holds this store. (Addresses are guessable, so a salt is no
protection against the store's own operator: the hash exists precisely so the store can recognise
the address when it comes back.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from engine.core.rules import Rules
from engine.store.base import Repository
from engine.store.bulk import insert_ignoring, one_of, values_param
from engine.store.models import Erasure
from engine.store.reports import scores_of
from engine.store.tables import ANONYMOUS_EVENTS, LEADS, META, QUARANTINE, SOFT_BOUNCES, SUPPRESSIONS, VISITORS, _table

ERASURES = _table(Erasure)
#: tables keyed by the address rather than by the lead: suppressions (which outlive a lead) and the temporary
#: failures relays reported, whose reasons may quote the address
_ADDRESS_TABLES = (SUPPRESSIONS, SOFT_BOUNCES)
#: the meta key of the store's erasure salt
SALT = "erasure_salt"
#: the export document's format, for whoever reads it later
FORMAT = "nurture.subject-export/1"
#: what a quarantined row of an erased address keeps instead of its text
WITHHELD = "(row withheld: its address was erased at the person's request)"
#: the quarantine reason of such a row: it says why without naming the address
REFUSED = ("this address was erased at the person's request (a data subject request) and is never added "
           "again; remove the row from the source")


def _lead_tables() -> list[sa.Table]:
    """Every table with rows belonging to one lead, dependents first (so foreign keys hold while deleting)."""
    return [t for t in reversed(SQLModel.metadata.sorted_tables) if "lead_id" in t.c and t is not LEADS]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _rows(result: Iterable[sa.Row[Any]]) -> list[dict[str, Any]]:
    return [{key: _plain(value) for key, value in row._mapping.items()} for row in result]


def _is_text(column: sa.Column[Any]) -> bool:
    """A text column, SQLModel's strings (a decorator over String) included."""
    kind = column.type
    return isinstance(kind, sa.String) or isinstance(getattr(kind, "impl_instance", None), sa.String)


def address_hash(salt: str, email: str) -> str:
    """The hash an erased address is kept as: SHA-256 of the store's salt and the normalised address."""
    return hashlib.sha256(f"{salt}\n{email}".encode()).hexdigest()


class SaltCache:
    """The erasure salt once a committed transaction has read it: stored once, it never changes, and every batch
    of input asks for it. Kept only after the reading transaction commits, so a salt this transaction created
    and then rolled back is never taken for the store's."""

    def __init__(self) -> None:
        self.salt: str | None = None


class Privacy(Repository):
    """Data subject requests: export, erase, and recognising erased addresses."""

    def __init__(self, conn: Connection, salts: SaltCache | None = None, salt_read: list[str] | None = None,
                 erased: list[int] | None = None) -> None:
        super().__init__(conn)
        self.salts = salts
        #: the salt as this transaction read it, for the cache once it commits
        self.salt_read = salt_read if salt_read is not None else []
        #: the leads this transaction erased (the store empties SQLite's WAL once it commits)
        self.erased = erased if erased is not None else []

    def _salt(self, create: bool = False) -> str | None:
        if self.salts is not None and self.salts.salt is not None:
            return self.salts.salt
        # asked by every batch until a first erasure makes a salt: the driver's statement, without a compiled one's cost
        mark = "%s" if self.postgres else "?"
        found: str | None = self.conn.exec_driver_sql(f"SELECT value FROM {META.name} WHERE key = {mark}",
                                                      (SALT,)).scalar()
        if found is None and create:  # two processes may race here: the first salt stored wins for both
            insert_ignoring(self.conn, META, [{"key": SALT, "value": secrets.token_hex(32)}], "key")
            found = self.conn.execute(sa.select(META.c.value).where(META.c.key == SALT)).scalar_one()
        if found is not None:
            self.salt_read.append(found)
        return found

    def erased_among(self, emails: Iterable[str]) -> set[str]:
        """Those of ``emails`` (normalised) that were erased; nothing to look up before the first erasure."""
        salt = self._salt()
        if salt is None:
            return set()
        by_hash = {address_hash(salt, email): email for email in set(emails)}
        sql = f"SELECT address_hash FROM {ERASURES.name} WHERE {one_of(self.conn, 'address_hash')}"
        hashes = self.conn.exec_driver_sql(sql, (values_param(self.conn, sorted(by_hash)),)).scalars()
        return {by_hash[h] for h in hashes}

    def erasure_of(self, email: str) -> dict[str, Any] | None:
        """The audit record of ``email``'s erasure, or None when it was never erased."""
        salt = self._salt()
        if salt is None:
            return None
        row = self.conn.execute(sa.select(ERASURES).where(ERASURES.c.address_hash == address_hash(salt, email)))
        found = _rows(row)
        return found[0] if found else None

    def _lead(self, email: str) -> dict[str, Any] | None:
        found = _rows(self.conn.execute(sa.select(LEADS).where(LEADS.c.email == email)))
        return found[0] if found else None

    def _mentions(self, table: sa.Table, email: str) -> sa.ColumnElement[bool]:
        """Rows of ``table`` whose text holds ``email`` anywhere, in any case (a raw text search)."""
        return sa.or_(sa.false(), *(sa.func.lower(column).contains(email, autoescape=True)
                                    for column in table.c if _is_text(column)))

    def export(self, email: str, rules: Rules | None, now: dt.datetime) -> dict[str, Any] | None:
        """One document with everything held about ``email`` (normalised); None when there is no such lead.

        Scores are read at ``now`` under ``rules`` (left out when no campaign is applied). Outbox
        messages include their bodies, as sent (MIME for email, JSON for a sales webhook).
        """
        lead = self._lead(email)
        if lead is None:
            return None
        state = lead.pop("state")
        lead["scores"] = scores_of(rules, state, now) if rules is not None else None
        lead["scoring_state"] = state
        lead["consent"] = {"unsubscribed_at": lead.pop("unsubscribed_at"),
                           "suppressed_reason": lead.pop("suppressed_reason")}
        document: dict[str, Any] = {"format": FORMAT, "exported_at": now.isoformat(), "email": email,
                                    "outbox_bodies_included": True, "lead": lead}
        for table in reversed(_lead_tables()):
            query = sa.select(table).where(table.c.lead_id == lead["id"]).order_by(*table.primary_key.columns)
            document[table.name] = _rows(self.conn.execute(query))
        document["quarantine"] = _rows(self.conn.execute(
            sa.select(QUARANTINE).where(self._mentions(QUARANTINE, email)).order_by(QUARANTINE.c.id)))
        for table in _ADDRESS_TABLES:
            document[table.name] = _rows(self.conn.execute(
                sa.select(table).where(table.c.email == email).order_by(*table.primary_key.columns)))
        return document

    def erase(self, email: str, by: str, now: dt.datetime) -> dict[str, int] | None:
        """Remove everything held about ``email`` (normalised) and keep only its salted hash with the counts.

        Rows of other leads that name the address as their owner keep the lead and lose the owner.
        Returns the rows removed per table; None when there is no such lead (nothing is changed).
        """
        lead = self.conn.execute(sa.select(LEADS.c.id).where(LEADS.c.email == email)).scalar()
        if lead is None:
            return None
        secure = self._secure_delete(True)
        self.erased.append(lead)
        counts: dict[str, int] = {}
        for table in _lead_tables():
            counts[table.name] = self.conn.execute(table.delete().where(table.c.lead_id == lead)).rowcount
        counts["quarantine"] = self.conn.execute(
            QUARANTINE.delete().where(self._mentions(QUARANTINE, email))).rowcount
        for table in _ADDRESS_TABLES:
            counts[table.name] = self.conn.execute(table.delete().where(table.c.email == email)).rowcount
        # the browsers that identified as this person, and what they did before they did
        visitors = list(self.conn.execute(sa.select(VISITORS.c.anonymous_id)
                                          .where(VISITORS.c.email == email)).scalars())
        counts["anonymous_events"] = self.conn.execute(
            ANONYMOUS_EVENTS.delete().where(ANONYMOUS_EVENTS.c.anonymous_id.in_(visitors))).rowcount if visitors else 0
        counts["anonymous_visitors"] = self.conn.execute(VISITORS.delete().where(VISITORS.c.email == email)).rowcount
        counts["owner_of_other_leads"] = self.conn.execute(
            LEADS.update().where(LEADS.c.owner == email, LEADS.c.id != lead)
            .values(owner=None, revision=LEADS.c.revision + 1)).rowcount
        counts["leads"] = self.conn.execute(LEADS.delete().where(LEADS.c.id == lead)).rowcount
        salt = self._salt(create=True)
        assert salt is not None
        insert_ignoring(self.conn, ERASURES, [{"address_hash": address_hash(salt, email), "erased_at": now,
                                               "erased_by": by[:200], "counts": counts}], "address_hash")
        self._secure_delete(secure)
        return counts

    def _secure_delete(self, on: bool) -> bool:
        """SQLite: overwrite deleted content in the file instead of leaving it in free pages; returns the
        setting before. (PostgreSQL drops dead rows when it vacuums.)"""
        if self.postgres:
            return on
        before = bool(self.conn.exec_driver_sql("PRAGMA secure_delete").scalar())
        self.conn.exec_driver_sql(f"PRAGMA secure_delete = {int(on)}")
        return before
