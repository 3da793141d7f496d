"""The console over a real socket: sign-in, roles, CSRF, the rate limit, and what each page shows."""

from __future__ import annotations

import datetime as dt
import email
import re
from collections.abc import Callable
from email import policy
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from engine.lab.capture import CaptureServer
from engine.store.tables import EVENTS, LEADS, OUTBOX

from ..http.live import Live
from .conftest import PASSWORD, USERS, csrf_of, sign_in
from .world import World

Client = Callable[[str], httpx.Client]


def _outbox_row(live: Live, world: World, status: str, **values: object) -> int:
    """A message for the first lead, as the daemon would have left it (status, tries, reply)."""
    lead = world.leads[0].email
    with live.nurture.store.engine.begin() as conn:
        lead_id = conn.execute(sa.select(LEADS.c.id).where(LEADS.c.email == lead)).scalar_one()
        now = world.clock.now()
        row = {"key": f"console-test:{status}:{len(str(values))}:{now.timestamp()}:{values}", "lead_id": lead_id,
               "kind": "marketing", "journey": "welcome", "step": "followup", "template": "followup",
               "to_address": lead, "message_id": f"<{status}@test>", "status": status,
               "due_at": now + dt.timedelta(hours=1), "created_at": now, "attempts": 0, "deferrals": 0, **values}
        return int(conn.execute(OUTBOX.insert().values(**row)).inserted_primary_key[0])


def test_every_page_needs_sign_in_and_sends_you_back_after_it(console: Live) -> None:
    anonymous = httpx.Client(base_url=console.base, follow_redirects=False, timeout=30)
    for path in ["/", "/funnel", "/leads", "/journeys/welcome", "/outbox", "/preview", "/campaign", "/health"]:
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={quote(path, safe='')}"
    assert anonymous.get("/static/console.css").status_code == 200
    token = csrf_of(anonymous.get("/login?next=/outbox").text)
    answer = anonymous.post("/login", data={"email": USERS["viewer"], "password": PASSWORD, "csrf": token,
                                            "next": "/outbox"})
    assert answer.status_code == 303 and answer.headers["location"] == "/outbox"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    page = anonymous.get("/outbox")
    assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    # only paths on this site: no open redirect through ?next=
    again = sign_in(console.base, USERS["viewer"])
    token = csrf_of(again.get("/leads").text)
    answer = again.post("/login", data={"email": USERS["viewer"], "password": PASSWORD, "csrf": token,
                                        "next": "//evil.example/"})
    assert answer.headers["location"] == "/"


def test_the_session_cookie_is_secure_behind_https(console: Live) -> None:
    console.reconfigure(base_url="https://console.example")
    try:
        client = httpx.Client(base_url=console.base, timeout=30)
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"email": USERS["viewer"], "password": PASSWORD, "csrf": token},
                             follow_redirects=False)
        assert "secure" in answer.headers["set-cookie"].lower()
    finally:
        console.reconfigure(base_url=console.base)


def test_a_wrong_password_is_refused_and_failures_are_limited(console: Live) -> None:
    client = httpx.Client(base_url=console.base, timeout=30)
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        answer = client.post("/login", data={"email": USERS["admin"], "password": "wrong", "csrf": token})
        assert answer.status_code == 401 and "Wrong email or password" in answer.text
    # the right password now waits too: the limit is on the address
    answer = client.post("/login", data={"email": USERS["admin"], "password": PASSWORD, "csrf": token})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in answer.text
    # another person from the same address is not locked out
    assert sign_in(console.base, USERS["sales"]).get("/").status_code == 200
    console.app.state.console.failures_by_email._seen.clear()  # the admin tests below sign in again


def test_a_form_without_its_csrf_token_is_refused(as_role: Client, world: World) -> None:
    sales = as_role("sales")
    lead = world.leads[5].email
    answer = sales.post(f"/leads/{quote(lead)}/feedback", data={"verdict": "accept", "reason": "x"})
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = sales.post(f"/leads/{quote(lead)}/feedback", data={"verdict": "accept", "csrf": "forged"})
    assert answer.status_code == 403
    login = httpx.Client(base_url=sales.base_url, timeout=30)
    answer = login.post("/login", data={"email": USERS["sales"], "password": PASSWORD})
    assert answer.status_code == 403


def test_sales_accepts_and_rejects_a_lead_recording_the_cli_events(console: Live, as_role: Client,
                                                                  world: World) -> None:
    sales = as_role("sales")
    lead = world.leads[6].email  # an SQL
    token = csrf_of(sales.get(f"/leads/{quote(lead)}").text)
    answer = sales.post(f"/leads/{quote(lead)}/feedback", data={"verdict": "reject", "reason": " ", "csrf": token})
    assert answer.status_code == 400 and "needs a reason" in answer.text
    answer = sales.post(f"/leads/{quote(lead)}/feedback",
                        data={"verdict": "accept", "reason": "budget approved", "csrf": token})
    assert answer.status_code == 303 and "Recorded%20sales.accepted" in answer.headers["location"]
    rows = console.rows(sa.select(EVENTS.c.type, EVENTS.c.props).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
                        .where(LEADS.c.email == lead, EVENTS.c.type.like("sales.%")))
    assert [(t, p) for t, p in rows] == [("sales.accepted", {"reason": "budget approved"})]
    # a viewer cannot
    viewer = as_role("viewer")
    token = csrf_of(viewer.get("/leads").text)
    answer = viewer.post(f"/leads/{quote(lead)}/feedback", data={"verdict": "accept", "csrf": token})
    assert answer.status_code == 403 and "sales role" in answer.text


def test_only_admins_cancel_and_retry_mail(console: Live, as_role: Client, world: World) -> None:
    queued = _outbox_row(console, world, "queued")
    failed = _outbox_row(console, world, "failed", attempts=1, last_error="550 5.1.1 mailbox unavailable")
    for role in ("viewer", "sales"):
        client = as_role(role)
        token = csrf_of(client.get(f"/outbox/{queued}").text)
        assert "Only admins can cancel" in client.get(f"/outbox/{queued}").text
        answer = client.post(f"/outbox/{queued}/cancel", data={"csrf": token})
        assert answer.status_code == 403 and "admin role" in answer.text
    assert console.scalar(sa.select(OUTBOX.c.status).where(OUTBOX.c.id == queued)) == "queued"
    admin = as_role("admin")
    page = admin.get(f"/outbox/{queued}").text
    assert 'id="cancel"' in page
    answer = admin.post(f"/outbox/{queued}/cancel", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    status, reply = console.rows(sa.select(OUTBOX.c.status, OUTBOX.c.last_error).where(OUTBOX.c.id == queued))[0]
    assert status == "cancelled" and USERS["admin"] in reply
    # a cancelled message cannot be cancelled again; a sent one cannot be retried
    again = admin.post(f"/outbox/{queued}/cancel", data={"csrf": csrf_of(page)})
    assert again.status_code == 409
    sent = world.sent()[0].id
    assert admin.post(f"/outbox/{sent}/retry", data={"csrf": csrf_of(page)}).status_code == 409
    answer = admin.post(f"/outbox/{failed}/retry", data={"csrf": csrf_of(page)})
    assert answer.status_code == 303
    row = console.rows(sa.select(OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.due_at).where(OUTBOX.c.id == failed))[0]
    assert row.status == "queued" and row.attempts == 0 and row.due_at == world.clock.now()


def test_the_outbox_filters_by_state_and_says_why_a_message_waits(console: Live, as_role: Client,
                                                                  world: World) -> None:
    deferred = _outbox_row(console, world, "queued", deferrals=2)
    retrying = _outbox_row(console, world, "queued", attempts=2, last_error="451 4.3.0 try again later")
    viewer = as_role("viewer")
    page = viewer.get("/outbox?state=deferred").text
    assert f'href="/outbox/{deferred}"' in page and "quiet hours or a frequency cap" in page
    assert f'href="/outbox/{retrying}"' not in page
    page = viewer.get("/outbox?state=retrying").text
    assert f'href="/outbox/{retrying}"' in page and "451 4.3.0 try again later" in page
    page = viewer.get("/outbox?state=sent").text
    shown = re.findall(r'href="/outbox/(\d+)"', page)
    sent_ids = {m.id for m in world.sent()}
    assert shown and {int(i) for i in shown} <= sent_ids and len(shown) == min(50, len(sent_ids))
    assert viewer.get("/outbox?state=nonsense").status_code == 400


def test_the_funnel_page_shows_the_counts_of_the_events_loaded(as_role: Client, world: World) -> None:
    expected = world.expected
    page = as_role("viewer").get("/funnel?by=lead_source&to=sql").text
    best = max(("organic", "partner", "webinar"),
               key=lambda s: (expected.entered("sql", s) + expected.skipped("sql", s)) / len(expected._of(s)))
    assert re.search(rf'id="best">Converts best to sql: <strong>{best}</strong>', page)
    rows = re.findall(r"<tr><td>(\w+)</td><td class=\"n\">(\d+)</td>", page)
    assert ("mql", str(expected.entered("mql"))) in rows and ("sql", str(expected.entered("sql"))) in rows
    assert as_role("viewer").get("/funnel?by=nope").status_code == 200  # said on the page, with the choices
    assert "declares no attribute" in as_role("viewer").get("/funnel?by=nope").text


def test_a_lead_page_explains_its_scores_and_tells_its_story(as_role: Client, world: World) -> None:
    lead = world.leads[0]  # webinar, demo and a deal: a customer
    page = as_role("viewer").get(f"/leads/{quote(lead.email)}").text
    assert "<code>+40 per webinar.attended</code>" in page and "<code>+100 per demo.requested</code>" in page
    assert page.count('<span class="badge">stage</span>') == len(lead.stages())
    assert "welcome" in page and 'id="timeline"' in page
    assert "Sales feedback" not in page  # a viewer sees no form
    assert as_role("viewer").get("/leads/nobody@nowhere.example").status_code == 404


def test_lead_search_by_email_stage_and_score(as_role: Client, world: World) -> None:
    viewer = as_role("viewer")
    page = viewer.get("/leads?stage=customer").text
    found = set(re.findall(r'<a href="/leads/([^"]+)">', page))
    assert {quote(lead.email) for lead in world.leads if "customer" in lead.stages()} == found
    page = viewer.get("/leads?email=acme3&score=engagement&min=100").text
    found = {m.replace("%40", "@") for m in re.findall(r'<a href="/leads/([^"]+)">', page)}
    assert found and all("acme3" in f for f in found)
    assert all("demo.requested" in lead.events for lead in world.leads if lead.email in found)
    assert viewer.get("/leads?score=engagement&min=lots").status_code == 400


def test_a_journey_shows_its_steps_with_counts(as_role: Client, world: World) -> None:
    page = as_role("viewer").get("/journeys/welcome").text
    mqls = world.expected.entered("mql")
    assert re.search(rf"<strong>intro</strong>: <code>send &#34;welcome&#34;</code>\s*<div class=\"counts\">entered "
                     rf"{mqls} ", page)
    sent = world.expected.sent[("welcome", "intro", "welcome")]
    opened = world.expected.opened[("welcome", "intro", "welcome")]
    assert f"sent {sent} · delivered {sent} · opened {opened} ({opened / sent:.1%})" in page
    assert as_role("viewer").get("/journeys/nope").status_code == 404


def test_preview_renders_any_template_and_admins_test_send_it(console: Live, as_role: Client, world: World,
                                                              capture: CaptureServer) -> None:
    lead = world.leads[2].email
    page = as_role("viewer").get(f"/preview?template=welcome&lead={quote(lead)}").text
    first = lead.split("@")[0].title()
    assert f"Welcome, {first}" in page and "List-Unsubscribe" in page and 'id="text"' in page
    sample = as_role("viewer").get("/preview?template=welcome").text
    assert "Welcome, Sam" in sample
    # the preview's open pixel and links look real but record nothing about the lead
    pixel = re.search(r"(/t/o/[A-Za-z0-9_.\-]+)", page)
    assert pixel
    opens = console.count(EVENTS, EVENTS.c.type == "email.opened")
    assert httpx.get(f"{console.base}{pixel.group(1)}").status_code in (200, 404)
    assert console.count(EVENTS, EVENTS.c.type == "email.opened") == opens
    assert "Send a test" not in page
    token = csrf_of(page)
    refused = as_role("sales").post("/preview/send", data={"template": "welcome", "lead": lead,
                                                            "to": "qa@test.example", "csrf": token})
    assert refused.status_code == 403
    admin = as_role("admin")
    page = admin.get(f"/preview?template=welcome&lead={quote(lead)}").text
    before = len(capture.messages)
    answer = admin.post("/preview/send", data={"template": "welcome", "lead": lead, "to": "qa@test.example",
                                               "csrf": csrf_of(page)})
    assert answer.status_code == 303 and "sent%20to%20qa%40test.example" in answer.headers["location"]
    sender, recipients, data = capture.messages[before]
    message = email.message_from_bytes(data, policy=policy.default)
    assert recipients == ["qa@test.example"] and message["Subject"] == f"Welcome, {first}"


def test_campaign_versions_health_and_metrics(console: Live, as_role: Client) -> None:
    viewer = as_role("viewer")
    page = viewer.get("/campaign").text
    assert re.search(r"v1 <span class=\"badge sent\">applied</span>", page)
    assert "same files" in viewer.get("/campaign?a=1&b=1").text
    assert viewer.get("/campaign?a=1&b=9").status_code == 404
    assert "No scenario results were kept for v1" in page
    with console.nurture.store.transaction() as tx:  # as `nurture apply --scenarios` keeps them
        tx.meta.set_scenario_results(1, {"passed": 1, "failed": 0, "failures": [], "at": "2026-03-02T09:00:00+00:00",
                                         "names": ['journeys/tests/a.nurture::"Ann qualifies"']})
    kept = viewer.get("/campaign").text
    assert "1 passed, 0 failed</span> when v1 was applied" in kept
    assert "pass <code>journeys/tests/a.nurture::&#34;Ann qualifies&#34;</code>" in kept
    health = viewer.get("/health").text
    assert "No daemon is registered" in health  # the daemon that played the history has left
    queued = console.count(OUTBOX, OUTBOX.c.status == "queued")
    assert re.search(rf'Queue depth</div><div class="figure">{queued}</div>', health)
    metrics = httpx.get(f"{console.base}/metrics").text
    assert f"nurture_outbox_queue_depth {queued}" in metrics
    assert re.search(r"^nurture_smtp_failures_last_hour \d+$", metrics, re.M)
