"""Accounts: companies whose values roll up from their contacts' scores, alerts on those values, and the
``account.NAME`` a condition reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Literal as L

from .conditions import CompareOp, Condition
from .literals import Duration, Value
from .nodes import Item, Name, Node
from .scenarios import Check
from .stages import Notify

RollupKind = L["sum", "max", "min", "count"]

#: what a dotted name must start with to read an account value
ACCOUNT_PREFIX = "account."


@dataclass(frozen=True, slots=True)
class AccountBy(Node):
    """``by company_domain``: the text attribute naming a lead's company; None for ``by email domain``."""

    attribute: Name | None = None


@dataclass(frozen=True, slots=True)
class FreeMail(Node):
    """``free mail ["example-mail.com"]``: more domains of free mail services, whose leads have no account."""

    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rollup(Node):
    """``sum of engagement``, ``max of fit``, ``count where engagement >= 20``: one value from the contacts.

    A count with ``active`` counts only the contacts that did something (any event) within that window."""

    kind: RollupKind
    score: Name | None = None
    where: Condition | None = None
    active: Duration | None = None


@dataclass(frozen=True, slots=True)
class AccountScore(Node):
    """``score engagement = sum of engagement``: a named value of every account."""

    name: Name
    rollup: Rollup


AccountsItem = AccountBy | FreeMail | AccountScore


@dataclass(frozen=True, slots=True)
class Accounts(Item):
    kind: ClassVar[str] = "accounts"
    items: tuple[AccountsItem, ...]

    @property
    def by(self) -> AccountBy | None:
        return next((i for i in self.items if isinstance(i, AccountBy)), None)

    @property
    def scores(self) -> tuple[AccountScore, ...]:
        return tuple(i for i in self.items if isinstance(i, AccountScore))

    @property
    def free_mail(self) -> tuple[str, ...]:
        return tuple(d for i in self.items if isinstance(i, FreeMail) for d in i.domains)


@dataclass(frozen=True, slots=True)
class AccountAlert(Item):
    """``account alert buying_committee when account.engaged_contacts >= 3 { notify sales with "..." }``: tells
    someone once when the condition starts to hold for an account."""

    kind: ClassVar[str] = "account alert"
    name: Name
    condition: Condition
    notifications: tuple[Notify, ...]


@dataclass(frozen=True, slots=True)
class AccountCompare(Condition):
    """``account.engagement >= 100``: a value of the lead's account; never holds for a lead with no account.

    ``name`` is the dotted name as written; ``field`` what follows ``account.``."""

    name: Name
    op: CompareOp
    value: Value

    @property
    def field(self) -> str:
        return str(self.name).removeprefix(ACCOUNT_PREFIX)


@dataclass(frozen=True, slots=True)
class ExpectAccountValue(Check):
    """``account.engagement >= 100`` in a scenario: a value of the (first) lead's account."""

    name: Name
    op: CompareOp
    value: Value

    @property
    def field(self) -> str:
        return str(self.name).removeprefix(ACCOUNT_PREFIX)
