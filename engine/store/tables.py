"""The tables as SQLAlchemy Core objects, for the repositories' statements."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from engine.store.models import (
    Account,
    AccountMember,
    AnonymousEvent,
    AnonymousVisitor,
    CampaignVersion,
    ConsoleUser,
    DaemonLock,
    Enrollment,
    Event,
    ExperimentAssignment,
    ExperimentDecision,
    Lead,
    Meta,
    OutboxMessage,
    PendingAction,
    PublishableKey,
    Quarantine,
    RoundRobin,
    ScoreEntry,
    Signal,
    SoftBounce,
    StageChange,
    Suppression,
    TopicOptOut,
)


def _table(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model (SQLModel sets ``__table__`` in its metaclass, which type checkers cannot see)."""
    table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass for table=True models
    assert isinstance(table, sa.Table)
    return table


VERSIONS = _table(CampaignVersion)
LEADS = _table(Lead)
EVENTS = _table(Event)
LEDGER = _table(ScoreEntry)
CHANGES = _table(StageChange)
ACTIONS = _table(PendingAction)
QUARANTINE = _table(Quarantine)
TURNS = _table(RoundRobin)
SIGNALS = _table(Signal)
ENROLLMENTS = _table(Enrollment)
OUTBOX = _table(OutboxMessage)
SUPPRESSIONS = _table(Suppression)
SOFT_BOUNCES = _table(SoftBounce)
DAEMONS = _table(DaemonLock)
META = _table(Meta)
PUBLISHABLE_KEYS = _table(PublishableKey)
ANONYMOUS_EVENTS = _table(AnonymousEvent)
VISITORS = _table(AnonymousVisitor)
USERS = _table(ConsoleUser)
# split steps (A/B experiments)
EXPERIMENT_ASSIGNMENTS = _table(ExperimentAssignment)
EXPERIMENT_DECISIONS = _table(ExperimentDecision)
TOPIC_OPTOUTS = _table(TopicOptOut)

# --- accounts ---
ACCOUNTS = _table(Account)
ACCOUNT_MEMBERS = _table(AccountMember)
