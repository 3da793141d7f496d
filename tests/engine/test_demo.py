"""`nurture demo` as a new user runs it: the funnel, the steps, and .eml files with the right headers."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_funnel_and_leaves_eml_files(tmp_path):
    outbox = tmp_path / "outbox"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--days", "6", "--leads", "60", "--outbox", str(outbox),
         "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    for heading in ("Funnel", "Emails sent per journey step", "Sales notifications", ".eml files in"):
        assert heading in result.stdout
    files = sorted(outbox.glob("*.eml"))
    assert files, result.stdout
    marketing = [m for m in (email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files)
                 if m["List-Unsubscribe"]]
    assert marketing
    for message in marketing:
        for header in ("From", "To", "Subject", "Date", "Message-ID"):
            assert message[header]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith("<https://")
        assert message.get_content_type() == "multipart/alternative"
        assert {p.get_content_type() for p in message.iter_parts()} == {"text/plain", "text/html"}
    raw = files[0].read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line endings only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_demo_links_point_at_the_configured_base_url(tmp_path):
    outbox = tmp_path / "outbox"
    base = "http://127.0.0.1:8765"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--days", "3", "--leads", "30", "--outbox", str(outbox),
         "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "160", "NURTURE_BASE_URL": base})
    assert result.returncode == 0, result.stderr
    marketing = [m for m in (email.message_from_bytes(f.read_bytes(), policy=policy.default)
                             for f in sorted(outbox.glob("*.eml"))) if m["List-Unsubscribe"]]
    assert marketing
    for message in marketing:
        assert message["List-Unsubscribe"].startswith(f"<{base}/u/")
        html = message.get_body(("html",)).get_content()
        links = re.findall(r'(?:href|src)="(https?://[^"]+)"', html)
        ours = [link for link in links if "/t/" in link or "/u/" in link]
        assert ours and all(link.startswith(base + "/") for link in ours), links
        assert "nurture.acme-analytics.example" not in html
    assert f"Links in the emails point at {base}" in result.stdout
