"""Keeps accounts current. Each batch places its leads in their accounts and marks those accounts stale, in its
own transaction; the accounts marked are rolled up once the whole input is in (an import of many batches rolls
each account up once, not once a batch), and on the daemon's tick, which also takes any a crash left marked and
those whose values time alone changes. Alerts that start to hold are queued as sales notifications, once per
account until they stop holding.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.core.accounts import AccountRules, AlertC, Contact, Part, Totals, part_of, scoped
from engine.core.clock import epoch
from engine.core.evaluator import LeadRecord
from engine.core.rules import Rules
from engine.core.scoring import LeadState, ScoreModel, steady_until
from engine.ingest.collection import fewer_collections
from engine.store import Store, Tx
from engine.store.accounts import STALE, AccountRow, MemberRow

#: how often the daemon's tick recomputes an account whose values move with time (decay, `active within`)
REFRESH_EVERY = dt.timedelta(minutes=15)
#: contacts read at once while an account is rolled up
PAGE = 500
#: accounts rolled up in one transaction
ACCOUNTS_AT_ONCE = 200


class AccountValues:
    """The account values of a batch's leads as stage conditions read them: read for all of them at the first
    question, then for any other lead asked about, once."""

    def __init__(self, tx: Tx, lead_ids: Iterable[int]) -> None:
        self.tx = tx
        self.batch = list(lead_ids)
        self.known: dict[int, dict[str, float]] | None = None

    def __call__(self, lead: LeadRecord) -> Mapping[str, float]:
        if self.known is None:
            found = self.tx.accounts.values_of(self.batch)
            self.known = {i: scoped(found.get(i, {})) for i in self.batch}
        if lead.id not in self.known:
            self.known[lead.id] = scoped(self.tx.accounts.values_of([lead.id]).get(lead.id, {}))
        return self.known[lead.id]


def account_values(rules: Rules, tx: Tx, leads: Iterable[int]) -> AccountValues | None:
    """What an evaluator reads account values through; None when no stage reads them."""
    if rules.accounts is None or not rules.accounts.read_by_stages:
        return None
    return AccountValues(tx, leads)


def after_batch(tx: Tx, rules: Rules, leads: Iterable[LeadRecord]) -> None:
    """Place the batch's leads in their accounts, and mark those accounts (and any a lead left) to roll up."""
    accounts = rules.accounts
    if accounts is None:
        return
    leads = list(leads)
    if not leads:
        return
    defaults = rules.symbols.defaults
    keys = {lead.id: accounts.keying.key(lead.email, {**defaults, **lead.attributes}) for lead in leads}
    before = tx.accounts.keys_of(list(keys))
    moved = {i: k for i, k in keys.items() if before.get(i) != k}
    if moved:
        tx.accounts.set_keys(moved)
    tx.accounts.mark_stale([k for k in (*keys.values(), *(before[i] for i in moved if i in before)) if k is not None])


def refresh(tx: Tx, rules: Rules, accounts: AccountRules, keys: list[str], now: dt.datetime) -> int:
    """Recompute these accounts from their contacts now; fire the alerts that start to hold. Returns how many."""
    if not keys:
        return 0
    at = epoch(now)
    rows = tx.accounts.lock(keys, now)
    saved: list[AccountRow] = []
    #: accounts whose change may move their leads' stages
    changed: list[str] = []
    fired = 0
    for key in keys:
        totals = _roll_up(tx, rules, accounts, key, at)
        values = totals.values()
        row = rows[key]
        firing, holding = accounts.alert_changes(values, row.alerts)
        alerts = {name: row.alerts.get(name, now.isoformat()) for name in holding}
        if firing and totals.engaged is not None:
            _fire(tx, key, firing, values, totals.engaged, now)
            fired += len(firing)
        if accounts.crosses_edge(row.scores, values):
            changed.append(key)
        saved.append(AccountRow(key, values, alerts, now))
    tx.accounts.save(saved)
    if changed:
        tx.accounts.review_members(changed, now)
    return fired


def refresh_stale(store: Store, rules: Rules, now: dt.datetime, batch: int = ACCOUNTS_AT_ONCE, *,
                  marked_only: bool = False) -> int:
    """Recompute, ``batch`` accounts a transaction, those marked stale and (unless ``marked_only``), where values
    move with time alone, those last computed more than `REFRESH_EVERY` ago. Returns the alerts fired."""
    accounts = rules.accounts
    if accounts is None:
        return 0
    timed = accounts.time_dependent and not marked_only
    before = now - REFRESH_EVERY if timed else STALE + dt.timedelta(seconds=1)
    fired, after = 0, ""
    with fewer_collections():  # every contact of every account is read: many small objects, freed by counting
        while True:
            with store.transaction() as tx:
                keys = tx.accounts.stale(before, after, batch)
                if not keys:
                    return fired
                fired += refresh(tx, rules, accounts, keys, now)
                after = keys[-1]


#: how long before decay changes a score its kept share is given up: decay's instants are computed in floating
#: point, and a share worked out again a moment early costs nothing
MARGIN = 0.001


def _roll_up(tx: Tx, rules: Rules, accounts: AccountRules, key: str, at: float) -> Totals:
    """The account's values over its contacts, read a page at a time, and its most engaged contact."""
    totals = Totals(accounts.rollups)
    after = 0
    while True:
        page = tx.accounts.members_page(key, after, PAGE)
        totals.add_parts([_part(rules, accounts, m, at) for m in page])
        if len(page) < PAGE:
            return totals
        after = page[-1].lead_id


def _part(rules: Rules, accounts: AccountRules, member: MemberRow, at: float) -> Part:
    """The contact's share of the account's values at ``at``. It is kept with the contact's row, so for as long as
    the lead's revision holds, and used again until decay changes a score it read or an `active within` window
    opens or closes: a big account is rolled up whenever one contact acts, and most of the others have not."""
    kept = member.memo.get("share")
    if kept is not None and kept[0] is accounts and kept[1] <= at < kept[2]:
        return kept[3]
    scores = _Scores(member.state, rules.scores, at)
    contact = Contact(member.lead_id, _Attributes(rules, member), scores, member.stage, member.last_event_at)
    part, until = part_of(accounts.rollups, contact, at)
    member.memo["share"] = (accounts, at, min(until, scores.steady_until() - MARGIN), part)
    return part


class _Scores(Mapping[str, float]):
    """A contact's scores at ``at``, each worked out the first time a rollup or a `where` reads it: a rollup
    reads one or two of them, and an account's every contact is read each time it is rolled up."""

    __slots__ = ("_at", "_known", "_models", "_state")

    def __init__(self, state: LeadState, models: Mapping[str, ScoreModel], at: float) -> None:
        self._state, self._models, self._at = state, models, at
        self._known: dict[str, float] = {}

    def __getitem__(self, name: str) -> float:
        if name not in self._known:
            self._known[name] = float(self._state.score(self._models[name], self._at))
        return self._known[name]

    def steady_until(self) -> float:
        """Until when decay leaves every score read so far as it was read (infinity: for ever)."""
        return min((steady_until(self._state, self._models[name], int(value), self._at)
                    for name, value in self._known.items()), default=math.inf)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._models else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


class _Attributes(Mapping[str, Any]):
    """A contact's attributes over the campaign's defaults, with its email and owner, merged the first time a
    `where` reads one: most rollups read none."""

    __slots__ = ("_member", "_merged", "_rules")

    def __init__(self, rules: Rules, member: MemberRow) -> None:
        self._rules, self._member = rules, member
        self._merged: dict[str, Any] | None = None

    def _values(self) -> dict[str, Any]:
        if self._merged is None:
            member = self._member
            self._merged = {**self._rules.symbols.defaults, **member.attributes, "email": member.email,
                            "owner": member.owner}
        return self._merged

    def __getitem__(self, name: str) -> Any:
        return self._values()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._values().get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def _fire(tx: Tx, key: str, alerts: list[AlertC], values: Mapping[str, float], engaged: Part,
          now: dt.datetime) -> None:
    """Queue each alert's notifications on the account's most recently engaged contact: the lead sales hears
    about, whose owner `notify owner` tells."""
    shown = ", ".join(f"{name} = {value:g}" for name, value in values.items())
    millis = round(epoch(now) * 1000)
    actions = []
    for alert in alerts:
        for index, notice in enumerate(alert.notices):
            # "<lead>:account alert:<ms>:<account>:<alert>#<n>": never read as a stage entry by a replay
            actions.append({"key": f"{engaged.lead_id}:account alert:{millis}:{key}:{alert.name}#{index}",
                            "lead_id": engaged.lead_id, "kind": "notify",
                            "payload": {"stage": engaged.stage, "step": f"account alert {alert.name}", "account": key,
                                        "recipient": notice.recipient, "address": notice.address,
                                        "template": notice.template,
                                        "reason": f"account {key}: {alert.text} ({shown})"},
                            "status": "pending", "created_at": now, "done_at": None, "attempts": 0})
    tx.actions.insert_pending(actions)
