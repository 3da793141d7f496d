"""Bounces written by a real Postfix, applied with `nurture feedback dsn` as a mail server would pipe them in.

A private Postfix on loopback (tests/engine/postfix.py) takes mail for example.com addresses and relays it to
an SMTP server that refuses them: one for good (550 5.1.1, user unknown), one for now (452 4.2.2, mailbox
full; Postfix tries once, so it returns that mail at once with a 4.2.2 status). Postfix writes its RFC 3464
reports and delivers them to the sender's domain, routed to a capture server; the test feeds what arrived
to the command line (piped into a process of its own, and from files), against a SQLite store that holds
the leads.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from engine.cli import app
from engine.config import Config
from engine.ingest.rows import Row
from engine.lab.capture import CaptureServer, LocalController
from engine.service import Nurture
from engine.store.tables import EVENTS, LEADS, SOFT_BOUNCES, SUPPRESSIONS

from .helpers import wait_for
from .postfix import Postfix, problem

ROOT = Path(__file__).resolve().parent.parent.parent
SENDER = "news@nurture.example"
ANN, BOB = "ann@example.com", "bob@example.com"


class Refusing:
    """An SMTP server's answers at RCPT: ann is unknown, bob's mailbox is full."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address == ANN:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        return f"452 4.2.2 <{address}>: Mailbox full"


@pytest.fixture
def mta() -> Iterator[tuple[Postfix, CaptureServer]]:
    """Postfix relaying example.com to the refusing server and returning bounces to the capture server."""
    missing = problem()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI=true requires the Postfix test to run)")
        pytest.skip(missing)
    refusing = LocalController(Refusing(), hostname="127.0.0.1", port=0)
    refusing.start()
    try:
        with CaptureServer() as capture:
            postfix = Postfix({"example.com": refusing.port, "nurture.example": capture.port})
            postfix.start()
            try:
                yield postfix, capture
            finally:
                postfix.stop()
    finally:
        refusing.stop()


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    nurture = Nurture(Config(database_url=sqlite_url, campaign_dir=ROOT / "journeys", template_dir=ROOT / "templates"))
    nurture.apply()
    nurture.processor().import_leads([Row(1, "", {"email": ANN}), Row(2, "", {"email": BOB})], "test")
    return {"NURTURE_DATABASE_URL": sqlite_url, "NURTURE_CAMPAIGN_DIR": str(ROOT / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(ROOT / "templates"), "NURTURE_SOFT_BOUNCE_LIMIT": "2"}


def send(port: int, recipient: str, number: int) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, recipient, "Welcome"
    message["Message-ID"] = f"<20260301.{number}.welcome@nurture.example>"
    message.set_content("Welcome aboard.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message, from_addr=SENDER, to_addrs=[recipient])


def piped(env: dict[str, str], *args: str, stdin: bytes) -> str:
    """The command line in a process of its own reading stdin, as a mail server's pipe runs it."""
    done = subprocess.run([sys.executable, "-m", "engine", *args], input=stdin, capture_output=True,
                          env={**os.environ, **env}, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return " ".join(done.stdout.decode().split())  # unwrapped: the console folds long lines


def nurture(env: dict[str, str], *args: str) -> str:
    """The command line in this process, as an operator types it."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def rows(url: str, statement: sa.Select) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(statement)]
    finally:
        engine.dispose()


def bounced_to(data: bytes) -> str:
    """The recipient a captured bounce is about, from its Final-Recipient field."""
    text = data.decode("utf-8", "replace")
    return text.split("Final-Recipient: rfc822; ", 1)[1].split()[0]


def test_postfix_bounces_suppress_hard_at_once_and_soft_at_the_limit(mta: tuple[Postfix, CaptureServer],
                                                                    env: dict[str, str], tmp_path: Path) -> None:
    postfix, capture = mta
    for number, recipient in enumerate((ANN, BOB, BOB), 1):
        send(postfix.port, recipient, number)
    bounces = wait_for(lambda: capture.messages if len(capture.messages) == 3 else None,
                       "Postfix's three bounces at the capture server")
    assert all(mail_from == "<>" and to == [SENDER] for mail_from, to, _ in bounces), bounces  # null sender, to us
    by_recipient: dict[str, list[bytes]] = {}
    for _, _, data in bounces:
        by_recipient.setdefault(bounced_to(data), []).append(data)
    assert sorted((k, len(v)) for k, v in by_recipient.items()) == [(ANN, 1), (BOB, 2)], postfix.log
    url = env["NURTURE_DATABASE_URL"]

    # the hard bounce, piped in on stdin
    out = piped(env, "feedback", "dsn", "-", stdin=by_recipient[ANN][0])
    assert f"hard bounce: {ANN} (5.1.1 550 5.1.1 <{ANN}>: Recipient address rejected: User unknown" in out
    reason = f"5.1.1 550 5.1.1 <{ANN}>: Recipient address rejected: User unknown in local recipient table"
    assert rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)) == [(ANN, f"bounced (dsn): {reason}")]
    events = rows(url, sa.select(EVENTS.c.type, EVENTS.c.props).join(LEADS, LEADS.c.id == EVENTS.c.lead_id)
                  .where(LEADS.c.email == ANN, EVENTS.c.type.like("email.%")))
    assert events == [("email.bounced", {"reason": reason})]
    shown = nurture(env, "leads", "show", ANN)
    assert f"suppressed: bounced (dsn): {reason}" in shown and "email.bounced" in shown

    # the first soft bounce is counted; the second, from a file, reaches the limit of 2
    first, second = tmp_path / "bob-1.eml", tmp_path / "bob-2.eml"
    first.write_bytes(by_recipient[BOB][0])
    second.write_bytes(by_recipient[BOB][1])
    assert "soft bounce: bob@example.com (4.2.2 452 4.2.2 <bob@example.com>: Mailbox full)" in nurture(
        env, "feedback", "dsn", str(first))
    assert BOB not in dict(rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)))
    assert rows(url, sa.select(sa.func.count()).select_from(SOFT_BOUNCES)) == [(1,)]
    nurture(env, "feedback", "dsn", str(first))  # the same bounce again counts once
    assert rows(url, sa.select(sa.func.count()).select_from(SOFT_BOUNCES)) == [(1,)]
    nurture(env, "feedback", "dsn", str(second))
    soft = f"2 soft bounces (dsn): 4.2.2 452 4.2.2 <{BOB}>: Mailbox full"
    assert dict(rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)))[BOB] == soft
    assert f"suppressed: {soft}" in nurture(env, "leads", "show", BOB)
