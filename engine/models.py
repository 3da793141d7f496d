"""The store's tables. Rows only: queries live with the code that needs them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from .clock import UTC


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in Python; plain UTC in the database (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _json(**kw: Any) -> Any:
    return Field(default_factory=dict, sa_type=sa.JSON, **kw)


def _when(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class CampaignVersion(SQLModel, table=True):
    __tablename__ = "campaign_versions"
    id: int | None = Field(default=None, primary_key=True)
    hash: str = Field(index=True, max_length=64)
    #: hash of the scoring and stage rules only: a change here means every lead is rescored
    rules_hash: str = Field(max_length=64)
    created_at: dt.datetime = _when()
    files: dict[str, str] = _json()


class Lead(SQLModel, table=True):
    __tablename__ = "leads"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    attributes: dict[str, Any] = _json()
    source: str = Field(default="unknown", max_length=200, index=True)
    stage: str = Field(default="lead", max_length=100, index=True)
    stage_since: dt.datetime = _when()
    owner: str | None = Field(default=None, max_length=320)
    #: scoring state, see engine.scoring.LeadState: decayed sums, cap windows, event times
    state: dict[str, Any] = _json()
    last_event_at: dt.datetime | None = _when(default=None)
    #: when the stage may next change by time alone (decay, windows); swept when due
    review_at: dt.datetime | None = _when(default=None, index=True)
    unsubscribed_at: dt.datetime | None = _when(default=None)
    suppressed_reason: str | None = Field(default=None, max_length=1000)
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_lead_at", "lead_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    #: the event's own id, or a stable hash of it: the same event is stored once
    key: str = Field(unique=True, max_length=200)
    lead_id: int = Field(foreign_key="leads.id")
    type: str = Field(max_length=200)
    at: dt.datetime = _when()
    props: dict[str, Any] = _json()
    received_at: dt.datetime = _when()


class ScoreEntry(SQLModel, table=True):
    """The score ledger: every awarded point with its rule, event and time."""

    __tablename__ = "score_entries"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    score: str = Field(max_length=100)
    rule: str = Field(max_length=1000)
    points: float
    #: the event that earned the points (its dedupe key), None for attribute rules
    event_key: str | None = Field(default=None, max_length=200)
    at: dt.datetime = _when()
    version_id: int | None = Field(default=None, foreign_key="campaign_versions.id")


class StageChange(SQLModel, table=True):
    __tablename__ = "stage_changes"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    at: dt.datetime = _when()
    from_stage: str = Field(max_length=100)
    to_stage: str = Field(max_length=100)
    reason: str = Field(max_length=2000)
    version_id: int | None = Field(default=None, foreign_key="campaign_versions.id")


class PendingAction(SQLModel, table=True):
    """A stage entry action (sales notification), recorded once per transition for the daemon."""

    __tablename__ = "pending_actions"
    id: int | None = Field(default=None, primary_key=True)
    #: lead, stage, transition time and action index: the same transition never acts twice
    key: str = Field(unique=True, max_length=300)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    kind: str = Field(max_length=50)
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=20, index=True)
    created_at: dt.datetime = _when()
    done_at: dt.datetime | None = _when(default=None)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)


class Quarantine(SQLModel, table=True):
    """Input rows that could not be accepted, kept with the reason."""

    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    #: hash of origin, row and reason: the same bad row sent twice is kept once
    key: str = Field(unique=True, max_length=64)
    origin: str = Field(max_length=1000)
    line: int | None = None
    raw: str
    reason: str = Field(max_length=2000)
    received_at: dt.datetime = _when()


class RoundRobin(SQLModel, table=True):
    __tablename__ = "round_robin"
    stage: str = Field(primary_key=True, max_length=100)
    counter: int = 0
