"""Accounts: which company a lead belongs to, the values rolled up from its contacts, and when an account
alert starts to hold. Pure: contacts and the time are passed in.

A lead belongs to the account named by the domain of its `by` attribute (or, without one, of its email).
Leads on free mail (gmail.com, ...) belong to no account; conditions on `account.NAME` never hold for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from dsl.ast import ACCOUNT_PREFIX

#: Domains of free mail services: a person there says nothing about the company they work for.
FREE_MAIL: frozenset[str] = frozenset({
    "aol.com", "fastmail.com", "gmail.com", "gmx.com", "gmx.de", "gmx.net", "googlemail.com", "hey.com",
    "hotmail.co.uk", "hotmail.com", "hotmail.de", "hotmail.fr", "icloud.com", "live.com", "mac.com", "mail.com",
    "mail.ru", "me.com", "msn.com", "outlook.com", "outlook.de", "proton.me", "protonmail.com", "qq.com",
    "t-online.de", "web.de", "yahoo.co.uk", "yahoo.com", "yahoo.de", "yahoo.fr", "yandex.com", "yandex.ru",
    "zoho.com",
})

#: a condition compiled as stage conditions are: (attributes, scores, hits, stage) -> bool
Test = Callable[[Mapping[str, Any], Mapping[str, Any], Callable[[int], bool], str], bool]


def _never(index: int) -> bool:
    return False  # account conditions read no events: the checker keeps them out


def domain_of(text: object) -> str | None:
    """The normalised domain in an address, a URL or a bare domain: lower case, no `www.`, no trailing dot;
    None when there is none."""
    if not isinstance(text, str):
        return None
    value = text.strip().lower()
    value = value.rpartition("@")[2]
    if "://" in value:
        value = value.split("://", 1)[1]
    value = value.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip().rstrip(".")
    value = value.removeprefix("www.")
    if "." not in value or any(not part for part in value.split(".")):
        return None
    return value


@dataclass(frozen=True)
class Keying:
    """How a lead's account is found: ``attribute`` (None: the email's domain), and the free mail domains."""

    attribute: str | None = None
    free_mail: frozenset[str] = FREE_MAIL

    def key(self, email: str, attributes: Mapping[str, Any]) -> str | None:
        """The lead's account key, or None: on free mail, or no domain to go by. A lead whose `by` attribute
        is not set goes by its email's domain."""
        domain = domain_of(attributes.get(self.attribute)) if self.attribute is not None else None
        if domain is None:
            domain = domain_of(email)
        if domain is None or domain in self.free_mail:
            return None
        return domain


@dataclass(frozen=True)
class Contact:
    """One lead of an account as its rollups see it, at the time they are computed."""

    lead_id: int
    attributes: Mapping[str, Any]
    scores: Mapping[str, float]
    stage: str
    last_event_at: float | None = None


class Part(NamedTuple):
    """One contact's share of its account's values at one time: for each rollup, the contact's score (sum, max,
    min) or whether it counts (1 or 0); with what picks the most engaged contact."""

    lead_id: int
    stage: str
    last_event_at: float | None
    shares: tuple[float, ...]


@dataclass(frozen=True)
class RollupC:
    """One compiled account value: ``kind`` of ``score``, or a count of contacts passing ``test`` (and, with
    ``active``, active within that many seconds)."""

    name: str
    kind: str
    score: str | None = None
    test: Test | None = None
    active: float | None = None

    def value(self, contacts: Sequence[Contact], at: float) -> float:
        return self.combine([self.share(c, at) for c in contacts])

    def share(self, contact: Contact, at: float) -> float:
        """What one contact adds: its score, or 1 when it counts (else 0)."""
        if self.kind == "count":
            return 1.0 if self._counts(contact, at) else 0.0
        return float(contact.scores.get(self.score or "", 0))

    def combine(self, shares: Sequence[float]) -> float:
        """The value over contacts with these shares (0 with none)."""
        if not shares:
            return 0.0
        if self.kind in ("sum", "count"):
            return math.fsum(shares)
        return max(shares) if self.kind == "max" else min(shares)

    def steady_until(self, contact: Contact, at: float) -> float:
        """Until when the passing of time alone leaves this contact's `active within` as it is at ``at``
        (its scores, which the caller tracks, may change sooner); infinity when nothing here moves."""
        last = contact.last_event_at
        if self.active is None or last is None:
            return math.inf
        if last > at:  # an event after the time asked about: seen from then on
            return last
        return last + self.active if at <= last + self.active else math.inf

    def _counts(self, contact: Contact, at: float) -> bool:
        if self.active is not None and (contact.last_event_at is None or at - contact.last_event_at > self.active
                                        or contact.last_event_at > at):
            return False
        return self.test is None or bool(self.test(contact.attributes, contact.scores, _never, contact.stage))


def part_of(rollups: Sequence[RollupC], contact: Contact, at: float) -> tuple[Part, float]:
    """The contact's share of every rollup at ``at``, and until when time alone leaves the `active within`
    windows as they are (scores read meanwhile may change sooner)."""
    part = Part(contact.lead_id, contact.stage, contact.last_event_at,
                tuple(rollup.share(contact, at) for rollup in rollups))
    return part, min((rollup.steady_until(contact, at) for rollup in rollups), default=math.inf)


@dataclass(frozen=True)
class Notice:
    """Someone an alert tells: ``recipient`` is "sales" or "owner" (the owner of the most engaged contact)."""

    recipient: str
    address: str | None
    template: str


@dataclass(frozen=True)
class AlertC:
    name: str
    #: the alert's condition over account values, keyed `account.NAME`, as stage conditions read them
    test: Test
    text: str
    notices: tuple[Notice, ...]

    def holds(self, values: Mapping[str, float]) -> bool:
        return bool(self.test({}, scoped(values), _never, ""))


@dataclass
class AccountRules:
    keying: Keying
    rollups: list[RollupC]
    alerts: list[AlertC] = field(default_factory=list)
    #: whether stage conditions read account values (then an account's change reviews its leads' stages)
    read_by_stages: bool = False
    #: whether values change with time alone (decay of a rolled-up score, `active within`)
    time_dependent: bool = False
    #: value name -> the numbers stage conditions compare it with: only a change across one can move a stage
    edges: dict[str, frozenset[float]] = field(default_factory=dict)

    def values(self, contacts: Sequence[Contact], at: float) -> dict[str, float]:
        """Every account value over ``contacts`` at ``at``; an account with no contacts has zeros."""
        totals = Totals(self.rollups)
        totals.add(contacts, at)
        return totals.values()

    def crosses_edge(self, before: Mapping[str, float], after: Mapping[str, float]) -> bool:
        """Whether going from ``before`` to ``after`` may change a stage condition's outcome: some value is new,
        or reaches, passes or leaves a number a stage compares it with."""
        for name, edges in self.edges.items():
            old, new = before.get(name), after.get(name)
            if old == new:
                continue
            if old is None or new is None:
                return True
            low, high = min(old, new), max(old, new)
            if any(low <= edge <= high for edge in edges):
                return True
        return False

    def alert_changes(self, values: Mapping[str, float], holding: Iterable[str]) -> tuple[list[AlertC], list[str]]:
        """The alerts that start to hold now (to fire), and the names of all that hold (to remember)."""
        before = set(holding)
        now = [alert for alert in self.alerts if alert.holds(values)]
        return [alert for alert in now if alert.name not in before], [alert.name for alert in now]


class Totals:
    """Account values added up over contacts given a part at a time, so an account of any size is rolled up in
    bounded memory; the result is the same however the contacts are split. Also keeps the most engaged one."""

    def __init__(self, rollups: Sequence[RollupC]) -> None:
        self.rollups = rollups
        self.parts: dict[str, float] = {}
        self.seen = False
        #: the contact that did something last, as its part (lead and stage)
        self.engaged: Part | None = None

    def add(self, contacts: Sequence[Contact], at: float) -> None:
        self.add_parts([part_of(self.rollups, contact, at)[0] for contact in contacts])

    def add_parts(self, parts: Sequence[Part]) -> None:
        """Add contacts given by their shares (`part_of`)."""
        if not parts:
            return
        for index, rollup in enumerate(self.rollups):
            part = rollup.combine([p.shares[index] for p in parts])
            if rollup.name not in self.parts:
                self.parts[rollup.name] = part
            elif rollup.kind == "max":
                self.parts[rollup.name] = max(self.parts[rollup.name], part)
            elif rollup.kind == "min":
                self.parts[rollup.name] = min(self.parts[rollup.name], part)
            else:  # sums and counts add up
                self.parts[rollup.name] += part
        self.engaged = most_engaged(parts if self.engaged is None else [self.engaged, *parts])
        self.seen = True

    def values(self) -> dict[str, float]:
        return {r.name: self.parts.get(r.name, 0.0) for r in self.rollups}


def scoped(values: Mapping[str, float]) -> dict[str, float]:
    """Account values as conditions read them: `account.NAME`, beside (never in place of) the lead's scores."""
    return {ACCOUNT_PREFIX + name: value for name, value in values.items()}


class _Engaging(Protocol):
    @property
    def lead_id(self) -> int: ...

    @property
    def last_event_at(self) -> float | None: ...


E = TypeVar("E", bound=_Engaging)


def most_engaged(contacts: Iterable[E]) -> E | None:
    """The contact that did something last (the lowest id among equals); one that never did comes last."""
    return min(contacts, key=lambda c: (-(c.last_event_at if c.last_event_at is not None else -math.inf), c.lead_id),
               default=None)
