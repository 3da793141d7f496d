"""The store's tables. Rows only: queries live with the code that needs them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from engine.core.clock import UTC


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
    #: who applied it (the command line's user name), when known
    author: str | None = Field(default=None, max_length=200)


class Lead(SQLModel, table=True):
    __tablename__ = "leads"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    attributes: dict[str, Any] = _json()
    source: str = Field(default="unknown", max_length=200, index=True)
    stage: str = Field(default="lead", max_length=100, index=True)
    stage_since: dt.datetime = _when()
    owner: str | None = Field(default=None, max_length=320)
    #: scoring state, see engine.core.scoring.LeadState: decayed sums, cap windows, event times
    state: dict[str, Any] = _json()
    last_event_at: dt.datetime | None = _when(default=None)
    #: when the stage may next change by time alone (decay, windows); swept when due
    review_at: dt.datetime | None = _when(default=None, index=True)
    unsubscribed_at: dt.datetime | None = _when(default=None)
    suppressed_reason: str | None = Field(default=None, max_length=1000)
    created_at: dt.datetime = _when()
    updated_at: dt.datetime = _when()
    #: raised by one on every write of the stage, owner, attributes or scoring state: state kept in
    #: memory between batches is used only while the stored revision is still the one it was saved as
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


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


class Signal(SQLModel, table=True):
    """Something journeys may react to (an event, a stage change, new attributes), queued for the daemon.

    Written in the same transaction as its cause, so a crash can never lose one.
    """

    __tablename__ = "signals"
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    #: "event", "stage" or "attributes"
    kind: str = Field(max_length=20)
    #: the event type or the stage entered
    name: str = Field(default="", max_length=200)
    props: dict[str, Any] = _json()
    at: dt.datetime = _when()
    leased_until: dt.datetime | None = _when(default=None)


class Enrollment(SQLModel, table=True):
    """A lead's journey through one journey version; due work lives in `due_at`."""

    __tablename__ = "enrollments"
    __table_args__ = (sa.UniqueConstraint("lead_id", "journey", "entry"),
                      sa.Index("ix_enrollments_due", "status", "due_at"))
    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    journey: str = Field(max_length=100)
    #: 1 for the first time a lead enters this journey, 2 for a re-entry, ...
    entry: int = 1
    version_id: int = Field(foreign_key="campaign_versions.id")
    #: the label of the step to run next (None: finished)
    step: str | None = Field(default=None, max_length=200)
    #: active (run `step` at due_at), waiting (for an event, or until due_at), done, exited
    status: str = Field(default="active", max_length=20)
    due_at: dt.datetime | None = _when(default=None)
    #: while waiting for an event: its index in the journey's event list
    waiting_for: int | None = None
    #: label -> epoch when that step ran, for `since LABEL` conditions
    marks: dict[str, Any] = _json()
    entered_at: dt.datetime = _when()
    ended_at: dt.datetime | None = _when(default=None)
    end_reason: str | None = Field(default=None, max_length=500)
    goal_at: dt.datetime | None = _when(default=None)
    leased_by: str | None = Field(default=None, max_length=100)
    leased_until: dt.datetime | None = _when(default=None)


class OutboxMessage(SQLModel, table=True):
    """One email to send. Its key (enrollment, step, version) is unique: nothing is sent twice."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "due_at"),
                      sa.Index("ix_outbox_lead_sent", "lead_id", "sent_at"))
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    lead_id: int = Field(foreign_key="leads.id")
    enrollment_id: int | None = Field(default=None, foreign_key="enrollments.id")
    #: "marketing" (consent, quiet hours and caps apply) or "sales" (internal notification)
    kind: str = Field(max_length=20)
    journey: str | None = Field(default=None, max_length=100)
    step: str | None = Field(default=None, max_length=200)
    template: str = Field(max_length=200)
    to_address: str = Field(max_length=320)
    message_id: str = Field(max_length=300)
    #: queued, sent, failed (permanent), suppressed (consent withdrawn), cancelled
    status: str = Field(default="queued", max_length=20)
    due_at: dt.datetime = _when()
    created_at: dt.datetime = _when()
    sent_at: dt.datetime | None = _when(default=None)
    attempts: int = 0
    deferrals: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    #: the rendered message, made once at the first attempt and sent as is on every retry
    data: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    leased_by: str | None = Field(default=None, max_length=100)
    leased_until: dt.datetime | None = _when(default=None)
    #: when the daemon holding the lease cleared it to go (consent, quiet hours, caps): from then until its outcome
    #: is kept, every daemon's frequency caps count it as sent
    cleared_at: dt.datetime | None = _when(default=None)
    #: the subscription topic of a marketing email (None: only the global unsubscribe stops it)
    topic: str | None = Field(default=None, max_length=100)


class TopicOptOut(SQLModel, table=True):
    """A lead that left one subscription topic: marketing email of that topic is not sent to it."""

    __tablename__ = "topic_optouts"
    lead_id: int = Field(foreign_key="leads.id", primary_key=True)
    topic: str = Field(primary_key=True, max_length=100)
    created_at: dt.datetime = _when()


class Suppression(SQLModel, table=True):
    """Addresses that must not receive marketing email, and why."""

    __tablename__ = "suppressions"
    email: str = Field(primary_key=True, max_length=320)
    reason: str = Field(max_length=2000)
    created_at: dt.datetime = _when()


class SoftBounce(SQLModel, table=True):
    """Temporary delivery failures a relay reported later (by webhook or DSN), one row per report: the
    address is suppressed once it has gathered `soft_bounce_limit` of them."""

    __tablename__ = "soft_bounces"
    #: the report's own key (provider and its message or event id), so a report delivered twice counts once
    key: str = Field(primary_key=True, max_length=300)
    email: str = Field(index=True, max_length=320)
    reason: str = Field(max_length=2000)
    at: dt.datetime = _when()


class DaemonLock(SQLModel, table=True):
    """Which daemons run, and their heartbeat: on SQLite only one may."""

    __tablename__ = "daemons"
    name: str = Field(primary_key=True, max_length=100)
    started_at: dt.datetime = _when()
    heartbeat_at: dt.datetime = _when()


class Meta(SQLModel, table=True):
    """Small values the store keeps for itself (the generated signing key when none is configured)."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=2000)


class Erasure(SQLModel, table=True):
    """An address erased at the person's request: kept only as a salted hash, with what was erased.

    The hash keeps the person out for good (imports and intake refuse the address, so the daemon can
    never mail it again); the row is also the audit record, which never holds the address in clear.
    """

    __tablename__ = "erasures"
    #: SHA-256 of the store's erasure salt and the normalised address (engine.store.privacy)
    address_hash: str = Field(primary_key=True, max_length=64)
    erased_at: dt.datetime = _when()
    #: who asked: the command line's user name, or "api"
    erased_by: str = Field(max_length=200)
    #: rows removed or anonymised, per table
    counts: dict[str, Any] = _json()


class PublishableKey(SQLModel, table=True):
    """A key a website puts in its pages to send browser events (`/v1/track`): public by design, so it is
    kept as is; it may send only from its origins, and only the browser events."""

    __tablename__ = "publishable_keys"
    key: str = Field(primary_key=True, max_length=100)
    #: the exact origins (scheme://host[:port]) pages with this key are served from
    origins: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: dt.datetime = _when()
    revoked_at: dt.datetime | None = _when(default=None)


class AnonymousEvent(SQLModel, table=True):
    """A browser event of a visitor not identified yet; moved onto the lead when the visitor identifies."""

    __tablename__ = "anonymous_events"
    __table_args__ = (sa.Index("ix_anonymous_events_visitor_at", "anonymous_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    #: the event's key, kept when it moves to the lead (so a retried merge stores it once)
    key: str = Field(unique=True, max_length=200)
    anonymous_id: str = Field(max_length=100)
    type: str = Field(max_length=200)
    at: dt.datetime = _when()
    props: dict[str, Any] = _json()
    received_at: dt.datetime = _when()


class AnonymousVisitor(SQLModel, table=True):
    """A browser's anonymous id that identified itself: its later events go to this lead."""

    __tablename__ = "anonymous_visitors"
    anonymous_id: str = Field(primary_key=True, max_length=100)
    email: str = Field(index=True, max_length=320)
    identified_at: dt.datetime = _when()


class ConsoleUser(SQLModel, table=True):
    """Someone who signs in to the web console, with a role: viewer, sales or admin."""

    __tablename__ = "console_users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)
    role: str = Field(max_length=20)
    #: an Argon2id hash (engine.console.passwords); the password itself is never kept
    password_hash: str = Field(max_length=300)
    created_at: dt.datetime = _when()
    #: when the role or password last changed: sessions signed before it are no longer valid
    updated_at: dt.datetime = _when()


# ----- split steps (A/B experiments) ----------------------------------------------------------------


class ExperimentAssignment(SQLModel, table=True):
    """The arm of a split step a lead went down, and when: one row per lead and split, so it never changes."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (sa.UniqueConstraint("split", "lead_id"),
                      sa.Index("ix_experiment_assignments_split_at", "split", "assigned_at"))
    id: int | None = Field(default=None, primary_key=True)
    split: str = Field(max_length=100)
    lead_id: int = Field(foreign_key="leads.id", index=True)
    arm: str = Field(max_length=100)
    journey: str = Field(max_length=100)
    enrollment_id: int | None = Field(default=None)
    assigned_at: dt.datetime = _when()


class ExperimentDecision(SQLModel, table=True):
    """The winner of a split step, recorded once (the split is the key): later leads all go down its arm."""

    __tablename__ = "experiment_decisions"
    split: str = Field(primary_key=True, max_length=100)
    winner: str = Field(max_length=100)
    decided_at: dt.datetime = _when()
    #: why: the rule and what made it hold
    reason: str = Field(max_length=2000)
    #: the figures per arm at the time, and the arms and weights of the split then
    figures: dict[str, Any] = _json()
    #: the daemon that recorded it
    decided_by: str = Field(default="", max_length=100)
# --- accounts ---


class Account(SQLModel, table=True):
    """A company's values rolled up from its contacts (see `engine.core.accounts`), as last computed."""

    __tablename__ = "accounts"
    #: the normalised domain that names the account
    key: str = Field(primary_key=True, max_length=253)
    #: account score name -> value
    scores: dict[str, Any] = _json()
    #: alert name -> when it started to hold: an alert fires again only after it stopped holding
    alerts: dict[str, Any] = _json()
    computed_at: dt.datetime = _when(index=True)


class AccountMember(SQLModel, table=True):
    """Which account a lead belongs to, as its email and attributes said when it last changed. No foreign key:
    erasing a lead leaves its row to the next refresh of the account, which skips leads that are gone."""

    __tablename__ = "account_members"
    lead_id: int = Field(primary_key=True)
    account_key: str = Field(max_length=253, index=True)
