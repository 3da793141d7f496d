"""A small language-server client: `nurture lsp` as a real subprocess, spoken to in framed JSON-RPC over stdio.

A reader thread parses every message the server writes; requests wait for the answer with their id, and the
latest diagnostics published for each file are kept, as an editor keeps them. Waits end on a message, never on
a clock; the timeout only stops a test that would otherwise hang.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120.0


class ServerClosed(Exception):
    pass


def uri(path: Path) -> str:
    return path.resolve().as_uri()


class LspClient:
    def __init__(self, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        # a file, so a chatty server never blocks on a full pipe; closed with the client
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", "lsp"], cwd=cwd, env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors)
        self._next_id = 0
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        #: the latest diagnostics published for each file, by URI
        self.published: dict[str, dict[str, Any]] = {}
        self._reader = threading.Thread(target=self._read_all, daemon=True)
        self._reader.start()

    # --- framing -------------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def _read_all(self) -> None:
        assert self.process.stdout is not None
        while True:
            message = _read_message(self.process.stdout)
            if message is None:
                self.notifications.put({"method": "<closed>"})
                with self._lock:
                    for waiting in self._answers.values():
                        waiting.put({"error": {"message": "<closed>"}})
                return
            if "id" in message and "method" not in message:
                with self._lock:
                    self._answers.setdefault(message["id"], queue.Queue()).put(message)
            elif "id" in message:  # a request from the server (capabilities, configuration): answer it
                self._send({"id": message["id"], "result": None})
            else:
                self.notifications.put(message)

    # --- requests and notifications ------------------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        """Send a request and wait for its answer; the answer's error is raised."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            waiting = self._answers.setdefault(ident, queue.Queue())
        self._send({"id": ident, "method": method, "params": params})
        answer = waiting.get(timeout=TIMEOUT)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def _next(self) -> dict[str, Any]:
        message = self.notifications.get(timeout=TIMEOUT)
        if message["method"] == "<closed>":
            raise ServerClosed(self.stderr())
        if message["method"] == "textDocument/publishDiagnostics":
            self.published[message["params"]["uri"]] = message["params"]
        return message

    def diagnostics(self, path: Path, version: int | None = None,
                    holds: Callable[[list[dict[str, Any]]], bool] = lambda found: True) -> list[dict[str, Any]]:
        """The diagnostics published for ``path`` once the latest publication is for ``version`` of its text
        (when given) and ``holds``; each publication replaces the one before, as for an editor."""
        wanted = uri(path)

        def done() -> bool:
            latest = self.published.get(wanted)
            return latest is not None and (version is None or latest.get("version") == version) and holds(
                latest["diagnostics"])

        while not done():
            self._next()
        return self.published[wanted]["diagnostics"]

    # --- the usual conversation ----------------------------------------------------------------------------

    def initialize(self, root: Path) -> dict[str, Any]:
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": uri(root),
                                             "capabilities": {}, "workspaceFolders": None})
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None, version: int = 1) -> None:
        text = path.read_text(encoding="utf-8") if text is None else text
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri(path), "languageId": "nurture",
                                                              "version": version, "text": text}})

    def change(self, path: Path, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": version},
                                               "contentChanges": [{"text": text}]})

    def edit(self, path: Path, start: tuple[int, int], end: tuple[int, int], text: str, version: int) -> None:
        """An incremental change, as editors send them: ``text`` replaces the range (line, UTF-16 unit)."""
        span = {"start": {"line": start[0], "character": start[1]}, "end": {"line": end[0], "character": end[1]}}
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri(path), "version": version},
                                               "contentChanges": [{"range": span, "text": text}]})

    def at(self, method: str, path: Path, line: int, character: int, **extra: Any) -> Any:
        return self.request(method, {"textDocument": {"uri": uri(path)},
                                     "position": {"line": line, "character": character}, **extra})

    def close(self) -> int:
        """Shut the server down as an editor does; its exit code."""
        if self.process.poll() is None:
            try:
                self.request("shutdown", None)
                self.notify("exit", None)
            except (RuntimeError, OSError):
                pass
            try:
                return self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def stderr(self) -> str:
        self._errors.seek(0)
        return self._errors.read().decode("utf-8", "replace")


def _read_message(stream: IO[bytes]) -> dict[str, Any] | None:
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length is None:
        return None
    body = stream.read(length)
    return json.loads(body) if len(body) == length else None


def position_of(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """The 0-based line and character of ``needle``'s first occurrence in ``text`` (plus ``offset``)."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)
