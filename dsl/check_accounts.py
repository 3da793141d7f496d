"""Accounts: the `accounts` block, account alerts, and every `account.NAME` a condition or a scenario reads.

Campaign-wide, because a stage written before the `accounts` block may read its values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from . import ast as a
from .check_conditions import Place, check_condition
from .check_context import Context
from .check_names import declare, name_list
from .check_types import check_recipient
from .diagnostics import did_you_mean
from .source import Span
from .values import show_kind

#: a domain as a `free mail` entry is written: lower-case labels joined by dots
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def check_accounts(ctx: Context, reads: Sequence[tuple[a.Item, Sequence[a.AccountCompare]]]) -> None:
    """The account block's declarations, the alerts, and the places that read account values: ``reads`` holds
    every item of the campaign with the account comparisons in it."""
    blocks = [item for item, _ in reads if isinstance(item, a.Accounts)]
    for block in blocks:
        keyword = Span(block.span.path, block.span.line, block.span.column, block.span.line, block.span.column + 8)
        declare(ctx, "block", "accounts", keyword, ("accounts block",))
        _block(ctx, block, str(block.span))
    values = {str(s.name) for block in blocks[:1] for s in block.scores}
    for item, uses in reads:
        match item:
            case a.AccountAlert():
                _alert(ctx, item, values, bool(blocks))
            case a.Stage():
                for use in uses:
                    _known_value(ctx, use.name, use.value, values, bool(blocks))
            case a.Scenario():
                _scenario(ctx, item, values, bool(blocks))
            case a.Accounts():
                pass  # a count reading account values is reported with the block (E504)
            case _:
                for use in uses:
                    _elsewhere(ctx, use)


def _leaves(cond: a.Condition) -> Iterator[a.Condition]:
    match cond:
        case a.AllOf(items=items) | a.AnyOf(items=items):
            for item in items:
                yield from _leaves(item)
        case a.Not(item=item):
            yield from _leaves(item)
        case _:
            yield cond


def _uses(node: a.Node) -> Iterator[a.AccountCompare]:
    return (n for n in node.walk() if isinstance(n, a.AccountCompare))


def _block(ctx: Context, block: a.Accounts, scope: str) -> None:
    for item in block.items:
        match item:
            case a.AccountBy(attribute=attribute):
                declare(ctx, "setting", "by", item.span, ("accounts setting", scope))
                if attribute is not None:
                    _by_attribute(ctx, attribute)
            case a.FreeMail(domains=domains):
                for domain in domains:
                    if not _DOMAIN.match(domain):
                        ctx.report("E304", item.span, what="free mail domain", reason=f'"{domain}" is not a domain',
                                   label="not a domain name",
                                   help='write the domain alone, in lower case, like `"example-mail.com"`')
            case a.AccountScore(name=name, rollup=rollup):
                declare(ctx, "account score", name, name.span, ("account score", scope))
                _rollup(ctx, rollup)


def _by_attribute(ctx: Context, attribute: a.Name) -> None:
    t = ctx.sym.attributes.get(attribute)
    if t is None:
        ctx.report("E503", attribute.span, name=attribute, label="not a declared attribute",
                   help=did_you_mean(attribute, ctx.sym.attributes)
                   or f"declare it in an `attributes` block: `{attribute}: text`, or write `by email domain`")
    elif t.name != "text" or t.is_list:
        ctx.report("E503", attribute.span, name=attribute, label="this attribute is not text",
                   help="name a text attribute holding the company's domain, or write `by email domain`")


def _rollup(ctx: Context, rollup: a.Rollup) -> None:
    if rollup.score is not None:
        if rollup.score in ctx.sym.scores:
            ctx.read_score(rollup.score, None)
        else:
            ctx.report("E103", rollup.score.span, name=rollup.score, label="no score has this name",
                       help=did_you_mean(rollup.score, ctx.sym.scores)
                       or f"roll up a declared score, like `{rollup.kind} of engagement`")
    if rollup.where is None:
        return
    for node in rollup.where.walk():
        if isinstance(node, a.Happened):
            ctx.report("E504", node.span, label="an event condition",
                       help="score the event in a lead score and count on that score, like `count where "
                            "engagement >= 20`; `active within 30 days` counts contacts that did anything lately")
            return
        if isinstance(node, a.AccountCompare):
            ctx.report("E504", node.span, label="an account value",
                       help="test each contact's own scores and attributes; compare account values in an alert")
            return
    check_condition(ctx, rollup.where, Place())


def _alert(ctx: Context, alert: a.AccountAlert, values: set[str], declared: bool) -> None:
    declare(ctx, "account alert", alert.name, alert.name.span, ("account alert",))
    for node in _leaves(alert.condition):
        if not isinstance(node, a.AccountCompare):
            ctx.report("E507", node.span, label="not an account value",
                       help="an alert is about the account as a whole: compare its values, "
                            "like `account.engagement >= 100`")
    for use in _uses(alert.condition):
        _known_value(ctx, use.name, use.value, values, declared)
    for note in alert.notifications:
        check_recipient(ctx, note.recipient)
        ctx.sends.append(note.template)


def _scenario(ctx: Context, scenario: a.Scenario, values: set[str], declared: bool) -> None:
    emails = {str(lead.email).lower() for lead in scenario.leads}
    for item in scenario.items:
        if isinstance(item, a.ScenarioEvent) and item.by is not None and str(item.by).lower() not in emails:
            ctx.report("E506", item.by.span, email=item.by, label="no `lead` line has this address",
                       help=f'add `lead "{item.by}"` to the scenario, or name one of {name_list(sorted(emails))}'
                       if emails else f'add `lead "{item.by}"` to the scenario')
        elif isinstance(item, a.Expect) and isinstance(item.check, a.ExpectAccountValue):
            _known_value(ctx, item.check.name, item.check.value, values, declared)


def _known_value(ctx: Context, name: a.Name, value: a.Value, values: set[str], declared: bool) -> None:
    """``name`` reads a declared account value (E501), compared with a number (E301)."""
    field = str(name).removeprefix(a.ACCOUNT_PREFIX)
    if not str(name).startswith(a.ACCOUNT_PREFIX):
        head = str(name).split(".")[0]
        ctx.report("E501", name.span, name=name, label="only `account.` values are compared like this",
                   help=f"an event is tested on its own, like `{name} within 7 days`" if head != "account"
                   else "write `account.` and a value of the `accounts` block")
    elif not declared:
        ctx.report("E501", name.span, name=name, label="the campaign declares no accounts",
                   help=f"add `accounts {{ score {field} = sum of engagement }}`")
    elif field not in values:
        ctx.report("E501", name.span, name=name, label="no account score has this name",
                   help=did_you_mean(field, values) or ("account scores are " + name_list(sorted(values))
                                                        if values else f"declare it: `score {field} = ...`"))
    elif value.kind != "number":
        found = show_kind(value.kind)
        ctx.report("E301", value.span, name=name, expected="a number", found=found, label=f"this is {found}",
                   help=f"compare it with a number, like `{name} >= 3`")


def _elsewhere(ctx: Context, use: a.AccountCompare) -> None:
    ctx.report("E502", use.span, name=use.name, label="read outside a stage or an account alert",
               help="test account values in a stage rule, like `when fit >= 30 and account.engagement >= 100`, "
                    "or in an `account alert`")
