"""A local SMTP server that keeps what the daemon sends, for the demo (and the tests): aiosmtpd on loopback.

aiosmtpd is the `demo` extra, not a runtime dependency: a daemon in production sends, it never receives.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable
from email.parser import BytesHeaderParser
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller


class LocalController(Controller):
    """aiosmtpd's threaded Controller that also accepts port 0 and reports the port it got."""

    def _create_server(self) -> Awaitable[Any]:
        async def create() -> Any:
            server = cast(asyncio.Server, await Controller._create_server(self))
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class CaptureServer:
    """An SMTP server on 127.0.0.1 that keeps every message it receives, in memory and optionally as .eml files."""

    def __init__(self, directory: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._messages: list[tuple[str, list[str], bytes]] = []
        self._numbered = 0
        self._controller: LocalController | None = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the capture server is not running")
        return int(self._controller.port)

    @property
    def messages(self) -> list[tuple[str, list[str], bytes]]:
        """(mail_from, rcpt_tos, data) of every message received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def start(self) -> CaptureServer:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # continue the numbering of an earlier run instead of overwriting its files
            self._numbered = len(list(self.directory.glob("*.eml")))
        self._controller = LocalController(self, hostname=self._host, port=self._port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        data = bytes(envelope.original_content or envelope.content)
        with self._lock:
            self._messages.append((envelope.mail_from, list(envelope.rcpt_tos), data))
            self._numbered += 1
            number = self._numbered
        if self.directory is not None:
            self._write(number, data)
        return "250 Message accepted"

    def _write(self, number: int, data: bytes) -> None:
        """Written whole under a temporary name and then renamed, so a reader never sees half a message."""
        assert self.directory is not None
        header = BytesHeaderParser().parsebytes(data).get("Message-ID", "") or "no-id"
        safe = re.sub(r"[^A-Za-z0-9._@-]", "", header)[:80] or "no-id"
        final = self.directory / f"{number}-{safe}.eml"
        partial = final.with_suffix(".eml.part")
        partial.write_bytes(data)
        partial.replace(final)
