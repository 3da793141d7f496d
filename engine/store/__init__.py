"""The store: the only package that imports SQLAlchemy or knows the database dialect.

`Store.open(url)` creates or upgrades a store; `open_existing(url)` (existing.py) opens one that must
already be there, for readers. `store.transaction()` yields a `Tx` whose repositories read and write
inside that one transaction, so what they write commits together or not at all.

Modules:
  store         Store and Tx
  base          the Repository base class and bounded IN lists
  models, tables  the schema (SQLModel) and its Core tables; migrations/ holds the Alembic history
  db, existing  engines, SQLite pragmas, migrations on open, schema checks for readers
  bulk          executemany inserts and updates for the hot paths
  checkpoints   SQLite checkpoints in a thread of their own, for long-running writers
Repositories (one concern each): leads, events, ledger, actions, signals, quarantine, enrollments,
outbox, suppressions, versions, meta, daemons, users (console sign-in), privacy (erasure), visitors
(anonymous tracking), experiments (split arms and winners), topics (opt-outs), sla (follow-up clocks),
accounts (members and rolled-up values); for the console's outbox: mailroom
(states, cancel, retry); and for reading: insights (aggregates the database computes), reports (people), figures
(health and metrics), history (one lead's story, for scenarios), tallies (whole runs, for the lab).
"""

from engine.store.store import Store, Tx

__all__ = ["Store", "Tx"]
