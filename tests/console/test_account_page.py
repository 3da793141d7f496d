"""A lead's page in the console shows its account: the values rolled up from its contacts, and who they are."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from engine.console.passwords import hash_password
from engine.core.clock import VirtualClock
from engine.ingest.rows import Row

from ..http.live import Live
from .conftest import PASSWORD, USERS, sign_in

CAMPAIGN = Path(__file__).parent.parent / "engine" / "accounts_campaign"
T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def live(sqlite_url: str) -> Iterator[Live]:
    clock = VirtualClock(T0)
    live = Live(sqlite_url, clock, campaign=CAMPAIGN)
    processor = live.nurture.processor()
    processor.import_leads([Row(1, "", {"email": "ana@acme.example"}), Row(2, "", {"email": "bo@acme.example"}),
                            Row(3, "", {"email": "eve@gmail.com"})], "leads")
    rows = [{"lead": lead, "type": "page.viewed", "at": T0.isoformat(), "props": {"url": f"/page/{i}"}}
            for i, lead in enumerate(("ana@acme.example", "ana@acme.example", "bo@acme.example", "eve@gmail.com"))]
    report = processor.ingest_events([Row(i, json.dumps(r), r) for i, r in enumerate(rows, 1)], "test")
    assert not report.rejected
    with live.nurture.store.transaction() as tx:
        tx.users.save(USERS["viewer"], "viewer", hash_password(PASSWORD), clock.now())
    yield live
    live.stop()


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_lead_page_shows_its_account_and_its_values(live: Live) -> None:
    viewer = sign_in(live.base, USERS["viewer"])
    page = viewer.get(f"/leads/{quote('ana@acme.example')}")
    assert page.status_code == 200
    section = _text(page.text.split('<section id="account">')[1].split("</section>")[0])
    assert "Account acme.example" in section
    assert "account.engagement 30" in section and "account.best 20" in section and "account.least 10" in section
    assert "account.engaged 1" in section
    assert "ana@acme.example lead" in section and "bo@acme.example lead" in section
    assert "eve@gmail.com" not in section


def test_a_lead_on_free_mail_has_no_account(live: Live) -> None:
    viewer = sign_in(live.base, USERS["viewer"])
    page = viewer.get(f"/leads/{quote('eve@gmail.com')}")
    section = _text(page.text.split('<section id="account">')[1].split("</section>")[0])
    assert section == "Account No account: the lead is on free mail, or has no domain to go by."
