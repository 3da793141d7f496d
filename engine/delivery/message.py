"""Outbound message bytes: RFC 5322 multipart/alternative with RFC 8058 one-click unsubscribe headers.

Each part goes as 7bit when it can (ASCII with lines short enough, as rendered emails almost always are), else
as quoted-printable; either way the message is 7-bit clean.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import hashlib
import re
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

#: RFC 5322's hard limit on a line, CRLF excluded
MAX_LINE = 998
#: RFC 5322's recommended limit on a line: headers are folded to it
FOLD_AT = 78
#: the longest header value (a subject, a display name) a message may carry, in characters; a longer one is
#: a template's or a campaign's mistake, and servers refuse such headers
MAX_HEADER_CHARS = 1000

_URI_FORBIDDEN = re.compile(r"[\s<>\"]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: a bare ASCII address that needs no parsing: what almost every lead's address is
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


class ComposeError(ValueError):
    """A message that cannot be written as RFC 5322 bytes (an address or header it cannot carry): our side's
    fault or the data's, never the reader's mailbox."""


def message_id(key: str, sender_address: str) -> str:
    """A Message-ID that is the same every time for the same key: a resend is recognisably the same message."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender_address.rpartition("@")[2].strip().lower() or "localhost"
    return f"<{digest}@{domain.encode('idna').decode('ascii')}>"


def build_message(
    *,
    sender_name: str,
    sender_address: str,
    to: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    date: dt.datetime,
    reply_to: str | None = None,
    list_unsubscribe_url: str | None = None,
    list_unsubscribe_mailto: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The message as it goes over SMTP: text part first, then HTML (clients show the last one they can).

    Written out directly rather than through `email.message.EmailMessage`, whose header objects cost
    more than everything else in a send; the result parses back with the standard library.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the message date must be timezone-aware")
    fields: dict[str, tuple[str, str]] = {}  # lower-case name -> (name, encoded value)

    def put(name: str, value: str, raw: bool = False) -> None:
        if not raw and ("\r" in value or "\n" in value):
            raise ComposeError(f"header {name} must not contain a line break")
        fields[name.lower()] = (name, value if raw else _encode(name, value))

    put("From", _address(sender_name, sender_address), raw=True)
    put("To", _address("", to), raw=True)
    put("Subject", subject)
    put("Date", format_datetime(date))
    put("Message-ID", message_id)
    if reply_to:
        put("Reply-To", _address("", reply_to), raw=True)
    if list_unsubscribe_url:
        put("List-Unsubscribe", _list_unsubscribe(list_unsubscribe_url, list_unsubscribe_mailto), raw=True)
        put("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    for name, value in (headers or {}).items():
        put(name, value)  # a caller's header replaces ours rather than duplicating it
    # "=_" never occurs in quoted-printable bodies, and a part that holds the boundary is sent as quoted-printable
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:24]
    put("MIME-Version", "1.0")
    put("Content-Type", f'multipart/alternative; boundary="{boundary}"', raw=True)
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.values())
    parts = [_part("plain", text, boundary), _part("html", html, boundary)]
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + part for part in parts) + delimiter + b"--\r\n"
    return head.encode("ascii") + b"\r\n" + body


def _part(subtype: str, content: str, boundary: str) -> bytes:
    normalized = content.replace("\r\n", "\n").replace("\r", "\n")
    if not normalized.endswith("\n"):
        normalized += "\n"
    if _is_7bit(normalized, boundary):  # what almost every rendered part is: it goes as it is, unencoded
        encoding, encoded = "7bit", normalized.replace("\n", "\r\n").encode("ascii")
    else:  # quoted-printable keeps long HTML lines under the line limit and non-ASCII text 7-bit safe
        encoding = "quoted-printable"
        encoded = binascii.b2a_qp(normalized.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    # the line break before a boundary belongs to the boundary, so the content's own last one needs another
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode("ascii") + encoded + b"\r\n"


def _is_7bit(text: str, boundary: str) -> bool:
    """Whether ``text`` (lines ending in LF) may go as 7bit (RFC 2045): ASCII, no NUL, no line longer than
    RFC 5322 allows, nothing a reader could take for the boundary, and no line ending in a space or a tab:
    servers on the way may strip those, which changes the body under a DKIM signature with "simple" body
    canonicalisation; quoted-printable writes them as =20 and =09.

    Quoted-printable encoding cost a fifth of composing a message, for parts that need none of it.
    """
    return (text.isascii() and "\x00" not in text and boundary not in text and " \n" not in text
            and "\t\n" not in text and max(map(len, text.split("\n"))) <= MAX_LINE)


def _encode(name: str, value: str) -> str:
    """A header value folded to lines of at most 78 characters: as it is when it is short printable ASCII,
    else as RFC 2047 encoded words (which, unlike a long word, can always be split)."""
    if len(value) > MAX_HEADER_CHARS:
        raise ComposeError(f"the {name.lower()} is {len(value):,} characters long; at most "
                           f"{MAX_HEADER_CHARS:,} fit in an email header (shorten it in the template)")
    offset = len(name) + 2
    plain = value.isascii() and not _CONTROL.search(value)
    if plain and offset + len(value) <= FOLD_AT - 2:
        return value
    folded = Header(value, "us-ascii" if plain else "utf-8", maxlinelen=FOLD_AT - 2,
                    header_name=" " * (offset - 2)).encode(linesep="\r\n")
    if plain and _too_long(folded, offset):  # a word longer than a line: encoded words split anywhere
        folded = Header(value, "utf-8", maxlinelen=FOLD_AT - 2, header_name=" " * (offset - 2)).encode(linesep="\r\n")
    return folded


def _too_long(folded: str, offset: int) -> bool:
    first, *rest = folded.split("\r\n")
    return offset + len(first) > FOLD_AT or any(len(line) > FOLD_AT for line in rest)


def _address(name: str, value: str) -> str:
    """``value`` (``addr`` or ``Name <addr>``) as a header mailbox; ``name`` overrides the display name."""
    if not name and _PLAIN_ADDRESS.fullmatch(value):
        return value
    return _mailbox(name, value)


@functools.lru_cache(maxsize=256)  # the sender's mailbox, the same for every message
def _mailbox(name: str, value: str) -> str:
    if any(c in value + name for c in "\r\n"):
        raise ComposeError("an address must not contain a line break")
    if _CONTROL.search(value):
        raise ComposeError(f"the address {value!r} contains a control character; no message can carry it")
    parsed, address = parseaddr(value)
    name = name or parsed
    if "@" not in address or any(c in address for c in "<>, "):
        raise ComposeError(f"{value!r} is not an email address")
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        try:
            address = f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError as err:
            raise ComposeError(f"the domain of {value!r} is not a valid domain name: {err}") from None
    if not local.isascii():
        raise ComposeError(f"the address {address!r} is not ASCII; this message format cannot carry it")
    if not name:
        return address
    mailbox = formataddr((name, address), charset="utf-8")
    if len(mailbox) > MAX_LINE - len("Reply-To: "):  # one encoded word: it is not folded, so it must fit a line
        raise ComposeError(f"the display name {name[:40]!r}... is too long for an email header; shorten it")
    return mailbox


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    """``<https://…>, <mailto:…>``, folded between the two so neither URI is split or encoded."""
    uris = [url] + ([mailto if mailto.startswith("mailto:") else f"mailto:{mailto}"] if mailto else [])
    for uri in uris:
        if _URI_FORBIDDEN.search(uri):
            raise ComposeError(f"unsubscribe URI {uri!r} contains whitespace, quotes or angle brackets")
    value = ",\r\n ".join(f"<{uri}>" for uri in uris)
    if any(len(line) > MAX_LINE - len("List-Unsubscribe: ") for line in value.splitlines()):
        raise ComposeError(f"unsubscribe URI is longer than a header line may be ({MAX_LINE} characters)")
    return value
