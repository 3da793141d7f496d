"""Synthetic leads and engagement for the demo and simulations: deterministic for a seed.

Leads come in three temperaments (hot, warm, cold) that decide how often they visit, read and
ask for demos. Opens and clicks follow the emails a lead actually receives, so journeys and
engagement feed each other the way they do in production.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from engine.ingest.rows import Row

FIRST = ["Ann", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam", "Mona",
         "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Adler", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kowalski",
        "Lopez", "Meyer", "Nakamura", "Okafor", "Patel"]
# (company, industry, country, employees)
COMPANIES = [
    ("Globex", "software", "US", 1200), ("Initech", "fintech", "US", 350), ("Umbrella", "healthcare", "DE", 8000),
    ("Hooli", "software", "US", 20000), ("Vandelay", "retail", "GB", 90), ("Stark Data", "manufacturing", "DE", 600),
    ("Wayne Labs", "software", "CA", 250), ("Soylent", "retail", "FR", 40), ("Tyrell", "software", "NL", 2500),
    ("Cyberdyne", "manufacturing", "US", 5200), ("Aperture", "education", "US", 150),
    ("Nakatomi", "fintech", "JP", 700),
]
TITLES = ["VP Marketing", "Director of Analytics", "Head of Data", "Data Analyst", "Software Engineer", "CTO",
          "Marketing Manager", "Chief Data Officer", "Student", "Operations Lead"]
ZONES = {"US": "America/New_York", "DE": "Europe/Berlin", "GB": "Europe/London", "CA": "America/Toronto",
         "FR": "Europe/Paris", "NL": "Europe/Amsterdam", "JP": "Asia/Tokyo"}
SOURCES = ["website", "webinar", "event", "partner", "paid_social"]

#: temperament -> (share of leads, site visits a day, chance of asking for a demo a day, open rate, click rate)
TEMPERAMENTS = {"hot": (0.12, 1.6, 0.06, 0.7, 0.35), "warm": (0.33, 0.5, 0.008, 0.45, 0.12),
                "cold": (0.55, 0.08, 0.0, 0.15, 0.02)}
PAGES = ["/blog/modern-bi", "/docs/getting-started", "/customers", "/features", "/pricing", "/integrations"]
ASSETS = ["roi-guide", "benchmark-2026", "data-team-checklist"]


@dataclass
class SyntheticLead:
    email: str
    temperament: str
    attributes: dict[str, Any]


@dataclass
class Population:
    """Leads plus the events they will produce, drawn day by day."""

    seed: int | str = 7
    leads: list[SyntheticLead] = field(default_factory=list)
    #: the temperament mix (same shape as TEMPERAMENTS); simulations may pass their own
    temperaments: dict[str, tuple[float, float, float, float, float]] = field(
        default_factory=lambda: dict(TEMPERAMENTS))
    #: the companies its leads work at (a simulation's shards each take their own, so no account is split)
    companies: list[tuple[str, str, str, int]] = field(default_factory=lambda: list(COMPANIES))
    #: lead n is numbered offset + n * stride in its address, so parallel shards never share one
    numbering: tuple[int, int] = (0, 1)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._line = 0
        self.by_email: dict[str, SyntheticLead] = {}

    def make_leads(self, count: int) -> list[SyntheticLead]:
        rng = self.rng
        kinds, weights = zip(*((k, v[0]) for k, v in self.temperaments.items()), strict=True)
        offset, stride = self.numbering
        for i in range(len(self.leads), len(self.leads) + count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company, industry, country, size = rng.choice(self.companies)
            free_mail = rng.random() < 0.12
            domain = "gmail.com" if free_mail else company.lower().replace(" ", "") + ".example"
            temperament = rng.choices(kinds, weights)[0]
            title = rng.choice(TITLES[:4] if temperament == "hot" and rng.random() < 0.6 else TITLES)
            lead = SyntheticLead(f"{first}.{last}.{offset + i * stride}@{domain}".lower(), temperament, {
                "first_name": first, "last_name": last, "company": company, "job_title": title,
                "company_size": size, "industry": industry, "country": country, "timezone": ZONES[country],
                "lead_source": rng.choice(SOURCES)})
            self.leads.append(lead)
            self.by_email[lead.email] = lead
        return self.leads[-count:]

    def lead_rows(self, leads: list[SyntheticLead]) -> list[Row]:
        return [self._row({"email": lead.email, **lead.attributes}) for lead in leads]

    def _row(self, data: dict[str, Any]) -> Row:
        self._line += 1
        return Row(self._line, "", data)

    def event(self, lead: SyntheticLead, etype: str, at: dt.datetime, **props: Any) -> Row:
        return self._row({"lead": lead.email, "type": etype, "at": at.isoformat(), "props": props})

    def day_of_activity(self, day: dt.datetime, webinar_day: bool = False) -> list[Row]:
        """The site visits, downloads, webinars and demo requests of one day, in time order."""
        rng, rows = self.rng, []
        for lead in self.leads:
            _, visits, demo, _, _ = self.temperaments[lead.temperament]
            for _ in range(_poisson(rng, visits)):
                at = day + dt.timedelta(hours=rng.uniform(7, 22))
                if rng.random() < 0.25:
                    rows.append(self.event(lead, "content.downloaded", at, asset=rng.choice(ASSETS)))
                else:
                    rows.append(self.event(lead, "page.viewed", at, url=rng.choice(PAGES)))
            if webinar_day and lead.temperament != "cold" and rng.random() < 0.25:
                at = day + dt.timedelta(hours=16)
                rows.append(self.event(lead, "webinar.registered", at - dt.timedelta(days=2),
                                       webinar="modern-bi-101"))
                if rng.random() < 0.6:
                    rows.append(self.event(lead, "webinar.attended", at, webinar="modern-bi-101",
                                           minutes=rng.randint(10, 55)))
            if demo and rng.random() < demo:
                rows.append(self.event(lead, "demo.requested", day + dt.timedelta(hours=rng.uniform(9, 17))))
        return sorted(rows, key=_at)

    def reactions(self, email: str, sent_at: dt.datetime, link: str | None = None) -> list[Row]:
        """Opens and clicks a delivered email draws from its reader."""
        lead = self.by_email.get(email)
        if lead is None:
            return []
        _, _, _, open_rate, click_rate = self.temperaments[lead.temperament]
        rows = []
        if self.rng.random() < open_rate:
            opened = sent_at + dt.timedelta(minutes=self.rng.uniform(5, 600))
            rows.append(self.event(lead, "email.opened", opened))
            if self.rng.random() < click_rate / open_rate:
                rows.append(self.event(lead, "email.clicked", opened + dt.timedelta(minutes=1),
                                       url=link or "https://acme-analytics.example/customers"))
        return rows


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _at(row: Row) -> str:
    """When a generated event happens (every generated row has its data)."""
    assert row.data is not None
    return str(row.data["at"])
