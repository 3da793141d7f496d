"""Compiles a checked campaign's follow-up SLAs into the plain values `engine.core.sla` decides on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from dsl import ast as a
from engine.core.sla import SlaAction, SlaPlan, SlaRule, WorkingHours


def compile_slas(items: Iterable[a.Item], default_zone: str | None) -> SlaPlan:
    hours: WorkingHours | None = None
    owner_zones: dict[str, str] = {}
    rules: dict[str, SlaRule] = {}
    for item in items:
        if isinstance(item, a.Settings):
            for setting in item.items:
                if isinstance(setting, a.BusinessHours) and hours is None:
                    days = frozenset(setting.days.days) if setting.days is not None else frozenset(range(5))
                    hours = WorkingHours(dt.time(setting.start.hour, setting.start.minute),
                                         dt.time(setting.end.hour, setting.end.minute), days)
                elif isinstance(setting, a.OwnerTimezone):
                    owner_zones.setdefault(setting.owner.lower(), setting.zone)
        elif isinstance(item, a.Stage):
            follow_up = next((i for i in item.items if isinstance(i, a.FollowUp)), None)
            if follow_up is not None:
                rules[str(item.name)] = _rule(str(item.name), follow_up)
    if hours is not None:
        # business days and weeks count whole working days of these hours
        rules = {name: _in_working_days(rule, hours) for name, rule in rules.items()}
    return SlaPlan(rules, hours, owner_zones, default_zone or "UTC")


def _rule(stage: str, node: a.FollowUp) -> SlaRule:
    actions = []
    for action in node.actions:
        match action:
            case a.Notify(recipient=recipient, template=template):
                actions.append(SlaAction("notify", recipient.kind, recipient.address, str(template)))
            case a.Reassign(owners=owners):
                actions.append(SlaAction("reassign", owners=tuple(owners)))
            case a.BackTo(target=target):
                actions.append(SlaAction("back_to", stage=str(target)))
    return SlaRule(stage, node.within.seconds, node.business, str(node.event), tuple(actions),
                   (node.within.amount, node.within.unit))


def _in_working_days(rule: SlaRule, hours: WorkingHours) -> SlaRule:
    if not rule.business or rule.written[1] not in ("day", "week"):
        return rule
    amount, unit = rule.written
    days = amount * (len(hours.days) if unit == "week" else 1)
    return SlaRule(rule.stage, days * hours.day_seconds, True, rule.event, rule.actions, rule.written)
