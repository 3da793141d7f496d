"""One scenario being played: its run, its lead, and how its times read back."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from dsl import ast as a
from dsl.symbols import Symbols
from dsl.timeline import describe
from engine.lab.virtual import VirtualRun


@dataclass
class Play:
    """One scenario being played: its clock, its store, and how to read times back."""

    run: VirtualRun
    scenario: a.Scenario
    tz: zoneinfo.ZoneInfo
    start: dt.datetime
    email: str
    events: list[tuple[dt.datetime, a.ScenarioEvent]]
    sym: Symbols
    lead_id: int = 0
    #: every lead of the scenario by email, the first included
    lead_ids: dict[str, int] = field(default_factory=dict)

    def when(self, at: dt.datetime | None) -> str:
        """An instant as the scenario writes it (`2d Wed 10:00`), in the lead's zone."""
        return "never" if at is None else describe(at, self.start, self.tz)
