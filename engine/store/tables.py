"""The tables as SQLAlchemy Core objects, for the repositories' statements."""

from __future__ import annotations

from engine.store.models import (
    CampaignVersion,
    DaemonLock,
    Enrollment,
    Event,
    Lead,
    Meta,
    OutboxMessage,
    PendingAction,
    Quarantine,
    RoundRobin,
    ScoreEntry,
    Signal,
    StageChange,
    Suppression,
)

VERSIONS = CampaignVersion.__table__
LEADS = Lead.__table__
EVENTS = Event.__table__
LEDGER = ScoreEntry.__table__
CHANGES = StageChange.__table__
ACTIONS = PendingAction.__table__
QUARANTINE = Quarantine.__table__
TURNS = RoundRobin.__table__
SIGNALS = Signal.__table__
ENROLLMENTS = Enrollment.__table__
OUTBOX = OutboxMessage.__table__
SUPPRESSIONS = Suppression.__table__
DAEMONS = DaemonLock.__table__
META = Meta.__table__
