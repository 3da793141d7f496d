"""Stage entry actions (owner assignment, sales notifications) and round-robin turns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.core.evaluator import PriorEntry
from engine.store.base import Repository
from engine.store.bulk import insert_ignoring, insert_many, one_of, read_json, values_param
from engine.store.tables import ACTIONS, TURNS


class Actions(Repository):
    """Stage entry actions (owner assignment, sales notifications) and round-robin turns."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        #: round-robin counters this transaction holds (locked on PostgreSQL), by stage
        self._turns: dict[str, int] = {}

    def insert_pending(self, actions: Sequence[dict[str, Any]]) -> None:
        """Record actions as the evaluator writes them; a key already recorded is left as it is."""
        insert_many(self.conn, ACTIONS, actions, ignore_conflicts_on="key")

    def cancel_replaced(self, lead_ids: Sequence[int], keep: Collection[str], reason: str = "") -> None:
        """Cancel these leads' pending actions except ``keep``: transitions a replay no longer makes.

        The reason is kept with each (``last_error``), so the store says why it was never sent.
        """
        if lead_ids:
            # one statement whatever the numbers of leads and keys (an expanding IN is compiled for each pair);
            # an account alert is the account's doing, not a transition of the replayed lead: it stays
            mark = "%s" if self.postgres else "?"
            self.conn.exec_driver_sql(
                f"UPDATE {ACTIONS.name} SET status = 'cancelled', last_error = {mark} "
                f"WHERE {one_of(self.conn, 'lead_id')} AND status = 'pending' AND NOT ({one_of(self.conn, 'key')}) "
                f"AND key NOT LIKE {mark}",
                (reason[:2000] or None, values_param(self.conn, lead_ids), values_param(self.conn, keep),
                 "%:account alert:%"))

    def entries_of(self, lead_ids: Sequence[int]) -> dict[int, dict[str, list[PriorEntry]]]:
        """What these leads' earlier stage entries did (owner, notifications sent or queued), by stage in
        order of entry: what a replay finds when it makes an entry again. Cancelled actions are left out."""
        found: dict[int, dict[str, dict[str, PriorEntry]]] = {}
        if not lead_ids:
            return {}
        rows = self.conn.exec_driver_sql(
            f"SELECT key, lead_id, kind, status, payload FROM {ACTIONS.name} "
            f"WHERE {one_of(self.conn, 'lead_id')} AND status != 'cancelled'", (values_param(self.conn, lead_ids),))
        for key, lead_id, kind, status, stored in rows:
            payload = read_json(stored)
            # key: "<lead>:<stage>:<milliseconds>:owner" or "...:notify:<index>"
            lead, stage, millis, *rest = key.split(":")
            entry = found.setdefault(lead_id, {}).setdefault(stage, {}).setdefault(millis, PriorEntry())
            if kind == "assign_owner":
                entry.owner = (payload or {}).get("owner")
            elif kind == "notify" and len(rest) == 2 and rest[1].isdigit():
                entry.notes[int(rest[1])] = (key, status)
        return {lead_id: {stage: [entries[m] for m in sorted(entries, key=int)] for stage, entries in stages.items()}
                for lead_id, stages in found.items()}

    def next_turn(self, stage: str) -> int:
        """The round-robin counter of ``stage``, then counted up: whose turn it is among its owners.

        On PostgreSQL the counter's row stays locked until the transaction ends, so two writers
        never hand out the same turn.
        """
        if stage not in self._turns:
            self._turns[stage] = self._read_turn(stage)
        turn = self._turns[stage]
        self._turns[stage] = turn + 1
        self.conn.execute(TURNS.update().where(TURNS.c.stage == stage).values(counter=turn + 1))
        return turn

    def _read_turn(self, stage: str) -> int:
        query = sa.select(TURNS.c.counter).where(TURNS.c.stage == stage)
        if self.postgres:
            query = query.with_for_update()
        current = self.conn.execute(query).scalar()
        if current is None:  # the stage's first turn ever; another writer may be creating it too
            insert_ignoring(self.conn, TURNS, [{"stage": stage, "counter": 0}], "stage")
            current = self.conn.execute(query).scalar()  # whichever insert won, now locked as well
        return current or 0

    def pending_notifications(self, limit: int) -> list[ActionRow]:
        """Sales notifications not yet queued, oldest first; locked for this transaction on PostgreSQL."""
        query = (sa.select(ACTIONS.c.id, ACTIONS.c.key, ACTIONS.c.lead_id, ACTIONS.c.payload)
                 .where(ACTIONS.c.status == "pending", ACTIONS.c.kind == "notify").order_by(ACTIONS.c.id).limit(limit))
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [ActionRow(row.id, row.key, row.lead_id, dict(row.payload or {})) for row in self.conn.execute(query)]

    def mark_done(self, action_id: int, now: dt.datetime) -> None:
        self.conn.execute(ACTIONS.update().where(ACTIONS.c.id == action_id).values(status="done", done_at=now))


class ActionRow(NamedTuple):
    id: int
    #: lead, stage, transition time and action index: unique per transition
    key: str
    lead_id: int
    payload: dict[str, Any]
