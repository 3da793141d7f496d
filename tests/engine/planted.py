"""A generated history whose conversions follow planted weights on a campaign's own scoring rules.

Each lead's chance to convert is a logistic function of what the campaign's rules see: who it is (a big
company, a senior title) and what it did (pricing views, blog views, webinars). Two rules are planted so
their marginal lift misleads: webinars are attended mostly by small companies, which rarely buy, so a
webinar's lift is low although attending raises a lead's chance; blog readers are mostly pricing
readers, so blog views show a high lift although they lower it. The hand-written points are the
day-one guess a marketer would make.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAYS = 28

CAMPAIGN = """\
# Who buys from us, as first guessed
attributes {
  job_title: text
  company_size: number = 0
}

events {
  page.viewed { url: text }
  webinar.attended
}

score fit "Who they are" {
  +10 if company_size >= 200  # big companies
  +10 if job_title matches /\\b(VP|Director)\\b/
}

score engagement "What they do" {
  +5 per page.viewed where url contains "/pricing" max 20 per 7 days
  +5 per page.viewed where url contains "/blog"
  +10 per webinar.attended
  decay 50% every 90 days
  floor 0
}

stage mql "Marketing qualified lead" {
  when fit >= 10 and engagement >= 20
}
"""

BIG = "+10 if company_size >= 200"
SENIOR = "+10 if job_title matches /\\b(VP|Director)\\b/"
PRICING = '+5 per page.viewed where url contains "/pricing" max 20 per 7 days'
BLOG = '+5 per page.viewed where url contains "/blog"'
WEBINAR = "+10 per webinar.attended"

#: log-odds of converting per award of each rule (what tune should recover, in this order and sign)
PLANTED = {BIG: 3.2, WEBINAR: 1.6, SENIOR: 1.0, PRICING: 0.6, BLOG: -0.3}
INTERCEPT = -4.0


@dataclass(frozen=True)
class History:
    campaign: Path
    leads: Path
    events: Path
    outcomes: Path
    converted: int
    total: int


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_planted(folder: Path, leads: int = 1500, seed: int = 11) -> History:
    """The campaign (``folder/campaign/journeys``), its leads, events and outcomes, from planted weights."""
    rng = random.Random(seed)
    journeys = folder / "campaign" / "journeys"
    journeys.mkdir(parents=True)
    (folder / "campaign" / "templates").mkdir()
    (journeys / "scoring.nurture").write_text(CAMPAIGN)
    events: list[dict] = []
    rows, outcomes = [], []
    converted = 0
    for i in range(leads):
        email = f"lead{i}@company{i % 97}.example"
        big = rng.random() < 0.45
        senior = rng.random() < 0.35
        rows.append(f"{email},{'VP Sales' if senior else 'Analyst'},{rng.choice([400, 2500]) if big else 40}")
        pricing = rng.choice([0, 0, 1, 2, 3, 4])
        blog = pricing + rng.choice([0, 0, 0, 1]) if pricing else rng.choice([0, 0, 0, 0, 1])
        webinar = 1 if rng.random() < (0.03 if big else 0.6) else 0
        # at most one pricing view a week keeps every view under the cap, so the planted counts are the awards
        for week in rng.sample(range(4), pricing):
            at = START + dt.timedelta(days=week * 7 + rng.uniform(0, 6.5))
            events.append({"lead": email, "type": "page.viewed", "at": at, "props": {"url": "/pricing"}})
        for _ in range(blog):
            at = START + dt.timedelta(days=rng.uniform(0, DAYS - 1))
            events.append({"lead": email, "type": "page.viewed", "at": at, "props": {"url": "/blog/post"}})
        for _ in range(webinar):
            at = START + dt.timedelta(days=rng.uniform(0, DAYS - 1))
            events.append({"lead": email, "type": "webinar.attended", "at": at})
        logit = (INTERCEPT + PLANTED[BIG] * big + PLANTED[SENIOR] * senior + PLANTED[PRICING] * pricing
                 + PLANTED[BLOG] * blog + PLANTED[WEBINAR] * webinar)
        buys = rng.random() < 1 / (1 + math.exp(-logit))
        converted += buys
        if buys:
            outcomes.append(f"{email},true,{_stamp(START + dt.timedelta(days=DAYS + 3))}")
        elif i % 2:  # half the others are named as lost; the rest are simply not in the file
            outcomes.append(f"{email},false,")
    (folder / "leads.csv").write_text("email,job_title,company_size\n" + "\n".join(rows) + "\n")
    events.sort(key=lambda e: e["at"])
    with (folder / "events.jsonl").open("w") as f:
        for n, event in enumerate(events):
            f.write(json.dumps({"id": f"e{n}", **event, "at": _stamp(event["at"])}) + "\n")
    (folder / "outcomes.csv").write_text("email,converted,converted_at\n" + "\n".join(outcomes) + "\n")
    return History(journeys, folder / "leads.csv", folder / "events.jsonl", folder / "outcomes.csv", converted, leads)
