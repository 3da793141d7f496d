"""Message bytes: headers, both parts, CRLF, line lengths and the one-click unsubscribe headers."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import re
from email import policy

import pytest

from engine.delivery.message import build_message, message_id

SENT_AT = dt.datetime(2026, 3, 2, 14, 30, 5, tzinfo=dt.UTC)
UNSUBSCRIBE = "https://acme-analytics.example/u/" + "Zm9vYmFy" * 20 + "?sig=0123456789abcdef"
MAILTO = "mailto:unsubscribe+" + "a1b2" * 10 + "@acme-analytics.example"


def _build(**overrides) -> bytes:
    fields = {
        "sender_name": "Maya Chen",
        "sender_address": "maya@acme-analytics.example",
        "to": "dana.ruiz@northwind.example",
        "subject": "Welcome to Acme Analytics, Dana",
        "html": "<p>Hi Dana,</p><p><a href=\"https://acme-analytics.example/\">Start</a></p>",
        "text": "Hi Dana,\n\nStart: https://acme-analytics.example/\n",
        "message_id": message_id("enrollment-1/intro/v3", "maya@acme-analytics.example"),
        "date": SENT_AT,
        "reply_to": "hello@acme-analytics.example",
        "list_unsubscribe_url": UNSUBSCRIBE,
        "list_unsubscribe_mailto": MAILTO,
    }
    fields.update(overrides)
    return build_message(**fields)


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def _content(part: email.message.EmailMessage) -> str:
    """A part's decoded text; on the wire its line breaks are CRLF, as MIME's canonical form requires."""
    return part.get_content().replace("\r\n", "\n")


def test_message_id_is_deterministic_and_uses_the_sender_domain() -> None:
    first = message_id("enrollment-1/intro/v3", "maya@Acme-Analytics.example")
    assert first == message_id("enrollment-1/intro/v3", "maya@acme-analytics.example")
    assert first != message_id("enrollment-1/intro/v4", "maya@acme-analytics.example")
    assert re.fullmatch(r"<[0-9a-f]{32}@acme-analytics\.example>", first)


def test_every_header_is_set() -> None:
    msg = _parse(_build(headers={"X-Nurture-Key": "enrollment-1/intro/v3"}))
    assert msg["From"].addresses[0].display_name == "Maya Chen"
    assert msg["From"].addresses[0].addr_spec == "maya@acme-analytics.example"
    assert msg["To"] == "dana.ruiz@northwind.example"
    assert msg["Subject"] == "Welcome to Acme Analytics, Dana"
    assert msg["Date"] == "Mon, 02 Mar 2026 14:30:05 +0000"
    assert msg["Date"].datetime == SENT_AT
    assert msg["Message-ID"] == message_id("enrollment-1/intro/v3", "maya@acme-analytics.example")
    assert msg["Reply-To"] == "hello@acme-analytics.example"
    assert msg["MIME-Version"] == "1.0"
    assert msg["X-Nurture-Key"] == "enrollment-1/intro/v3"
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe"):
        assert len(msg.get_all(name)) == 1, name


def test_list_unsubscribe_headers_are_exact_and_never_encoded() -> None:
    data = _build()
    msg = _parse(data)
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <{MAILTO}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # mailbox providers read the raw header: no RFC 2047 encoded words, URIs unbroken
    raw = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?" not in raw.split("List-Unsubscribe:", 1)[1].split("\r\nList-Unsubscribe-Post", 1)[0]
    assert f"<{UNSUBSCRIBE}>" in raw and f"<{MAILTO}>" in raw


def test_mailto_may_be_given_without_its_scheme() -> None:
    msg = _parse(_build(list_unsubscribe_mailto="unsubscribe@acme-analytics.example"))
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@acme-analytics.example>"


def test_url_alone() -> None:
    msg = _parse(_build(list_unsubscribe_mailto=None))
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"


def test_sales_notification_has_no_list_headers_and_no_reply_to() -> None:
    msg = _parse(_build(list_unsubscribe_url=None, list_unsubscribe_mailto=None, reply_to=None))
    assert msg["List-Unsubscribe"] is None
    assert msg["List-Unsubscribe-Post"] is None
    assert msg["Reply-To"] is None


def test_multipart_alternative_text_first_then_html() -> None:
    msg = _parse(_build())
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert _content(parts[0]) == "Hi Dana,\n\nStart: https://acme-analytics.example/\n"
    assert '<a href="https://acme-analytics.example/">Start</a>' in _content(parts[1])
    assert msg.get_body(("html",)) is parts[1] and msg.get_body(("plain",)) is parts[0]


def test_crlf_only_and_lines_within_the_limit_for_a_5000_character_line() -> None:
    long_line = "x" * 5000
    html = f"<p>{'é' * 2500}{long_line}</p>"
    data = _build(html=html, text=long_line)
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.isascii()  # 7-bit clean: quoted-printable parts, encoded non-ASCII headers
    msg = _parse(data)
    assert _content(msg.get_body(("plain",))) == long_line + "\n"
    assert _content(msg.get_body(("html",))) == html + "\n"


def test_short_ascii_parts_go_unencoded_as_7bit() -> None:
    msg = _parse(_build(html='<p style="color:#1a56db">Hi =Dana=</p>', text="Hi =Dana=\n"))
    parts = list(msg.iter_parts())
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["7bit", "7bit"]
    assert _content(parts[0]) == "Hi =Dana=\n"
    assert _content(parts[1]) == '<p style="color:#1a56db">Hi =Dana=</p>\n'


def test_a_part_that_7bit_cannot_carry_is_quoted_printable() -> None:
    boundary = "--=_" + hashlib.sha256(
        message_id("enrollment-1/intro/v3", "maya@acme-analytics.example").encode()).hexdigest()[:24]
    for text in ["Grüße\n", "x" * 999 + "\n", f"{boundary}\n", f"before\n{boundary}--\nafter\n", "nul \x00 here\n",
                 "a trailing space \nsurvives\n", "and a tab\t\n", "the last line too \t "]:
        data = _build(text=text)
        assert data.isascii()
        msg = _parse(data)
        plain, html = msg.iter_parts()
        assert plain["Content-Transfer-Encoding"] == "quoted-printable", text[:20]
        assert html["Content-Transfer-Encoding"] == "7bit"
        assert _content(plain) == (text if text.endswith("\n") else text + "\n")
        assert not re.search(rb"[ \t]\r\n", data)  # no line of the message ends in white space
        assert len(list(msg.iter_parts())) == 2


def test_non_ascii_subject_and_display_names_round_trip() -> None:
    subject = "Grüße aus Köln — Ihr Dashboard wartet auf Sie, Zoë! 数据分析 " * 2
    data = _build(sender_name="Maya Chén, Acme «Analytics»", to='"Dörte Ø. Ruiz" <dorte@northwind.example>',
                  subject=subject.strip(), text="Grüße\n", html="<p>Grüße</p>")
    assert data.isascii()
    msg = _parse(data)
    assert msg["Subject"] == subject.strip()
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Maya Chén, Acme «Analytics»", "maya@acme-analytics.example")
    recipient = msg["To"].addresses[0]
    assert (recipient.display_name, recipient.addr_spec) == ("Dörte Ø. Ruiz", "dorte@northwind.example")
    assert _content(msg.get_body(("plain",))) == "Grüße\n"


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        _build(subject="Hello\r\nBcc: everyone@example.com")
    with pytest.raises(ValueError):
        _build(list_unsubscribe_url="https://acme-analytics.example/u/x>, <https://evil.example/")


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _build(date=dt.datetime(2026, 3, 2, 14, 30))


def test_date_in_another_zone_keeps_its_offset() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    msg = _parse(_build(date=SENT_AT.astimezone(berlin)))
    assert msg["Date"] == "Mon, 02 Mar 2026 15:30:05 +0100"
    assert msg["Date"].datetime == SENT_AT


def _subject_lines(data: bytes) -> list[bytes]:
    """The lines of the Subject header as written: its first line and the folded ones after it."""
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject: "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith((b" ", b"\t")))
    return lines[start:end]


@pytest.mark.parametrize("subject", [
    ("Your pricing questions, answered " * 28).strip(),  # ~950 characters of words
    "x" * 990,  # one word longer than a line may be
    ("Grüße " * 150).strip(),
    ("tab\there and a control \x07 character " * 20).strip(),
], ids=["words", "one-long-word", "non-ascii", "control-characters"])
def test_a_long_subject_is_folded_within_78_characters_a_line(subject: str) -> None:
    data = _build(subject=subject)
    assert len(_subject_lines(data)) > 1 and all(len(line) <= 78 for line in _subject_lines(data))
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.isascii()
    assert _parse(data)["Subject"] == subject


def test_a_subject_longer_than_a_thousand_characters_is_refused_as_our_fault() -> None:
    from engine.delivery.message import ComposeError

    _build(subject="y" * 1000)
    with pytest.raises(ComposeError, match=r"subject is 100,000 characters long; at most 1,000"):
        _build(subject="y" * 100_000)


@pytest.mark.parametrize("to", ["dana\x01@northwind.example", "da\x00na@northwind.example",
                                "dana\x7f@northwind.example", "josé@northwind.example"])
def test_an_address_the_message_cannot_carry_is_refused(to: str) -> None:
    from engine.delivery.message import ComposeError

    with pytest.raises(ComposeError, match="address"):
        _build(to=to)


def test_a_display_name_too_long_for_a_header_line_is_refused() -> None:
    from engine.delivery.message import ComposeError

    name = "Équipe Relations Clients d’Acme Analytics — Région Île-de-France"
    sender = _parse(_build(sender_name=name))["From"].addresses[0]
    assert sender.display_name == name
    with pytest.raises(ComposeError, match="display name .* too long"):
        _build(sender_name=name * 10)
