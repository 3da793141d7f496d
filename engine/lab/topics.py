"""A scenario lead leaving subscription topics (`at 2d: unsubscribed from events`), at its time, as the
preference page would: later emails of that topic are then held back at send time."""

from __future__ import annotations

import datetime as dt

from dsl import ast as a
from dsl.timeline import instant
from engine.errors import EngineError
from engine.lab.play import Play


def topics_left(play: Play) -> list[tuple[dt.datetime, str]]:
    """When the scenario's lead leaves each topic, for its timeline."""
    return [(at, str(item.topic)) for at, item in TopicLeaves(play).pending]


class TopicLeaves:
    """The topics a scenario's lead leaves, each at its instant."""

    def __init__(self, play: Play) -> None:
        pending = []
        for item in play.scenario.items:
            if isinstance(item, a.LeaveTopic):
                at = instant(item.at, play.start, play.tz)
                if at is None:
                    raise EngineError("the scenario has errors; see `nurture check`")
                pending.append((at, item))
        self.pending = sorted(pending, key=lambda pair: pair[0])

    @property
    def times(self) -> list[dt.datetime]:
        return [at for at, _ in self.pending]

    def next_time(self) -> dt.datetime | None:
        return self.pending[0][0] if self.pending else None

    def apply_due(self, play: Play, now: dt.datetime) -> None:
        """Leave every topic due by ``now``, before the daemon's tick at that moment sends anything."""
        while self.pending and self.pending[0][0] <= now:
            at, item = self.pending.pop(0)
            with play.run.nurture.store.transaction() as tx:
                tx.topics.leave(play.lead_id, [str(item.topic)], at)
