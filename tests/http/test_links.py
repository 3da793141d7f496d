"""Links in a real email: the daemon renders and sends one over SMTP, the test follows its links."""

from __future__ import annotations

import base64
import datetime as dt
import email
import html
import re
from email import policy
from email.message import EmailMessage

import httpx
import orjson
import pytest
import sqlalchemy as sa

from engine.delivery.tokens import sign
from engine.lab.capture import CaptureServer
from engine.store.tables import EVENTS, LEADS, OUTBOX, SUPPRESSIONS

from .live import Live, event, tick

ANN = "ann@acme.example"


class Mail:
    """The parts of a delivered message a reader's client acts on."""

    def __init__(self, data: bytes) -> None:
        self.message: EmailMessage = email.message_from_bytes(data, policy=policy.default)  # type: ignore[assignment]
        body = self.message.get_body(("html",))
        assert body is not None
        self.html = body.get_content()
        self.links = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)"', self.html)]
        self.pixel = html.unescape(re.search(r'<img src="([^"]+/t/o/[^"]+)"', self.html).group(1))

    @property
    def one_click(self) -> str:
        """The https URI of List-Unsubscribe (RFC 2369), as a mail client reads it."""
        header = str(self.message["List-Unsubscribe"])
        return next(u for u in re.findall(r"<([^>]+)>", header) if u.startswith("http"))

    def click_link(self, target_prefix: str) -> str:
        for link in self.links:
            payload = orjson.loads(base64.urlsafe_b64decode(_path_token(link).split(".")[0] + "=="))
            if payload.get("u", "").startswith(target_prefix):
                return link
        raise AssertionError(f"no tracked link to {target_prefix}")


def _path_token(url: str) -> str:
    return httpx.URL(url).path.rsplit("/", 1)[-1]


@pytest.fixture
def mail(live: Live, capture: CaptureServer) -> Mail:
    """Ann subscribes to the newsletter; the journey's first email reaches her inbox."""
    response = live.client.post("/v1/events", json=event(ANN, "newsletter.subscribed", live.clock.now()))
    assert response.status_code == 200
    tick(live, capture)
    assert len(capture.messages) == 1
    return Mail(capture.messages[0][2])


def events_of(live: Live, etype: str) -> list:
    return live.rows(sa.select(EVENTS.c.props, EVENTS.c.at).where(EVENTS.c.type == etype).order_by(EVENTS.c.id))


def unsubscribed_at(live: Live):
    return live.scalar(sa.select(LEADS.c.unsubscribed_at).where(LEADS.c.email == ANN))


# ----- the message carries the links -----------------------------------------------------------


def test_the_email_carries_one_click_unsubscribe_and_signed_links(live: Live, mail: Mail) -> None:
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.one_click.startswith(f"{live.base}/u/")
    assert mail.one_click in mail.links  # the visible link is the same one
    assert any(link.startswith(f"{live.base}/t/c/") for link in mail.links)
    assert mail.pixel.startswith(f"{live.base}/t/o/")


# ----- opens and clicks ------------------------------------------------------------------------


def test_the_open_pixel_is_a_gif_and_records_one_open_a_minute(live: Live, mail: Mail) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15"}
    response = live.anonymous.get(mail.pixel, headers=browser)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) < 100
    assert "no-store" in response.headers["cache-control"] and response.headers["pragma"] == "no-cache"
    live.anonymous.get(mail.pixel, headers=browser)  # the client loads it again at once
    opens = events_of(live, "email.opened")
    assert [props for props, _ in opens] == [{"template": "http_hello", "prefetched": False}]
    live.clock.advance(dt.timedelta(minutes=2))
    live.anonymous.get(mail.pixel, headers={"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"})
    assert [props["prefetched"] for props, _ in events_of(live, "email.opened")] == [False, True]


def test_a_click_is_recorded_and_redirected_to_the_sealed_url(live: Live, mail: Mail) -> None:
    link = mail.click_link("https://test.example/pricing")
    response = live.anonymous.get(link, headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://test.example/pricing?plan=team"
    assert [p for p, _ in events_of(live, "email.clicked")] == [
        {"template": "http_hello", "url": "https://test.example/pricing?plan=team"}]
    live.anonymous.get(link)  # a double click within the minute is one click
    assert len(events_of(live, "email.clicked")) == 1


def test_a_link_scanner_is_redirected_but_its_click_is_not_interest(live: Live, mail: Mail) -> None:
    link = mail.click_link("https://test.example/pricing")
    response = live.anonymous.get(link, headers={"User-Agent": "Mozilla/5.0 Mimecast URL protect"})
    assert response.status_code == 302
    assert events_of(live, "email.clicked") == []


def _tampered(token: str) -> list[str]:
    body, _, mac = token.partition(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=="))
    evil = base64.urlsafe_b64encode(orjson.dumps({**payload, "u": "https://evil.example/"})).rstrip(b"=").decode()
    return [
        f"{evil}.{mac}",  # another target under the old signature
        sign({**payload, "u": "https://evil.example/"}, "another-key"),  # signed with a foreign key
        token[:-3],  # truncated
        token + "x",
        "not-a-token",
        "a.b",
        "%00",
        sign({**payload, "k": "o"}, "http-test-secret"),  # a genuine pixel token is no redirect
    ]


def test_a_tampered_or_foreign_click_token_is_404_never_a_redirect(live: Live, mail: Mail) -> None:
    token = _path_token(mail.click_link("https://test.example/pricing"))
    for bad in _tampered(token):
        response = live.anonymous.get(f"/t/c/{bad}")
        assert response.status_code == 404, bad
        assert "location" not in response.headers
    assert events_of(live, "email.clicked") == []


@pytest.mark.parametrize("target", ["javascript:alert(1)", "//evil.example/", "data:text/html,hi", "ftp://x.example/",
                                    "https:///nohost", "https://evil.example/\r\nSet-Cookie: a=b", 42])
def test_even_a_genuine_token_never_redirects_off_http(live: Live, target) -> None:
    token = sign({"l": 1, "m": "x", "k": "c", "u": target}, "http-test-secret")
    response = live.anonymous.get(f"/t/c/{token}")
    assert response.status_code == 404
    assert "location" not in response.headers


def test_a_tampered_pixel_token_records_nothing(live: Live, mail: Mail) -> None:
    for bad in _tampered(_path_token(mail.pixel))[:-1]:
        assert live.anonymous.get(f"/t/o/{bad}").status_code == 404
    assert events_of(live, "email.opened") == []


# ----- unsubscribe -----------------------------------------------------------------------------


def test_the_unsubscribe_page_asks_and_does_not_unsubscribe(live: Live, mail: Mail) -> None:
    response = live.anonymous.get(mail.one_click)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"Unsubscribe <strong>{ANN}</strong> from Test Co emails?" in response.text
    assert '<form method="post"' in response.text and "<button" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert unsubscribed_at(live) is None
    assert live.count(SUPPRESSIONS) == 0


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribes_at_once_and_a_later_email_is_suppressed(
        live: Live, mail: Mail, capture: CaptureServer, encoding: str) -> None:
    with httpx.Client(timeout=30) as client:  # no cookies, no auth, nothing but the link
        if encoding == "urlencoded":
            response = client.post(mail.one_click, data={"List-Unsubscribe": "One-Click"})
            assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
        else:
            response = client.post(mail.one_click, files={"List-Unsubscribe": (None, "One-Click")})
            assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "You are unsubscribed" in response.text and "Subscribe again" in response.text
    assert unsubscribed_at(live) == live.clock.now()
    assert live.rows(sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)) == [
        (ANN, "unsubscribed via the link in an email")]
    assert len(events_of(live, "email.unsubscribed")) == 1
    # a second one-click (the client retries) changes nothing
    assert httpx.post(mail.one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(events_of(live, "email.unsubscribed")) == 1

    live.clock.advance(dt.timedelta(days=1, minutes=1))  # the journey's second email falls due
    tick(live, capture)
    assert len(capture.messages) == 1
    statuses = live.rows(sa.select(OUTBOX.c.template, OUTBOX.c.status).order_by(OUTBOX.c.id))
    assert statuses == [("http_hello", "sent"), ("http_again", "suppressed")]


def test_resubscribe_undoes_an_unsubscribe(live: Live, mail: Mail, capture: CaptureServer) -> None:
    page = httpx.post(mail.one_click, data={"List-Unsubscribe": "One-Click"})
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    target = page.url.join(html.unescape(action))
    assert target.path.endswith("/resubscribe")
    again = httpx.post(target)
    assert again.status_code == 200 and "Welcome back" in again.text
    assert unsubscribed_at(live) is None
    assert live.count(SUPPRESSIONS) == 0
    # the page's own unsubscribe button points back at the link
    back = re.search(r'<form method="post" action="([^"]+)"', again.text).group(1)
    assert again.url.join(html.unescape(back)) == httpx.URL(mail.one_click)
    live.clock.advance(dt.timedelta(days=1, minutes=1))
    tick(live, capture)
    assert len(capture.messages) == 2


def test_resubscribe_leaves_a_bounce_suppressed(live: Live, mail: Mail) -> None:
    httpx.post(mail.one_click)
    with live.nurture.store.engine.begin() as conn:
        conn.execute(SUPPRESSIONS.update().values(reason="bounced: 550 no such user"))
    httpx.post(mail.one_click + "/resubscribe")
    assert unsubscribed_at(live) is None
    assert live.count(SUPPRESSIONS) == 1


def test_a_bad_unsubscribe_token_is_a_404_page(live: Live, mail: Mail) -> None:
    for bad in _tampered(_path_token(mail.one_click)):
        for response in (live.anonymous.get(f"/u/{bad}"), live.anonymous.post(f"/u/{bad}"),
                         live.anonymous.post(f"/u/{bad}/resubscribe")):
            assert response.status_code == 404
            assert "This link is not valid" in response.text
    assert unsubscribed_at(live) is None


def test_tokens_never_reach_the_log(live: Live, mail: Mail, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="nurture.http")
    live.anonymous.get(mail.pixel)
    live.anonymous.get(mail.click_link("https://test.example/"))
    live.anonymous.get(mail.one_click)
    httpx.post(mail.one_click)
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "/u/[token]" in logged and "/t/o/[token]" in logged and "/t/c/[token]" in logged
    for url in (mail.pixel, mail.one_click, *mail.links):
        assert _path_token(url) not in logged


@pytest.mark.parametrize("sender, shown", [("Maya Chen at Acme Analytics", "Acme Analytics"), ("Test Co", "Test Co"),
                                           ("", "these")])
def test_the_page_names_the_sender_as_readers_know_it(sender: str, shown: str) -> None:
    from engine.http.pages import brand

    assert brand(sender) == shown
