"""SMTP delivery: a transport over pooled aiosmtplib connections that classifies every server answer."""

from __future__ import annotations

import asyncio
import os
import re
import ssl

import aiosmtplib

from engine.delivery.retry import smtp_status
from engine.delivery.transport import Message, SendResult

TLS_MODES = ("none", "starttls", "tls")


class _Stale(Exception):
    """A pooled connection failed before the server accepted anything; a fresh one may succeed."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reply)
        self.result = result


class _RateLimit:
    """A token bucket holding one token: sends start at least ``1 / per_second`` apart."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self._interval = 1.0 / per_second
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self._interval  # reserved before sleeping, so concurrent senders queue up in order
        if slot > now:
            await asyncio.sleep(slot - now)


class SmtpMailer:
    """Sends messages over a pool of up to ``concurrency`` reused SMTP connections; never raises for an outcome."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: str = "none",
        username: str | None = None,
        password: str | None = None,
        concurrency: int = 8,
        rate_per_second: float | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"smtp_tls must be one of {', '.join(TLS_MODES)}, got {tls!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.host, self.port, self.tls = host, port, tls
        self._username, self._password = username, password
        self._timeout = timeout
        self._tls_context = tls_context  # None: the system's trusted certificates
        self._local_hostname = local_hostname
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[aiosmtplib.SMTP] = []
        self._rate = _RateLimit(rate_per_second) if rate_per_second else None
        self._closed = False

    def __repr__(self) -> str:
        user = f" as {self._username}" if self._username else ""
        return f"SmtpMailer({self.host}:{self.port}, tls={self.tls}{user})"

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, message: Message) -> SendResult:
        """Deliver one message; the result says whether it was accepted, may be retried, or never will be."""
        return await self.send_envelope(message.sender, list(message.recipients), message.data)

    async def send_envelope(self, sender: str, recipients: list[str], data: bytes) -> SendResult:
        """Deliver ``data`` from ``sender`` to ``recipients`` (the SMTP envelope, which may differ from the headers)."""
        if self._closed:
            raise RuntimeError("the mailer is closed")
        if not recipients:
            raise ValueError("a message needs at least one recipient")
        _check_address(sender, "sender")
        for recipient in recipients:
            bad = _address_problem(recipient)
            if bad:
                return SendResult("permanent", None, bad)
        async with self._slots:
            if self._rate is not None:
                await self._rate.wait()
            return await self._deliver(sender, recipients, data)

    async def close(self) -> None:
        """Say QUIT on every idle connection; connections still in use are closed when their send ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(conn) for conn in idle))

    # ----- one delivery ------------------------------------------------------------------------------

    async def _deliver(self, sender: str, recipients: list[str], data: bytes) -> SendResult:
        pooled = self._pop_idle()
        if pooled is not None:
            try:
                return await self._transaction(pooled, sender, recipients, data)
            except _Stale:
                pass  # the server had closed the idle connection; fall through to a fresh one
        try:
            conn = await self._connect()
        except (aiosmtplib.SMTPException, OSError) as err:
            return SendResult("temporary", getattr(err, "code", None), _describe(err, self._connect_phase(err)))
        try:
            return await self._transaction(conn, sender, recipients, data)
        except _Stale as stale:
            return stale.result

    async def _transaction(self, conn: aiosmtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> SendResult:
        utf8 = not all(address.isascii() for address in [sender, *recipients])
        if utf8 and not conn.supports_extension("smtputf8"):
            self._release(conn)
            return SendResult("permanent", None, "the address is not ASCII and the SMTP server does not offer "
                                                 "SMTPUTF8 (RFC 6531), so it cannot be delivered through it", "rcpt")
        options, encoding = (["SMTPUTF8"], "utf-8") if utf8 else ([], "ascii")
        try:
            try:
                await conn.mail(sender, options=options, encoding=encoding)
            except aiosmtplib.SMTPServerDisconnected as err:
                conn.close()
                raise _Stale(SendResult("temporary", None, _describe(err, "connection lost"))) from err
            except aiosmtplib.SMTPSenderRefused as err:
                if err.code == 421:  # the server is closing this connection (idle timeout, shutdown)
                    conn.close()
                    raise _Stale(SendResult("temporary", 421, err.message)) from err
                return await self._failed(conn, err.code, err.message, "mail")
            refused: list[aiosmtplib.SMTPRecipientRefused] = []
            for recipient in recipients:
                try:
                    await conn.rcpt(recipient, encoding=encoding)
                except aiosmtplib.SMTPRecipientRefused as err:
                    refused.append(err)
            if len(refused) == len(recipients):
                worst = _worst(refused)
                return await self._failed(conn, worst.code, _refusals(refused), "rcpt")
            try:
                response = await conn.data(data)
            except aiosmtplib.SMTPDataError as err:
                return await self._failed(conn, err.code, err.message, "data")
        except (aiosmtplib.SMTPException, OSError) as err:
            # timeouts, drops and odd replies mid-transaction: nothing was accepted, the connection is unusable
            conn.close()
            return SendResult("temporary", getattr(err, "code", None), _describe(err, "delivery interrupted"))
        except asyncio.CancelledError:
            conn.close()  # shutting down mid-transaction: the connection's state is unknown
            raise
        except _Stale:
            raise
        except Exception as err:  # anything else is about this message alone (the client refused what it got)
            conn.close()
            return SendResult("permanent", None, f"could not be sent: {type(err).__name__}: {err}")
        self._release(conn)
        reply = response.message + (f" (refused: {_refusals(refused, named=True)})" if refused else "")
        return SendResult("sent", response.code, reply)

    async def _failed(self, conn: aiosmtplib.SMTP, code: int, reply: str, stage: str) -> SendResult:
        """A refused transaction: reset the connection for the next message (421 means it is closing)."""
        if code == 421:
            conn.close()
        else:
            try:
                await conn.rset()
                self._release(conn)
            except (aiosmtplib.SMTPException, OSError):
                conn.close()
        return SendResult(smtp_status(code), code, reply, stage)

    # ----- the pool ----------------------------------------------------------------------------------

    def _pop_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.is_connected:
                return conn
        return None

    def _release(self, conn: aiosmtplib.SMTP) -> None:
        if self._closed:
            conn.close()
        elif conn.is_connected:
            self._idle.append(conn)

    async def _connect(self) -> aiosmtplib.SMTP:
        conn = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self._timeout,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",  # never opportunistic: "none" means plain
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        await conn.connect()
        try:
            if self._username:
                await conn.login(self._username, self._password or "")
            if conn.is_ehlo_or_helo_needed:  # the extensions (SMTPUTF8) must be known before MAIL
                try:
                    await conn.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await conn.helo()
        except aiosmtplib.SMTPResponseException:
            await self._quit(conn)  # the server answered, so the connection is sound: leave politely
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_phase(self, err: BaseException) -> str:
        if isinstance(err, aiosmtplib.SMTPAuthenticationError):
            return f"SMTP login as {self._username} failed"
        return f"cannot connect to {self.host}:{self.port}"

    async def _quit(self, conn: aiosmtplib.SMTP) -> None:
        try:
            if conn.is_connected:
                await asyncio.wait_for(conn.quit(), self._timeout)
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            pass
        finally:
            conn.close()


def _describe(err: BaseException, context: str) -> str:
    cause = err.__cause__
    tls_error = next((e for e in (err, cause) if isinstance(e, ssl.SSLError)), None)
    if tls_error is not None:
        detail = getattr(tls_error, "verify_message", None)
        message = f"TLS failed: {tls_error.reason or tls_error}" + (f" ({detail})" if detail else "")
    elif isinstance(err, aiosmtplib.SMTPConnectError) and isinstance(cause, OSError) and cause.errno:
        message = os.strerror(cause.errno)  # "Connection refused" rather than the library's wrapping
    else:
        message = getattr(err, "message", None) or str(err) or type(err).__name__
    return f"{context}: {message}"


def _worst(refusals: list[aiosmtplib.SMTPRecipientRefused]) -> aiosmtplib.SMTPRecipientRefused:
    """The refusal that decides the outcome: any temporary one means the whole message may be retried."""
    temporary = [r for r in refusals if smtp_status(r.code) == "temporary"]
    return (temporary or refusals)[0]


def _refusals(refusals: list[aiosmtplib.SMTPRecipientRefused], *, named: bool = False) -> str:
    """The server's words; with several recipients, each one's."""
    if len(refusals) == 1 and not named:
        return refusals[0].message
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refusals)


_FORBIDDEN = re.compile(r"[\s<>\"]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _address_problem(address: str) -> str | None:
    if not address or _FORBIDDEN.search(address) or "@" not in address:
        return f"{address!r} is not a deliverable email address"
    if _CONTROL.search(address):
        return f"{address!r} is not a deliverable email address: it contains a control character"
    return None


def _check_address(address: str, role: str) -> None:
    if _address_problem(address):  # a configuration error, not a delivery outcome
        raise ValueError(f"the {role} address {address!r} is not a valid email address")
