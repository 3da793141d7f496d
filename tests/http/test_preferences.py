"""The preference page and one-click unsubscribe with topics, over a real socket: the daemon sends real emails
over SMTP and the test follows the links they carry, as a reader's mail client would."""

from __future__ import annotations

import datetime as dt
import email
import html
import re
import shutil
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.lab.capture import CaptureServer
from engine.store.tables import EVENTS, LEADS, OUTBOX, SUPPRESSIONS, TOPIC_OPTOUTS

from ..engine.test_topics_delivery import TOPICS_CAMPAIGN
from .live import Live, event, tick

ANN = "ann@acme.example"
SUBJECTS = {"product": "What is new", "events": "Join our webinar", None: "Your account"}


class Inbox:
    """Ann's emails by subject: their preference link and their one-click unsubscribe URI."""

    def __init__(self, messages: list[tuple[str, list[str], bytes]]) -> None:
        self.messages: dict[str, EmailMessage] = {}
        for _, _, data in messages:
            message: EmailMessage = email.message_from_bytes(data, policy=policy.default)  # type: ignore[assignment]
            self.messages[str(message["Subject"])] = message

    def preferences(self, subject: str) -> str:
        body = self.messages[subject].get_body(("html",))
        assert body is not None
        return next(html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', body.get_content()) if "/p/" in h)

    def one_click(self, subject: str) -> str:
        header = str(self.messages[subject]["List-Unsubscribe"])
        return next(u for u in re.findall(r"<([^>]+)>", header) if u.startswith("http"))


def campaign_leaving(tmp_path: Path, scope: str) -> Path:
    """The topics campaign with `unsubscribe leaves <scope>`."""
    copy = tmp_path / f"campaign-{scope}"
    shutil.copytree(TOPICS_CAMPAIGN, copy)
    (copy / "journeys" / "unsubscribe.nurture").write_text(f"settings {{\n  unsubscribe leaves {scope}\n}}\n")
    return copy


@pytest.fixture
def start(serve: Callable[..., Live], sqlite_url: str, capture: CaptureServer,
          tmp_path: Path) -> Callable[..., tuple[Live, Inbox]]:
    """A server over the topics campaign (``scope``: what unsubscribe leaves) and Ann's first three emails."""
    def begin(scope: str | None = None, url: str = sqlite_url) -> tuple[Live, Inbox]:
        live = serve(url, campaign=campaign_leaving(tmp_path, scope) if scope else TOPICS_CAMPAIGN)
        assert live.client.post("/v1/events", json=event(ANN, "signed.up", live.clock.now())).status_code == 200
        tick(live, capture)
        assert len(capture.messages) == 3
        return live, Inbox(capture.messages)
    return begin


def left(live: Live) -> list[str]:
    return [row.topic for row in live.rows(sa.select(TOPIC_OPTOUTS.c.topic).order_by(TOPIC_OPTOUTS.c.topic))]


def unsubscribed(live: Live) -> bool:
    return live.scalar(sa.select(LEADS.c.unsubscribed_at).where(LEADS.c.email == ANN)) is not None


def checked(page: str) -> dict[str, bool]:
    return {name: " checked" in attrs
            for attrs, name in ((m.group(0), m.group(1)) for m in re.finditer(r'<input type="checkbox" name="topic" '
                                                                                r'value="(\w+)"[^>]*>', page))}


# ----- the preference page ---------------------------------------------------------------------


def test_the_page_shows_each_topic_with_its_state_and_changes_nothing(start) -> None:
    live, inbox = start()
    url = inbox.preferences(SUBJECTS["product"])
    assert url.startswith(f"{live.base}/p/")
    for _ in range(2):  # a link scanner's prefetch, then the reader
        response = live.anonymous.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert checked(response.text) == {"product": True, "events": True}
    assert "Product news" in response.text and "Events and webinars" in response.text
    assert "Unsubscribe from everything" in response.text
    assert left(live) == [] and not unsubscribed(live)


def test_saving_leaves_the_unticked_topics_and_shows_the_result(start, capture: CaptureServer) -> None:
    live, inbox = start()
    url = inbox.preferences(SUBJECTS[None])  # any marketing email's link opens the same page
    response = live.anonymous.post(url, data={"topic": ["events"], "do": "save"})
    assert response.status_code == 200
    assert "You left Product news." in response.text
    assert checked(response.text) == {"product": False, "events": True}
    assert left(live) == ["product"] and not unsubscribed(live)
    assert live.count(SUPPRESSIONS) == 0

    # ticking it again puts the lead back in
    response = live.anonymous.post(url, data={"topic": ["events", "product"], "do": "save"})
    assert "You will receive Product news again." in response.text
    assert checked(response.text) == {"product": True, "events": True}
    assert left(live) == []

    # nothing ticked: every topic is left, but an email with no topic still comes
    live.anonymous.post(url, data={"do": "save"})
    assert left(live) == ["events", "product"] and not unsubscribed(live)


def test_leaving_everything_unsubscribes_as_the_link_does(start) -> None:
    live, inbox = start()
    response = live.anonymous.post(inbox.preferences(SUBJECTS["events"]), data={"do": "everything"})
    assert response.status_code == 200
    assert "You are unsubscribed from all marketing emails." in response.text
    assert unsubscribed(live)
    assert live.rows(sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)) == [
        (ANN, "unsubscribed via the preference page")]
    assert live.count(EVENTS, EVENTS.c.type == "email.unsubscribed") == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tampered_token_is_refused_and_changes_nothing(start, method: str) -> None:
    live, inbox = start()
    url = inbox.preferences(SUBJECTS["product"])
    body, _, mac = url.rpartition(".")
    tampered = [body + "." + ("A" if mac[0] != "A" else "B") + mac[1:],  # a forged signature
                url.replace("/p/", "/p/x"),  # a changed payload
                url.rsplit("/", 1)[0] + "/not-a-token"]
    unsubscribe_token = inbox.one_click(SUBJECTS["product"]).rsplit("/", 1)[1]
    tampered.append(f"{live.base}/p/{unsubscribe_token}")  # a genuine token, but for another use
    for bad in tampered:
        response = live.anonymous.request(method, bad, data={"do": "everything"} if method == "POST" else None)
        assert response.status_code == 404, bad
        assert "This link is not valid" in response.text and "Nothing was changed" in response.text
    assert left(live) == [] and not unsubscribed(live)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_expired_link_is_refused_and_changes_nothing(start, method: str) -> None:
    live, inbox = start()
    url = inbox.preferences(SUBJECTS["product"])
    live.clock.advance(dt.timedelta(days=364))
    assert live.anonymous.get(url).status_code == 200  # still good just before its year is up
    live.clock.advance(dt.timedelta(days=1, seconds=1))
    response = live.anonymous.request(method, url, data={"do": "everything"} if method == "POST" else None)
    assert response.status_code == 410
    assert "This link has expired" in response.text
    assert left(live) == [] and not unsubscribed(live)
    # the unsubscribe link never expires
    assert live.anonymous.post(inbox.one_click(SUBJECTS["product"])).status_code == 200
    assert unsubscribed(live)


# ----- one-click unsubscribe (RFC 8058) --------------------------------------------------------


def test_by_default_one_click_leaves_everything(start) -> None:
    live, inbox = start()  # the campaign does not say: everything
    with httpx.Client(timeout=30) as client:
        response = client.post(inbox.one_click(SUBJECTS["product"]), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert unsubscribed(live) and left(live) == []


def test_leaves_everything_is_the_same_when_written(start) -> None:
    live, inbox = start("everything")
    assert httpx.post(inbox.one_click(SUBJECTS["events"]), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert unsubscribed(live) and left(live) == []


def test_leaves_topic_makes_one_click_leave_that_emails_topic_only(start, capture: CaptureServer) -> None:
    live, inbox = start("topic")
    one_click = inbox.one_click(SUBJECTS["events"])
    page = live.anonymous.get(one_click)  # the link's confirm page names the topic and changes nothing
    assert page.status_code == 200 and "Stop Events and webinars emails" in page.text
    assert left(live) == []
    with httpx.Client(timeout=30) as client:
        response = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
        assert client.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # a retry
    assert response.status_code == 200 and "location" not in response.headers
    assert "You left Events and webinars" in response.text
    assert left(live) == ["events"] and not unsubscribed(live)
    # the answer links to the whole preference page, where the topic shows as left
    preferences = html.unescape(re.search(r'href="([^"]+/p/[^"]+)"', response.text).group(1))
    assert checked(live.anonymous.get(preferences).text) == {"product": True, "events": False}

    # an email with no topic has nothing narrower to leave: its one-click leaves everything
    assert httpx.post(inbox.one_click(SUBJECTS[None]), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert unsubscribed(live)


def test_postgres_store_path_of_the_preference_page(start, postgres_url: str) -> None:
    live, inbox = start("topic", postgres_url)
    url = inbox.preferences(SUBJECTS["product"])
    assert live.anonymous.post(url, data={"topic": ["product"], "do": "save"}).status_code == 200
    assert left(live) == ["events"]
    assert httpx.post(inbox.one_click(SUBJECTS["product"]), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert left(live) == ["events", "product"] and not unsubscribed(live)
    statuses = live.rows(sa.select(OUTBOX.c.template, OUTBOX.c.topic).order_by(OUTBOX.c.template))
    assert statuses == [("account_notice", None), ("event_invite", "events"), ("product_news", "product")]
