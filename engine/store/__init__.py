"""The store: the only package that imports SQLAlchemy or knows the database dialect.

Open it with `Store.open(url)`; `store.transaction()` yields a `Tx` whose repositories (leads,
events, ledger, actions, signals, quarantine, enrollments, outbox, suppressions, versions,
reports, meta, daemons) read and write inside that one transaction.

Modules: store (Store, Tx), base (Repository), one module per repository, models and tables
(the schema), db (engines, pragmas, migrations), bulk (executemany helpers), migrations/.
"""

from engine.store.store import Store, Tx

__all__ = ["Store", "Tx"]
