"""`nurture demo` ends with the console's address and a sign-in; that sign-in works on `nurture serve`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import csrf_of

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_prints_a_console_sign_in_that_works(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = subprocess.run([sys.executable, "-m", "engine", "demo", "--days", "3", "--leads", "30", "--outbox",
                           str(tmp_path / "outbox"), "--database-url", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert demo.returncode == 0, demo.stderr
    command = re.search(r"^\s+NURTURE_DATABASE_URL=(\S+) \.venv/bin/nurture serve$", demo.stdout, re.M)
    address = re.search(r"open (http://127\.0\.0\.1:8000/) and sign in as", demo.stdout)
    user = re.search(r"email: (\S+)\n\s+password: (\S+)", demo.stdout)
    assert command and address and user, demo.stdout
    assert command.group(1) == url
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "NURTURE_DATABASE_URL": command.group(1)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "nurture serve did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
            token = csrf_of(client.get("/login").text)
            answer = client.post("/login", data={"email": user.group(1), "password": user.group(2), "csrf": token})
            assert answer.status_code == 200 and "Which lead source converts best?" in answer.text
            assert "admin" in client.get("/outbox").text
    finally:
        server.terminate()
        server.wait(timeout=30)
