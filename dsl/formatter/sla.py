"""How follow-up SLAs print: the settings they read, the `follow up` block and its actions."""

from __future__ import annotations

from .. import ast as a
from .expressions import quote, text_of
from .layout import Writer, emit, end_of, start_of


@text_of.register
def _business_hours(node: a.BusinessHours) -> str:
    days = "" if node.days is None else f" {text_of(node.days)}"
    return f"business hours {node.start} to {node.end}{days}"


@text_of.register
def _owner_timezone(node: a.OwnerTimezone) -> str:
    return f"owner {quote(node.owner)} timezone {quote(node.zone)}"


@text_of.register
def _reassign(node: a.Reassign) -> str:
    return f"reassign round robin [{', '.join(quote(o) for o in node.owners)}]"


@text_of.register
def _back_to(node: a.BackTo) -> str:
    return f"back to {node.target}"


@text_of.register
def _expect_sla(node: a.ExpectSla) -> str:
    return f"sla {node.stage} {node.status}"


def follow_up_header(node: a.FollowUp) -> str:
    unit = node.within.unit + ("" if node.within.amount == 1 else "s")
    window = f"{node.within.amount} business {unit}" if node.business else str(node.within)
    return f"follow up within {window} by {node.event}"


@emit.register
def _follow_up(node: a.FollowUp, out: Writer, depth: int) -> None:
    out.add(depth, f"{follow_up_header(node)} {{", start_of(node), opens=True)
    for action in node.actions:
        emit(action, out, depth + 1)
    out.add(depth, "}", end_of(node), closes=True)


@text_of.register
def _follow_up_line(node: a.FollowUp) -> str:
    # one line, as hovers list a stage's rules: the deadline, not each action
    return follow_up_header(node) + " { ... }"
