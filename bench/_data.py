"""Synthetic but realistic leads and engagement for the benchmarks (deterministic for a seed)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
TITLES = ["VP Marketing", "Director of Data", "Head of Analytics", "Data Analyst", "Engineer", "CTO", "Intern",
          "Marketing Manager", "Chief Data Officer", "Student"]
INDUSTRIES = ["software", "fintech", "retail", "healthcare", "manufacturing", "education"]
COUNTRIES = ["US", "DE", "GB", "FR", "CA", "IN", "BR", "NL"]
DOMAINS = ["acme.example", "globex.example", "initech.example", "umbrella.example", "gmail.com", "hooli.example"]
SOURCES = ["website", "webinar", "event", "partner", "paid_social"]
# (weight, type, props factory)
MIX = [
    (30, "email.opened", lambda r: {}),
    (8, "email.clicked", lambda r: {"url": "https://acme-analytics.example/blog"}),
    (25, "page.viewed", lambda r: {"url": r.choice(["/blog/roi", "/docs", "/customers", "/features"])}),
    (9, "page.viewed", lambda r: {"url": "/pricing"}),
    (8, "content.downloaded", lambda r: {"asset": r.choice(["roi-guide", "benchmark-2026", "checklist"])}),
    (4, "form.submitted", lambda r: {"form": r.choice(["newsletter", "contact-sales"])}),
    (4, "webinar.registered", lambda r: {"webinar": "analytics-101"}),
    (3, "webinar.attended", lambda r: {"webinar": "analytics-101", "minutes": r.randint(5, 60)}),
    (1, "demo.requested", lambda r: {}),
    (1, "trial.started", lambda r: {"plan": "business"}),
    (1, "email.unsubscribed", lambda r: {}),
]


def email(i: int) -> str:
    return f"lead{i}@{DOMAINS[i % len(DOMAINS)]}"


def write_leads(path: Path, count: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w") as f:
        f.write("email,first_name,job_title,company_size,industry,country,lead_source\n")
        for i in range(count):
            f.write(f"{email(i)},Lead{i},{rnd.choice(TITLES)},{rnd.choice([5, 40, 150, 600, 3000])},"
                    f"{rnd.choice(INDUSTRIES)},{rnd.choice(COUNTRIES)},{rnd.choice(SOURCES)}\n")


def write_events(path: Path, leads: int, count: int, days: int = 90, seed: int = 11) -> None:
    """Events in time order, engagement skewed so a minority of leads do most of it."""
    rnd = random.Random(seed)
    weights = [w for w, _, _ in MIX]
    span = days * 86400
    with path.open("w") as f:
        for n in range(count):
            at = START + dt.timedelta(seconds=span * n / count)
            lead = int(leads * rnd.random() ** 2)  # skewed: low ids are the engaged ones
            _, etype, props = rnd.choices(MIX, weights)[0]
            record = {"id": f"e{n}", "lead": email(lead), "type": etype,
                      "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "props": props(rnd)}
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
