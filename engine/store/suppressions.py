"""Consent: the suppression list and the leads' unsubscribe flag, changed together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

import sqlalchemy as sa

from engine.store.base import Repository, chunks
from engine.store.bulk import insert_ignoring
from engine.store.tables import LEADS, SOFT_BOUNCES, SUPPRESSIONS

#: the suppression reason of an unsubscribe; only these are lifted by a resubscribe (never a bounce)
UNSUBSCRIBED = "unsubscribed"


class LeadConsent(NamedTuple):
    lead_id: int
    email: str
    unsubscribed_at: dt.datetime | None

    @property
    def unsubscribed(self) -> bool:
        return self.unsubscribed_at is not None


class Suppressions(Repository):
    """Consent: the suppression list and the leads' unsubscribe flag, changed together."""

    def consent_of(self, lead_id: int) -> LeadConsent | None:
        """The lead's address and whether it unsubscribed; None when there is no such lead."""
        row = self.conn.execute(sa.select(LEADS.c.id, LEADS.c.email, LEADS.c.unsubscribed_at)
                                .where(LEADS.c.id == lead_id)).first()
        return None if row is None else LeadConsent(row.id, row.email, row.unsubscribed_at)

    def add(self, email: str, reason: str, now: dt.datetime) -> None:
        """Suppress ``email``; an address already suppressed keeps its first reason."""
        insert_ignoring(self.conn, SUPPRESSIONS, [{"email": email, "reason": reason[:2000], "created_at": now}],
                        "email")

    def among(self, emails: Iterable[str]) -> set[str]:
        """Those of ``emails`` that are suppressed."""
        found: set[str] = set()
        for chunk in chunks(sorted(set(emails))):
            found.update(self.conn.execute(sa.select(SUPPRESSIONS.c.email)
                                           .where(SUPPRESSIONS.c.email.in_(chunk))).scalars())
        return found

    def unsubscribe(self, lead: LeadConsent, now: dt.datetime,
                    how: str = "via the link in an email") -> bool:
        """Withdraw consent: suppress the address and flag the lead. True when it was subscribed until now."""
        self.add(lead.email, f"{UNSUBSCRIBED} {how}", now)
        if lead.unsubscribed:
            return False
        self.conn.execute(LEADS.update().where(LEADS.c.id == lead.lead_id)
                          .values(unsubscribed_at=now, updated_at=now))
        return True

    def resubscribe(self, lead: LeadConsent, now: dt.datetime) -> bool:
        """Undo an unsubscribe; True when the lead was unsubscribed. A bounce's suppression stays."""
        self.conn.execute(SUPPRESSIONS.delete().where(SUPPRESSIONS.c.email == lead.email,
                                                      SUPPRESSIONS.c.reason.like(f"{UNSUBSCRIBED}%")))
        if not lead.unsubscribed:
            return False
        self.conn.execute(LEADS.update().where(LEADS.c.id == lead.lead_id)
                          .values(unsubscribed_at=None, updated_at=now))
        return True

    def bounced(self, email: str, reason: str, now: dt.datetime) -> None:
        """Suppress an address a relay reported as undeliverable (or that complained), and mark its lead."""
        self.add(email, reason, now)
        self.conn.execute(LEADS.update().where(LEADS.c.email == email, LEADS.c.suppressed_reason.is_(None))
                          .values(suppressed_reason=reason[:1000]))

    def soft_bounce(self, key: str, email: str, reason: str, at: dt.datetime) -> int:
        """Count a temporary failure once per ``key``; how many the address has gathered, this one included."""
        insert_ignoring(self.conn, SOFT_BOUNCES, [{"key": key[:300], "email": email, "reason": reason[:2000],
                                                   "at": at}], "key")
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(SOFT_BOUNCES)
                                     .where(SOFT_BOUNCES.c.email == email)).scalar_one())
