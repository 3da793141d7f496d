"""The canonical layout of the account constructs: the `accounts` block, `account alert`, and `account.NAME`."""

from __future__ import annotations

from .. import ast as a
from .expressions import quote, text_of
from .layout import Writer, emit, end_of, start_of


@emit.register
def _accounts(node: a.Accounts, out: Writer, depth: int) -> None:
    out.add(depth, "accounts {", start_of(node), opens=True, top=depth == 0)
    for item in node.items:
        emit(item, out, depth + 1)
    out.add(depth, "}", end_of(node), closes=True)


@emit.register
def _account_alert(node: a.AccountAlert, out: Writer, depth: int) -> None:
    out.add(depth, f"account alert {node.name} when {text_of(node.condition)} {{", start_of(node), opens=True,
            top=depth == 0)
    for item in node.notifications:
        emit(item, out, depth + 1)
    out.add(depth, "}", end_of(node), closes=True)


@text_of.register
def _account_by(node: a.AccountBy) -> str:
    return "by email domain" if node.attribute is None else f"by {node.attribute}"


@text_of.register
def _free_mail(node: a.FreeMail) -> str:
    return f"free mail [{', '.join(quote(d) for d in node.domains)}]"


@text_of.register
def _rollup(node: a.Rollup) -> str:
    if node.kind != "count":
        return f"{node.kind} of {node.score}"
    text = "count"
    if node.active is not None:
        text += f" active within {text_of(node.active)}"
    if node.where is not None:
        text += f" where {text_of(node.where)}"
    return text


@text_of.register
def _account_score(node: a.AccountScore) -> str:
    return f"score {node.name} = {text_of(node.rollup)}"


@text_of.register
def _account_compare(node: a.AccountCompare) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"


@text_of.register
def _expect_account_value(node: a.ExpectAccountValue) -> str:
    return f"{node.name} {node.op} {text_of(node.value)}"
