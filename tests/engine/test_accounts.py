"""Accounts against a real store (SQLite and PostgreSQL) and a real SMTP server: values rolled up once an input
is in and on the daemon's tick, stage rules on account values, and an alert sent once while it holds."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import sqlalchemy as sa

from engine.ingest.rows import LeadIn
from engine.store import Store
from engine.store.tables import ACCOUNT_MEMBERS, ACCOUNTS, LEADS

from .daemon_helpers import DAY, HOUR, T0, Harness, parse, run

CAMPAIGN = Path(__file__).parent / "accounts_campaign"
ACME = "https://www.Acme.example/pricing"  # as a CRM might hold it: the account is acme.example


def _accounts(h: Harness) -> dict[str, dict]:
    return {row.key: dict(row.scores) for row in h.query(sa.select(ACCOUNTS))}


def _stages(h: Harness) -> dict[str, str]:
    return dict(h.query(sa.select(LEADS.c.email, LEADS.c.stage)).__iter__())


def _views(h: Harness, email: str, at: dt.datetime, count: int = 2) -> None:
    h.clock.set(at)
    for i in range(count):
        h.events((email, "page.viewed", at, {"url": f"/page/{i}"}))


def test_account_values_stage_rules_and_one_alert_while_it_holds(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=CAMPAIGN)
        h.leads(*[{"email": f"{name}@acme.example", "company_domain": ACME} for name in ("ana", "bo", "cy")],
                {"email": "dee@mailbox.example"}, {"email": "eve@gmail.com"}, {"email": "fay@beta.example"})
        _views(h, "ana@acme.example", T0)
        _views(h, "dee@mailbox.example", T0)
        _views(h, "eve@gmail.com", T0)
        await h.tick()
        assert _accounts(h) == {
            "acme.example": {"engagement": 20.0, "best": 20.0, "least": 0.0, "engaged": 1.0},
            "beta.example": {"engagement": 0.0, "best": 0.0, "least": 0.0, "engaged": 0.0}}
        # free mail, listed in the campaign or built in: no account
        members = dict(h.query(sa.select(LEADS.c.email, ACCOUNT_MEMBERS.c.account_key)
                               .join(ACCOUNT_MEMBERS, ACCOUNT_MEMBERS.c.lead_id == LEADS.c.id)).__iter__())
        assert members == {"ana@acme.example": "acme.example", "bo@acme.example": "acme.example",
                           "cy@acme.example": "acme.example", "fay@beta.example": "beta.example"}

        _views(h, "bo@acme.example", T0 + HOUR)
        await h.tick()
        assert _accounts(h)["acme.example"]["engaged"] == 2.0
        assert capture.messages == []

        _views(h, "cy@acme.example", T0 + 2 * HOUR)
        await h.tick()
        acme = _accounts(h)["acme.example"]
        assert (acme["engagement"], acme["engaged"], acme["least"]) == (60.0, 3.0, 20.0)
        # the stage rule read the account's new values: every well-fitting contact of acme moved, no one else
        assert _stages(h) == {"ana@acme.example": "account_hot", "bo@acme.example": "account_hot",
                              "cy@acme.example": "account_hot", "dee@mailbox.example": "lead",
                              "eve@gmail.com": "lead", "fay@beta.example": "lead"}
        [(_, to, data)] = capture.messages
        alert = parse(data)
        assert to == ["sales@test.example"]
        assert alert["Subject"] == "Buying committee: https://www.Acme.example/pricing"
        assert "cy@acme.example was the latest" in alert.get_body(("html",)).get_content()

        # still holding: more activity and more ticks send nothing more
        _views(h, "ana@acme.example", T0 + 3 * HOUR)
        await h.tick(T0 + 5 * HOUR)
        await h.tick(T0 + DAY)
        assert len(capture.messages) == 1

        # a quiet week: no one counts as active, the alert stops holding (on the tick alone, no event)
        await h.tick(T0 + 8 * DAY)
        row = h.query(sa.select(ACCOUNTS).where(ACCOUNTS.c.key == "acme.example"))[0]
        assert row.scores["engaged"] == 0.0 and row.alerts == {}
        assert len(capture.messages) == 1

        # the committee comes back: the alert fires a second time
        for i, name in enumerate(("ana", "bo", "cy")):
            _views(h, f"{name}@acme.example", T0 + 9 * DAY + i * HOUR, count=3)
        await h.tick()
        assert len(capture.messages) == 2

        # engagement fades; the tick recomputes the account, and the stage rule sends its leads back
        await h.tick(T0 + 40 * DAY)
        assert _accounts(h)["acme.example"]["engagement"] < 30
        assert set(_stages(h).values()) == {"lead"}
        assert len(capture.messages) == 2
        await h.mailer.close()

    run(scenario())


def test_a_lead_that_changes_company_moves_between_accounts(sqlite_url, capture):
    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=CAMPAIGN)
        h.leads({"email": "ana@gmail.com", "company_domain": "acme.example"}, {"email": "bo@acme.example"})
        _views(h, "ana@gmail.com", T0)
        await h.tick()
        assert _accounts(h)["acme.example"]["engagement"] == 20.0
        h.leads({"email": "ana@gmail.com", "company_domain": "beta.example"})
        accounts = _accounts(h)
        assert accounts["acme.example"]["engagement"] == 0.0  # the account she left, refreshed too
        assert accounts["beta.example"]["engagement"] == 20.0
        await h.mailer.close()

    run(scenario())


def test_an_account_read_a_page_at_a_time_adds_up_the_same(sqlite_url, capture, monkeypatch):
    import engine.ingest.accounts as refreshing

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=CAMPAIGN)
        names = [f"p{i}" for i in range(7)]
        h.leads(*[{"email": f"{n}@acme.example"} for n in names])
        for i, name in enumerate(names):
            _views(h, f"{name}@acme.example", T0 + i * HOUR, count=1 + i % 3)
        whole = _accounts(h)["acme.example"]
        monkeypatch.setattr(refreshing, "PAGE", 2)  # 7 contacts: pages of 2, 2, 2 and 1
        with h.nurture.store.transaction() as tx:
            _, rules = h.nurture.rules()
            assert rules.accounts is not None
            refreshing.refresh(tx, rules, rules.accounts, ["acme.example"], h.clock.now())
        assert _accounts(h)["acme.example"] == whole
        assert whole["engagement"] == 10.0 * sum(1 + i % 3 for i in range(7))
        await h.mailer.close()

    run(scenario())


def test_an_account_alert_is_posted_to_the_sales_webhook_as_one(sqlite_url, capture):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def scenario():
        h = Harness(sqlite_url, capture.port, campaign=CAMPAIGN,
                    sales_webhook_url=f"http://127.0.0.1:{server.server_address[1]}/hooks", webhook_secret="s")
        h.leads(*[{"email": f"{name}@acme.example"} for name in ("ana", "bo", "cy")])
        for i, name in enumerate(("ana", "bo", "cy")):
            _views(h, f"{name}@acme.example", T0 + i * HOUR)
        await h.tick()
        await h.mailer.close()

    try:
        run(scenario())
    finally:
        server.shutdown()
    [body] = received
    payload = json.loads(body)
    assert (payload["event"], payload["account"], payload["stage"]) == ("account.alert", "acme.example", "lead")
    assert payload["lead"]["email"] == "cy@acme.example"
    assert payload["reason"] == ("account acme.example: account.engaged >= 3 "
                                 "(engagement = 60, best = 20, least = 20, engaged = 3)")


def test_an_input_of_many_batches_rolls_its_accounts_up_once_in_and_the_tick_takes_any_left_marked(db_url, capture):
    async def scenario():
        h = Harness(db_url, capture.port, campaign=CAMPAIGN, batch_size=2)
        h.leads(*[{"email": f"{name}@acme.example", "company_domain": ACME} for name in ("ana", "bo", "cy")])
        h.clock.set(T0)
        # six events in three batches of two: acme is rolled up when the input is in, from all six
        h.events(*[(f"{name}@acme.example", "page.viewed", T0, {"url": f"/page/{i}"})
                   for name in ("ana", "bo", "cy") for i in range(2)])
        [row] = h.query(sa.select(ACCOUNTS))
        assert row.scores["engagement"] == 60.0 and row.computed_at.year > 1970

        # a journey's `set` step changes a lead inside the daemon's own transaction: its account is only
        # marked, and rolled up on the tick, as after a crash between a batch and the roll-up
        processor = h.nurture.processor()
        with h.nurture.store.transaction() as tx:
            processor.update_leads(tx, [LeadIn(0, "dan@acme.example", {"company_domain": ACME})])
        [row] = h.query(sa.select(ACCOUNTS))
        assert row.computed_at.year == 1970 and row.scores["engagement"] == 60.0
        await h.tick(T0 + HOUR)
        [row] = h.query(sa.select(ACCOUNTS))
        assert row.computed_at.year > 1970 and row.scores["engaged"] == 3.0
        assert len(h.query(sa.select(ACCOUNT_MEMBERS))) == 4
        await h.mailer.close()

    run(scenario())


def test_contacts_kept_between_roll_ups_are_read_again_once_their_lead_changes(db_url, capture, tmp_path):
    """The store keeps an account's contacts between roll-ups. A write by another process (with a store of its
    own) raises the lead's revision, so the next roll-up here reads that contact again; and a transaction that
    rolls back keeps nothing it read."""
    import engine.ingest.accounts as refreshing

    campaign = tmp_path / "campaign"
    shutil.copytree(CAMPAIGN, campaign)
    with (campaign / "journeys" / "campaign.nurture").open("a") as source:  # a cap's window for the state to hold
        source.write("\nscore interest {\n  +1 per page.viewed max 3 per 7 days\n}\n")

    async def scenario():
        h = Harness(db_url, capture.port, campaign=campaign)
        h.leads({"email": "ana@acme.example"}, {"email": "bo@acme.example"})
        _views(h, "ana@acme.example", T0)
        _, rules = h.nurture.rules()
        assert rules.accounts is not None

        def roll_up(store: Store, **transaction: bool) -> None:
            with store.transaction(**transaction) as tx:
                refreshing.refresh(tx, rules, rules.accounts, ["acme.example"], h.clock.now())

        roll_up(h.nurture.store)
        assert _accounts(h)["acme.example"]["engagement"] == 20.0
        other = Harness(db_url, capture.port, campaign=campaign)
        other.clock.set(T0 + HOUR)
        _views(other, "bo@acme.example", T0 + HOUR)
        h.clock.set(T0 + HOUR)
        roll_up(h.nurture.store)
        assert _accounts(h)["acme.example"]["engagement"] == 40.0  # 20 had Bo's kept copy been used

        fresh = Harness(db_url, capture.port, campaign=campaign).nurture.store  # it has kept nothing yet
        [(lead_id, revision)] = h.query(sa.select(LEADS.c.id, LEADS.c.revision)
                                        .where(LEADS.c.email == "ana@acme.example"))
        roll_up(fresh, dry_run=True)
        assert fresh.contacts.get(lead_id, revision, "ana@acme.example") is None
        roll_up(fresh)
        kept = fresh.contacts.get(lead_id, revision, "ana@acme.example")
        assert kept is not None
        # a kept contact holds what its scores are worked out from, not what its caps and event conditions
        # remember: tens of thousands of contacts are kept, and that memory is most of a lead's state
        [stored] = h.query(sa.select(LEADS.c.state).where(LEADS.c.id == lead_id))
        assert stored.state["caps"]
        assert kept.state.sums == stored.state["sums"] and kept.state.fit == stored.state["fit"]
        assert not kept.state.caps and not kept.state.hits
        await h.mailer.close()

    run(scenario())
