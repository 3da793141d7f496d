"""The campaign's invariants judged over a whole simulation: every lead, every marketing email.

`nurture test` judges them for one scenario lead at a time (``expectations.InvariantWatch``); a simulation
has thousands of leads, so this watch keeps, per invariant, the leads that broke it and when, for a report
that names them and the simulated days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dsl import ast as a
from dsl.formatter import text_of
from engine.core.conditions import names_in
from engine.core.rules import Rules, lead_test
from engine.daemon.journeys import lead_views
from engine.lab.expectations import crowded, no_events, value_shown
from engine.store import Tx
from engine.store.tallies import MarketingSent


@dataclass
class Breach:
    """One lead breaking one invariant: from when to when, and what happened."""

    lead: str
    first: dt.datetime
    last: dt.datetime
    detail: str


@dataclass
class Verdict:
    invariant: a.Invariant
    #: lead's email -> its first breach (one per lead: the report counts leads, not emails)
    breaches: dict[str, Breach] = field(default_factory=dict)


class SimulationWatch:
    """Judges `no email when` as each tick's emails go out (the lead as it is then), and `at most N emails
    per D` over each lead's whole run at the end."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.verdicts = [Verdict(i) for i in rules.symbols.invariants]
        self.tests: dict[int, Callable[..., bool]] = {
            id(v.invariant): lead_test(rules.symbols, v.invariant.rule.condition) for v in self.verdicts
            if isinstance(v.invariant.rule, a.NoEmailWhen)}

    @property
    def watches_sends(self) -> bool:
        """Whether any invariant must see leads as each email goes out (else only the end is judged)."""
        return bool(self.tests)

    def after_tick(self, tx: Tx, since: dt.datetime, now: dt.datetime) -> None:
        """Judge the marketing emails sent after ``since`` up to ``now`` against every `no email when`."""
        if not self.tests:
            return
        sent = tx.tallies.marketing_sent_to_leads(since, now)
        if not sent:
            return
        leads = lead_views(tx, self.rules, sorted({s.lead_id for s in sent}), now)
        for verdict in self.verdicts:
            test = self.tests.get(id(verdict.invariant))
            if test is None:
                continue
            condition = verdict.invariant.rule.condition  # type: ignore[union-attr]  # tests hold NoEmailWhen only
            for email in sent:
                lead = leads.get(email.lead_id)
                if lead is None or lead.email in verdict.breaches:
                    continue
                if test(lead.attributes, lead.scores, no_events, lead.stage):
                    read = [f"{n} = {value_shown(lead, n)}" for n in sorted(names_in(condition))]
                    values = f" ({', '.join(read)})" if read else ""
                    verdict.breaches[lead.email] = Breach(
                        lead.email, email.sent_at, email.sent_at,
                        f'"{email.template}" went out when {text_of(condition)}{values}')

    def finish(self, sent: Iterable[MarketingSent]) -> None:
        """Judge every `at most N emails per D` over all the marketing emails sent, in the order sent."""
        caps = [v for v in self.verdicts if isinstance(v.invariant.rule, a.EmailCap)]
        if not caps:
            return
        by_lead: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
        for row in sent:
            by_lead[row.email].append((row.sent_at, row.template))
        for verdict in caps:
            rule = verdict.invariant.rule
            assert isinstance(rule, a.EmailCap)
            for lead, emails in by_lead.items():
                found = crowded([at for at, _ in emails], rule.count, rule.window.timedelta)
                if found is not None:
                    templates = [t for at, t in emails if found[0] <= at <= found[-1]]
                    verdict.breaches[lead] = Breach(lead, found[0], found[-1],
                                                    f"{len(found)} emails: " + ", ".join(f'"{t}"' for t in templates))

    def as_dicts(self, start: dt.datetime, examples: int) -> list[dict[str, Any]]:
        """Each invariant, whether it held, how many leads broke it, and the first few by when they did."""

        def day(at: dt.datetime) -> dict[str, Any]:
            return {"day": (at - start) // dt.timedelta(days=1) + 1, "at": at.isoformat()}

        out = []
        for verdict in self.verdicts:
            node = verdict.invariant
            first = sorted(verdict.breaches.values(), key=lambda b: (b.first, b.lead))[:examples]
            out.append({"invariant": text_of(node), "where": f"{node.span.path}:{node.span.line}",
                        "holds": not verdict.breaches, "leads_breaking": len(verdict.breaches),
                        "examples": [{"lead": b.lead, "from": day(b.first), "to": day(b.last), "what": b.detail}
                                     for b in first]})
        return out
