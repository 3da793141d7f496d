"""Judging `expect at ...: sla <stage> open|met|breached` against the clocks the daemon kept."""

from __future__ import annotations

import datetime as dt

from dsl import ast as a
from engine.core.sla import status
from engine.lab.play import Play


def judge_sla(play: Play, check: a.ExpectSla, now: dt.datetime) -> list[str] | None:
    """None when the follow-up of the lead's latest entry into the stage is in the state expected at ``now``."""
    with play.run.nurture.store.transaction() as tx:
        clocks = [c for c in tx.sla.of_lead(play.lead_id) if c.stage == check.stage and c.entered_at <= now]
    if not clocks:
        return [f"the lead has not entered `{check.stage}`, so no follow-up is due"]
    clock = clocks[-1]
    if clock.status == "left" and clock.closed_at is not None and clock.closed_at <= now:
        return [f"the follow-up stopped counting at {play.when(clock.closed_at)}: {clock.outcome}"]
    met_at = clock.closed_at if clock.status == "met" else None
    found = status(clock.entered_at, clock.deadline, met_at, now)
    if found == check.status:
        return None
    entered, due = play.when(clock.entered_at), play.when(clock.deadline)
    if found == "met" and met_at is not None:
        return [f"it was met at {play.when(met_at)} by `{clock.event}` (entered at {entered}, due at {due})"]
    if found == "breached":
        return [f"it was breached at {due}: no `{clock.event}` after the lead entered `{check.stage}` at {entered}"]
    return [f"it is still open: the lead entered `{check.stage}` at {entered}, and the follow-up is due at {due}"]
