"""Follow-up SLAs: the settings they read, each stage's `follow up` block, and `sla` expectations.

Everything the daemon needs to run a missed follow-up's actions is checked here, so a campaign that passes
`nurture check` never fails at a deadline: the event exists, the deadline is positive and countable, the
templates exist, the owners are addresses, and `back to` names a stage below.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import ast as a
from .check_context import Context
from .check_names import known_event, known_stage
from .check_stages import check_back_to
from .check_types import check_address, check_owners, check_recipient
from .diagnostics import Label
from .source import Span
from .values import string_span, zone_help, zone_problem

#: the longest deadline a follow-up may have: a quarter of a year is already no follow-up at all
MAX_FOLLOW_UP_DAYS = 92


def check_slas(ctx: Context, files: Sequence[a.File]) -> None:
    """Every follow-up SLA of the campaign, with the settings it needs."""
    hours = _settings(ctx, files)
    for file in files:
        for item in file.items:
            if isinstance(item, a.Stage):
                _stage(ctx, item, hours)
            elif isinstance(item, a.Scenario):
                for expect in item.items:
                    if isinstance(expect, a.Expect) and isinstance(expect.check, a.ExpectSla):
                        _expectation(ctx, expect.check)


def follow_up_of(stage: a.Stage) -> a.FollowUp | None:
    return next((i for i in stage.items if isinstance(i, a.FollowUp)), None)


def _settings(ctx: Context, files: Sequence[a.File]) -> a.BusinessHours | None:
    """The campaign's business hours (reported when given twice or empty); owners' timezones checked."""
    hours: a.BusinessHours | None = None
    owners: dict[str, a.OwnerTimezone] = {}
    for file in files:
        for item in file.items:
            for setting in item.items if isinstance(item, a.Settings) else ():
                if isinstance(setting, a.BusinessHours):
                    if hours is not None:
                        ctx.report("E201", setting.span, what="setting", name="business hours",
                                   label="given again here", notes=[Label(hours.span, "first given here")],
                                   help="keep one `business hours` line")
                        continue
                    hours = setting
                    if (setting.start.hour, setting.start.minute) >= (setting.end.hour, setting.end.minute):
                        ctx.report("E304", setting.span, what="business hours",
                                   reason=f"they end at {setting.end}, not after they start at {setting.start}",
                                   label="no working time in a day",
                                   help="give a start before the end within one day, like `09:00 to 17:00`")
                    elif setting.days is not None and not setting.days.days:
                        ctx.report("E304", setting.span, what="business hours", reason="they name no day",
                                   label="no working day", help="name the working days, like `on weekdays`")
                elif isinstance(setting, a.OwnerTimezone):
                    _owner(ctx, setting, owners)
    return hours


def _owner(ctx: Context, setting: a.OwnerTimezone, owners: dict[str, a.OwnerTimezone]) -> None:
    check_address(ctx, setting.owner, setting.span, "owner address")
    key = setting.owner.lower()
    if key in owners:
        ctx.report("E201", setting.span, what="owner timezone", name=setting.owner, label="given again here",
                   notes=[Label(owners[key].span, "first given here")], help="give each owner one timezone")
    owners.setdefault(key, setting)
    if problem := zone_problem(setting.zone):
        ctx.report("E304", string_span(setting.span, setting.zone), what="timezone", reason=problem,
                   label="not an IANA time zone", help=zone_help(setting.zone))


def _stage(ctx: Context, stage: a.Stage, hours: a.BusinessHours | None) -> None:
    follow_ups = [i for i in stage.items if isinstance(i, a.FollowUp)]
    for extra in follow_ups[1:]:
        ctx.report("E201", header_span(extra), what="follow-up of stage", name=stage.name, label="a second `follow up`",
                   notes=[Label(header_span(follow_ups[0]), "the first is here")],
                   help="a stage has one follow-up deadline; put every action in one block")
    for follow_up in follow_ups:
        _follow_up(ctx, stage, follow_up, hours)


def header_span(follow_up: a.FollowUp) -> Span:
    """`follow up within ... by event`, without the block after it."""
    start, end = follow_up.span, follow_up.event.span
    return Span(start.path, start.line, start.column, end.end_line, end.end_column)


def _follow_up(ctx: Context, stage: a.Stage, follow_up: a.FollowUp, hours: a.BusinessHours | None) -> None:
    within = follow_up.within
    # a zero deadline is reported with every other zero duration (check_types.check_literals)
    if within.seconds > MAX_FOLLOW_UP_DAYS * 86400:
        ctx.report("E304", within.span, what="follow-up deadline",
                   reason=f"it is longer than {MAX_FOLLOW_UP_DAYS} days",
                   label="too long to be a follow-up", help=f"give at most {MAX_FOLLOW_UP_DAYS} days")
    if follow_up.business and hours is None:
        ctx.report("E416", within.span, label="no business hours are set",
                   help="add `business hours 09:00 to 17:00 on weekdays` to `settings`, or count clock time: "
                        f"`within {within}`")
    known_event(ctx, follow_up.event)
    for action in follow_up.actions:
        match action:
            case a.Notify(recipient=recipient, template=template):
                check_recipient(ctx, recipient)
                ctx.sends.append(template)
            case a.Reassign(owners=owners):
                check_owners(ctx, owners, action.span)
            case a.BackTo(target=target):
                check_back_to(ctx, stage, target,
                              "a missed follow-up recycles leads down the ladder, to a stage below this one")
    backs = [act for act in follow_up.actions if isinstance(act, a.BackTo)]
    for extra in backs[1:]:
        ctx.report("E201", extra.span, what="`back to` of the follow-up of", name=stage.name,
                   label="a second `back to`", notes=[Label(backs[0].span, "the first is here")],
                   help="a missed follow-up recycles a lead to one stage")


def _expectation(ctx: Context, check: a.ExpectSla) -> None:
    if not known_stage(ctx, check.stage):
        return
    node = ctx.sym.stage_nodes.get(str(check.stage))  # None: the built-in first stage, which has no follow-up
    if node is None or follow_up_of(node) is None:
        with_sla = sorted(name for name, s in ctx.sym.stage_nodes.items() if follow_up_of(s) is not None)
        ctx.report("E417", check.stage.span, name=check.stage, label="no `follow up` in this stage",
                   help=f"stages with a follow-up: {', '.join(f'`{s}`' for s in with_sla)}" if with_sla
                   else f"add `follow up within 4 hours by <event> {{ ... }}` to `stage {check.stage}`")
