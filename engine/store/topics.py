"""Subscription topics a lead has left: written by the preference page and one-click unsubscribes, read
by delivery for every claimed batch at send time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.base import Repository, chunks
from engine.store.tables import OUTBOX, TOPIC_OPTOUTS


class TopicOptOuts(Repository):
    """The topics each lead has left."""

    def of_lead(self, lead_id: int) -> set[str]:
        return set(self.conn.execute(sa.select(TOPIC_OPTOUTS.c.topic)
                                     .where(TOPIC_OPTOUTS.c.lead_id == lead_id)).scalars())

    def left_at(self, lead_id: int) -> dict[str, dt.datetime]:
        """The topics the lead has left, each with when."""
        rows = self.conn.execute(sa.select(TOPIC_OPTOUTS.c.topic, TOPIC_OPTOUTS.c.created_at)
                                 .where(TOPIC_OPTOUTS.c.lead_id == lead_id))
        return {row.topic: row.created_at for row in rows}  # (a result has `keys()`: dict() would misread it)

    def among(self, lead_ids: Sequence[int]) -> dict[int, set[str]]:
        """The topics each of ``lead_ids`` has left; leads that left none are not in it."""
        left: dict[int, set[str]] = {}
        for chunk in chunks(sorted(set(lead_ids))):
            for lead_id, topic in self.conn.execute(sa.select(TOPIC_OPTOUTS.c.lead_id, TOPIC_OPTOUTS.c.topic)
                                                    .where(TOPIC_OPTOUTS.c.lead_id.in_(chunk))):
                left.setdefault(lead_id, set()).add(topic)
        return left

    def leave(self, lead_id: int, topics: Iterable[str], now: dt.datetime) -> set[str]:
        """Take the lead out of ``topics``; returns those it was still in until now."""
        wanted = set(topics) - self.of_lead(lead_id)
        if wanted:  # a concurrent leave of the same topic (two clicks at once) is no conflict
            dialect = postgresql if self.postgres else sqlite
            self.conn.execute(dialect.insert(TOPIC_OPTOUTS).on_conflict_do_nothing(index_elements=["lead_id", "topic"]),
                              [{"lead_id": lead_id, "topic": topic, "created_at": now} for topic in sorted(wanted)])
        return wanted

    def rejoin(self, lead_id: int, topics: Iterable[str]) -> set[str]:
        """Put the lead back in ``topics``; returns those it had left."""
        wanted = set(topics) & self.of_lead(lead_id)
        if wanted:
            self.conn.execute(TOPIC_OPTOUTS.delete().where(TOPIC_OPTOUTS.c.lead_id == lead_id,
                                                           TOPIC_OPTOUTS.c.topic.in_(sorted(wanted))))
        return wanted

    def topic_of_message(self, key: str) -> str | None:
        """The topic of the outbox message queued under ``key`` (None: none, or no such message)."""
        return self.conn.execute(sa.select(OUTBOX.c.topic).where(OUTBOX.c.key == key)).scalar()
