"""The store's own small values (signing key, sweep progress, schema revision, the scenario results kept
with a campaign version), kept in the meta table."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from engine.store.base import Repository
from engine.store.bulk import insert_ignoring, insert_many
from engine.store.tables import META

#: the meta key of the signing key generated when none is configured
SIGNING_KEY = "secret_key"
_SWEEP_KEYS = ("journey_sweep_cursor", "journey_sweep_started", "journey_sweep_whole_round", "journey_sweep_covers")


@dataclass(frozen=True)
class SweepState:
    """Where the periodic journey sweep stands."""

    #: the last lead looked at in the round under way (None: no round under way)
    cursor: int | None
    #: when the round under way, or the last one, started
    started: dt.datetime | None
    #: the campaign version whose every journey the round under way looks at (None: only the journeys time
    #: can move)
    whole_round: int | None
    #: the campaign version whose every journey a finished round has looked at, for every lead
    covers: int | None


class MetaValues(Repository):
    """The store's own small values (signing key, sweep progress, schema revision)."""

    def get(self, key: str) -> str | None:
        return self.conn.execute(sa.select(META.c.value).where(META.c.key == key)).scalar()

    def set(self, values: dict[str, str]) -> None:
        """Insert or replace each key (one upsert: two processes setting a new key at once both succeed)."""
        insert_many(self.conn, META, [{"key": key, "value": value} for key, value in values.items()], "key",
                    update_on_conflict=["value"])

    def signing_key(self) -> str:
        """The key that signs links, generated on first use and shared by every process on the store."""
        found = self.get(SIGNING_KEY)
        if found is None:  # two processes may race here: the first key stored wins for both
            insert_ignoring(self.conn, META, [{"key": SIGNING_KEY, "value": secrets.token_urlsafe(32)}], "key")
            found = self.conn.execute(sa.select(META.c.value).where(META.c.key == SIGNING_KEY)).scalar_one()
        return found

    def schema_revision(self) -> str | None:
        """The migration the schema is at; None when the database holds no Nurture schema."""
        return MigrationContext.configure(self.conn).get_current_revision()

    def journey_sweep(self) -> SweepState:
        """Where the periodic journey sweep stands; locked on PostgreSQL so one daemon advances it at a time."""
        query = sa.select(META.c.key, META.c.value).where(META.c.key.in_(_SWEEP_KEYS))
        if self.postgres:
            # Rows that do not exist yet cannot be locked: before the first sweep, two daemons would both read no
            # state and sweep the same leads. So the rows are made first (empty, as no state reads), and a
            # daemon making them at the same moment as another waits for the other's transaction.
            insert_ignoring(self.conn, META, [{"key": key, "value": ""} for key in _SWEEP_KEYS], "key")
            query = query.with_for_update()
        values: dict[str, str] = {row.key: row.value for row in self.conn.execute(query)}

        def number(key: str) -> int | None:
            found = values.get(key)
            return int(found) if found else None

        started = values.get("journey_sweep_started")
        return SweepState(number("journey_sweep_cursor"), dt.datetime.fromisoformat(started) if started else None,
                          number("journey_sweep_whole_round"), number("journey_sweep_covers"))

    def scenario_results(self, version_id: int) -> dict[str, Any] | None:
        """What the campaign's scenarios gave when version ``version_id`` was applied with them, if it was."""
        found = self.get(f"scenarios:{version_id}")
        return None if found is None else orjson.loads(found)

    def set_scenario_results(self, version_id: int, results: dict[str, Any]) -> None:
        self.set({f"scenarios:{version_id}": orjson.dumps(results).decode()})

    def set_journey_sweep(self, state: SweepState) -> None:
        def text(value: int | None) -> str:
            return "" if value is None else str(value)

        self.set({"journey_sweep_cursor": text(state.cursor),
                  "journey_sweep_started": state.started.isoformat() if state.started else "",
                  "journey_sweep_whole_round": text(state.whole_round), "journey_sweep_covers": text(state.covers)})
