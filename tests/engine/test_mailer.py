"""SMTP delivery against real aiosmtpd servers on 127.0.0.1: outcomes, pooling, limits, TLS, AUTH, capture."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import random
import socket
import ssl
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.config import Config
from engine.daemon.build import smtp_transport
from engine.delivery.message import build_message, message_id
from engine.delivery.retry import MAX_ATTEMPTS, MAX_DELAY, retry_delay
from engine.delivery.smtp import SmtpMailer
from engine.delivery.transport import Message, SendResult
from engine.errors import ConfigError
from engine.lab.capture import CaptureServer, LocalController

T = TypeVar("T")
SENDER = "maya@acme-analytics.example"
LEAD = "dana.ruiz@northwind.example"


def _message(n: int = 1, to: str = LEAD) -> bytes:
    return build_message(
        sender_name="Maya Chen", sender_address=SENDER, to=to, subject=f"Message {n}",
        html=f"<p>Hello {n}</p>", text=f"Hello {n}\n", message_id=message_id(f"key-{n}", SENDER),
        date=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC),
        list_unsubscribe_url="https://acme-analytics.example/u/token",
    )


def _send(mailer: SmtpMailer, recipients: list[str], data: bytes) -> Coroutine[Any, Any, SendResult]:
    return mailer.send(Message("marketing", "key", SENDER, tuple(recipients), data))


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any
    tls: bool
    login: bytes | None


@dataclass
class Handler:
    """A scriptable server: what to answer at MAIL, RCPT and DATA, and what it saw."""

    mail_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 2.0.0 Queued as 4F2A"
    data_delay: float = 0.0
    drop_on_data: bool = False
    close_reused_at_mail: bool = False
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    transactions: dict[Any, int] = field(default_factory=dict)
    mechanisms: list[str] = field(default_factory=list)

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        count = self.transactions.get(session.peer, 0)
        self.transactions[session.peer] = count + 1
        if self.close_reused_at_mail and count >= 1:
            return "421 4.4.2 Idle connection closed"
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.drop_on_data:
            server.transport.abort()  # the connection dies before the final reply
            return "250 never seen"
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.data_delay)
        finally:
            self.in_flight -= 1
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if session.authenticated else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      session.peer, tls, login))
        return self.data_reply

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"nurture", b"s3cret-pw")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def connections(self) -> int:
        return len({r.peer for r in self.received})


@contextmanager
def smtp_server(handler: Handler, **options: Any) -> Iterator[LocalController]:
    controller = LocalController(handler, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _send_one(port: int, recipients: list[str] | None = None, data: bytes | None = None,
              **options: Any) -> SendResult:
    """One message through a fresh mailer, closed afterwards."""
    async def send() -> SendResult:
        async with SmtpMailer("127.0.0.1", port, **options) as mailer:
            return await _send(mailer, recipients or [LEAD], data or _message())

    return _run(send())


async def _send_all(mailer: SmtpMailer, count: int, *, together: bool) -> list[SendResult]:
    async with mailer:
        if together:
            return await asyncio.gather(*(_send(mailer, [LEAD], _message(n)) for n in range(count)))
        return [await _send(mailer, [LEAD], _message(n)) for n in range(count)]


# ----- outcomes ---------------------------------------------------------------------------------------


def test_delivers_the_exact_bytes_with_the_envelope() -> None:
    handler = Handler()
    data = _message(0) + b".leading dot survives dot-stuffing\r\n"
    with smtp_server(handler) as server:
        result = _send_one(server.port, data=data)
    assert result == SendResult("sent", 250, "2.0.0 Queued as 4F2A")
    [got] = handler.received
    assert got.mail_from == SENDER and got.rcpt_tos == [LEAD]
    assert got.data == data
    assert email.message_from_bytes(got.data, policy=policy.default)["Subject"] == "Message 0"
    assert not got.tls and got.login is None


def test_reuses_connections_across_sends() -> None:
    handler = Handler()
    with smtp_server(handler) as server:
        results = _run(_send_all(SmtpMailer("127.0.0.1", server.port), 10, together=False))
    assert [r.status for r in results] == ["sent"] * 10
    assert len(handler.received) == 10
    assert handler.connections == 1


def test_concurrency_is_bounded_and_connections_pooled() -> None:
    handler = Handler(data_delay=0.15)
    with smtp_server(handler) as server:
        results = _run(_send_all(SmtpMailer("127.0.0.1", server.port, concurrency=3), 12, together=True))
    assert [r.status for r in results] == ["sent"] * 12
    assert 1 < handler.most_in_flight <= 3
    assert handler.connections <= 3


@pytest.mark.parametrize("handler, code, text", [
    (Handler(mail_reply="421 4.3.2 Service shutting down, closing channel"), 421, "Service shutting down"),
    (Handler(rcpt_replies={LEAD: "451 4.7.1 Greylisted, please try again later"}), 451, "Greylisted"),
    (Handler(data_reply="452 4.3.1 Insufficient system storage"), 452, "Insufficient system storage"),
], ids=["421-at-mail", "451-at-rcpt", "452-at-data"])
def test_4xx_replies_are_temporary_with_the_servers_words(handler: Handler, code: int, text: str) -> None:
    with smtp_server(handler) as server:
        result = _send_one(server.port)
    assert (result.status, result.code) == ("temporary", code)
    assert text in result.reply


@pytest.mark.parametrize("handler, code, text", [
    (Handler(rcpt_replies={LEAD: "550 5.1.1 <dana.ruiz@northwind.example>: no such user"}), 550, "no such user"),
    (Handler(data_reply="554 5.7.1 Message rejected as spam"), 554, "rejected as spam"),
    (Handler(mail_reply="553 5.7.1 Sender address rejected"), 553, "Sender address rejected"),
], ids=["550-at-rcpt", "554-at-data", "553-at-mail"])
def test_5xx_replies_are_permanent_with_the_servers_words(handler: Handler, code: int, text: str) -> None:
    with smtp_server(handler) as server:
        result = _send_one(server.port)
    assert (result.status, result.code) == ("permanent", code)
    assert text in result.reply


def test_a_refused_message_does_not_spoil_the_connection_for_the_next() -> None:
    handler = Handler(rcpt_replies={"gone@northwind.example": "550 5.1.1 No such user"})

    async def scenario(port: int) -> list[SendResult]:
        async with SmtpMailer("127.0.0.1", port, concurrency=1) as mailer:
            first = await _send(mailer, ["gone@northwind.example"], _message(1))
            second = await _send(mailer, [LEAD], _message(2))
            return [first, second]

    with smtp_server(handler) as server:
        first, second = _run(scenario(server.port))
    assert first.status == "permanent" and second.status == "sent"
    assert [r.rcpt_tos for r in handler.received] == [[LEAD]]
    assert handler.transactions and len(handler.transactions) == 1, "RSET, then the same connection"


def test_partly_refused_recipients_still_deliver_and_say_who_was_refused() -> None:
    handler = Handler(rcpt_replies={"gone@northwind.example": "550 5.1.1 No such user"})
    with smtp_server(handler) as server:
        result = _send_one(server.port, [LEAD, "gone@northwind.example"])
    assert result.status == "sent"
    assert "gone@northwind.example: 550 5.1.1 No such user" in result.reply
    assert handler.received[0].rcpt_tos == [LEAD]


def test_a_connection_dropped_during_data_is_temporary() -> None:
    handler = Handler(drop_on_data=True)
    with smtp_server(handler) as server:
        result = _send_one(server.port)
    assert result.status == "temporary" and result.code is None
    assert result.reply


def test_a_server_that_does_not_answer_in_time_is_temporary() -> None:
    handler = Handler(data_delay=5)
    with smtp_server(handler) as server:
        result = _send_one(server.port, timeout=0.3)
    assert result.status == "temporary"
    assert "timed out" in result.reply.lower()


def test_nothing_listening_is_temporary() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _send_one(port, timeout=2)
    assert result.status == "temporary" and result.code is None
    assert f"cannot connect to 127.0.0.1:{port}" in result.reply


def test_a_connection_the_server_closed_while_idle_is_replaced_transparently() -> None:
    handler = Handler()

    async def scenario(port: int) -> list[SendResult]:
        async with SmtpMailer("127.0.0.1", port, concurrency=1) as mailer:
            first = await _send(mailer, [LEAD], _message(1))
            await asyncio.sleep(0.6)  # longer than the server's idle timeout
            second = await _send(mailer, [LEAD], _message(2))
            return [first, second]

    with smtp_server(handler, timeout=0.3) as server:
        results = _run(scenario(server.port))
    assert [r.status for r in results] == ["sent", "sent"]
    assert handler.connections == 2


def test_a_pooled_connection_answering_421_is_retried_on_a_fresh_one() -> None:
    handler = Handler(close_reused_at_mail=True)
    with smtp_server(handler) as server:
        results = _run(_send_all(SmtpMailer("127.0.0.1", server.port, concurrency=1), 3, together=False))
    assert [r.status for r in results] == ["sent"] * 3
    assert handler.connections == 3


def test_invalid_recipient_is_permanent_and_invalid_sender_is_a_configuration_error() -> None:
    mailer = SmtpMailer("127.0.0.1", 9)
    result = _run(_send(mailer, ["dana@example.com>\r\nRCPT TO:<x@evil.example"], _message()))
    assert result.status == "permanent"
    with pytest.raises(ValueError, match="sender address"):
        _run(mailer.send(Message("marketing", "k", "not an address", (LEAD,), _message())))


def test_non_ascii_address_uses_smtputf8() -> None:
    handler = Handler()
    with smtp_server(handler) as server:
        result = _send_one(server.port, ["zoë@northwind.example"])
    assert result.status == "sent"
    assert handler.received[0].rcpt_tos == ["zoë@northwind.example"]


# ----- rate limit -----------------------------------------------------------------------------------------


def test_rate_limit_spaces_sends() -> None:
    handler = Handler()
    count, rate = 6, 20.0
    with smtp_server(handler) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, concurrency=4, rate_per_second=rate)
        started = time.monotonic()
        results = _run(_send_all(mailer, count, together=True))
        elapsed = time.monotonic() - started
    assert [r.status for r in results] == ["sent"] * count
    assert elapsed >= (count - 1) / rate * 0.9  # a lower bound only: never a speed target


# ----- TLS and AUTH ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> Any:
    trustme = pytest.importorskip("trustme", reason="TLS tests need trustme: pip install -e '.[test]'")
    return trustme.CA()  # a throwaway certificate authority and a certificate for 127.0.0.1


@pytest.fixture(scope="module")
def server_tls(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: Any) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_starttls(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    handler = Handler()
    with smtp_server(handler, tls_context=server_tls, require_starttls=True) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, tls="starttls", tls_context=client_tls)
        results = _run(_send_all(mailer, 2, together=False))
    assert [r.status for r in results] == ["sent", "sent"]
    assert all(r.tls for r in handler.received) and handler.connections == 1


def test_plain_mode_does_not_upgrade_and_a_starttls_only_server_refuses_it(server_tls: ssl.SSLContext) -> None:
    handler = Handler()
    with smtp_server(handler, tls_context=server_tls, require_starttls=True) as server:
        result = _send_one(server.port, tls="none")
    assert result.status != "sent" and "STARTTLS" in result.reply  # the server's "must issue STARTTLS first"
    assert handler.received == []


def test_implicit_tls(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    handler = Handler()
    with smtp_server(handler, ssl_context=server_tls) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, tls="tls", tls_context=client_tls)
        result = _run(_send_all(mailer, 1, together=False))[0]
    assert result.status == "sent"
    assert handler.received[0].tls


def test_an_untrusted_certificate_is_refused(server_tls: ssl.SSLContext) -> None:
    handler = Handler()
    with smtp_server(handler, ssl_context=server_tls) as server:
        result = _send_one(server.port, tls="tls", timeout=5)
    assert result.status == "temporary"
    assert "certificate" in result.reply.lower()
    assert handler.received == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_over_starttls(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext, mechanism: str) -> None:
    handler = Handler()
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    with smtp_server(handler, tls_context=server_tls, require_starttls=True, auth_required=True,
                     authenticator=handler.authenticate, auth_exclude_mechanism=[other]) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, tls="starttls", tls_context=client_tls,
                            username="nurture", password="s3cret-pw")
        results = _run(_send_all(mailer, 2, together=False))
    assert [r.status for r in results] == ["sent", "sent"]
    assert handler.mechanisms == [mechanism]  # logged in once: the connection was reused
    assert [r.login for r in handler.received] == [b"nurture", b"nurture"]


def test_failed_login_is_temporary_and_never_shows_the_password(server_tls: ssl.SSLContext,
                                                                 client_tls: ssl.SSLContext) -> None:
    handler = Handler()
    with smtp_server(handler, tls_context=server_tls, require_starttls=True, auth_required=True,
                     authenticator=handler.authenticate) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, tls="starttls", tls_context=client_tls,
                            username="nurture", password="wrong-pw")
        result = _run(_send(mailer, [LEAD], _message()))
    # the relay refusing our credentials says nothing about the lead's address, so it must not suppress it
    assert result.status == "temporary" and result.code == 535
    assert "SMTP login as nurture failed" in result.reply
    assert "wrong-pw" not in result.reply and "wrong-pw" not in repr(mailer)
    assert handler.received == []


# ----- retry policy ---------------------------------------------------------------------------------------


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, rng) for n in range(1, MAX_ATTEMPTS + 1)]
    for n, delay in enumerate(delays, start=1):
        base = min(60 * 2 ** (n - 1), MAX_DELAY)
        assert 0.8 * base <= delay <= 1.2 * base
    assert delays[1] > delays[0] * 1.3 and delays[3] > delays[2] * 1.3
    assert retry_delay(1000, rng) <= 1.2 * MAX_DELAY
    assert len({round(retry_delay(3, rng), 3) for _ in range(20)}) > 1  # jittered
    assert sum(delays[:-1]) > 24 * 3600, "a relay outage of a day must not become permanent failures"
    with pytest.raises(ValueError):
        retry_delay(0)


# ----- capture server ---------------------------------------------------------------------------------------


def test_capture_server_writes_eml_files_that_parse_back(tmp_path: Path) -> None:
    outbox = tmp_path / "demo-outbox"

    async def send(port: int) -> list[SendResult]:
        async with SmtpMailer("127.0.0.1", port) as mailer:
            return [await _send(mailer, [LEAD], _message(n)) for n in (1, 2)]

    with CaptureServer(outbox) as capture:
        results = _run(send(capture.port))
        messages = capture.messages
    assert [r.status for r in results] == ["sent", "sent"]
    assert [(m[0], m[1]) for m in messages] == [(SENDER, [LEAD])] * 2
    files = sorted(outbox.glob("*.eml"))
    assert [f.name.split("-", 1)[0] for f in files] == ["1", "2"]
    for n, path in enumerate(files, start=1):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["Subject"] == f"Message {n}"
        assert path.name == f"{n}-{msg['Message-ID'].strip('<>')}.eml"
        assert msg.get_body(("plain",)).get_content().strip() == f"Hello {n}"
    assert not list(outbox.glob("*.part"))

    with CaptureServer(outbox) as again:  # a second run continues the numbering
        _run(send(again.port))
    assert len(list(outbox.glob("3-*.eml"))) == 1 and len(list(outbox.glob("4-*.eml"))) == 1


def test_capture_server_in_memory() -> None:
    capture = CaptureServer().start()
    try:
        result = _send_one(capture.port)
        assert result.status == "sent"
        [(mail_from, rcpt_tos, data)] = capture.messages
        assert (mail_from, rcpt_tos) == (SENDER, [LEAD])
        assert email.message_from_bytes(data, policy=policy.default)["Subject"] == "Message 1"
    finally:
        capture.stop()
    with pytest.raises(RuntimeError):
        _ = capture.port


def test_settings_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="smtp_tls must be one of none, starttls, tls"):
        SmtpMailer("127.0.0.1", 25, tls="ssl")
    with pytest.raises(ValueError, match="concurrency"):
        SmtpMailer("127.0.0.1", 25, concurrency=0)
    with pytest.raises(ValueError, match="rate_per_second"):
        SmtpMailer("127.0.0.1", 25, rate_per_second=-1)


# ----- what a refusal says about the recipient -----------------------------------------------------------


@pytest.mark.parametrize("handler, about_recipient", [
    (Handler(rcpt_replies={LEAD: "550 5.1.1 <dana.ruiz@northwind.example>: user unknown"}), True),
    (Handler(rcpt_replies={LEAD: "552 5.2.2 Mailbox full"}), True),
    (Handler(rcpt_replies={LEAD: "550 No such user here"}), True),  # no enhanced code: a refused mailbox
    (Handler(rcpt_replies={LEAD: "550 5.7.1 Relaying denied"}), False),  # policy about us, not the reader
    (Handler(rcpt_replies={LEAD: "553 5.1.7 Bad sender address syntax"}), False),
    (Handler(data_reply="500 Line too long"), False),  # our message's fault
    (Handler(data_reply="554 5.7.1 Message rejected as spam"), False),
    (Handler(data_reply="552 5.2.3 Message size exceeds fixed limit"), False),
    (Handler(data_reply="550 5.1.1 Recipient address rejected: user unknown"), True),
    (Handler(mail_reply="553 5.1.8 Sender domain does not resolve"), False),
], ids=["5.1.1-at-rcpt", "5.2.2-at-rcpt", "550-at-rcpt", "5.7.1-at-rcpt", "5.1.7-at-rcpt", "500-at-data",
        "5.7.1-at-data", "5.2.3-at-data", "5.1.1-at-data", "5.1.8-at-mail"])
def test_only_refusals_about_the_recipient_count_against_the_address(handler: Handler, about_recipient: bool) -> None:
    with smtp_server(handler) as server:
        result = _send_one(server.port)
    assert result.status == "permanent"
    assert result.about_recipient is about_recipient


@pytest.mark.parametrize("recipient", ["dana\x01@northwind.example", "da\x00na@northwind.example",
                                       "dana\x7f@northwind.example"], ids=["soh", "nul", "del"])
def test_an_address_with_control_characters_fails_alone_and_the_connection_stays_usable(recipient: str) -> None:
    handler = Handler()

    async def scenario(port: int) -> list[SendResult]:
        async with SmtpMailer("127.0.0.1", port, concurrency=1) as mailer:
            first = await _send(mailer, [LEAD], _message(1))
            bad = await _send(mailer, [recipient], _message(2))
            after = await _send(mailer, [LEAD], _message(3))
            return [first, bad, after]

    with smtp_server(handler) as server:
        first, bad, after = _run(scenario(server.port))
    assert (first.status, after.status) == ("sent", "sent")
    assert bad.status == "permanent" and "not a deliverable email address" in bad.reply
    assert not bad.about_recipient  # never reached the server: nothing is known about the reader
    assert len(handler.received) == 2


def test_smtp_ca_file_trusts_a_private_relays_certificate_authority(server_tls: ssl.SSLContext, ca: Any,
                                                                     tmp_path: Path) -> None:
    ca_file = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handler = Handler()
    with smtp_server(handler, tls_context=server_tls, require_starttls=True) as server:
        base = Config(smtp_host="127.0.0.1", smtp_port=server.port, smtp_tls="starttls")
        trusted = smtp_transport(dataclasses.replace(base, smtp_ca_file=str(ca_file)))
        assert [r.status for r in _run(_send_all(trusted, 1, together=False))] == ["sent"]
        untrusted = smtp_transport(base)  # the system's CAs do not know this relay
        [refused] = _run(_send_all(untrusted, 1, together=False))
        assert refused.status == "temporary" and "certificate" in refused.reply.lower()
    with pytest.raises(ConfigError, match="smtp_ca_file .* cannot be read as PEM certificates"):
        smtp_transport(dataclasses.replace(base, smtp_ca_file=str(tmp_path / "missing.pem")))
