"""Judging a scenario's `expect at ...: account.NAME OP value` against the first lead's account."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dsl import ast as a
from engine.lab.play import Play

_COMPARE = {">=": lambda x, y: x >= y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, "<": lambda x, y: x < y,
            "=": lambda x, y: x == y, "!=": lambda x, y: x != y}


def judge_account_value(play: Play, check: a.ExpectAccountValue, now: dt.datetime) -> list[str] | None:
    """None when the first lead's account value holds; otherwise what it is instead."""
    with play.run.nurture.store.transaction() as tx:
        account = tx.accounts.of_lead(play.lead_id)
    if account is None:
        return [f"the lead `{play.email}` belongs to no account (free mail, or no domain to go by)"]
    value: Any = account.scores.get(check.field)
    wanted = check.value.value
    if value is not None and isinstance(wanted, int | float) and _COMPARE[check.op](value, wanted):
        return None
    shown = "not computed" if value is None else f"{value:g}"
    return [f"`{check.name}` of {account.key} is {shown}"]
