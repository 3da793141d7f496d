"""`nurture feedback dsn`: RFC 3464 bounces and RFC 5965 complaints read by the standard library and applied."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from engine.cli import app
from engine.config import Config
from engine.ingest.dsn import read_report
from engine.ingest.feedback import Notice
from engine.ingest.rows import Row
from engine.service import Nurture
from engine.store.tables import EVENTS, SUPPRESSIONS

ROOT = Path(__file__).resolve().parent.parent.parent
ANN, BOB = "ann@acme.example", "bob@acme.example"
FIXTURES = Path(__file__).parent / "fixtures"

DSN = b"""\
Date: Sun, 1 Mar 2026 08:00:05 +0000
From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
To: news@nurture.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <20260301080005.ABC@mx.acme.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="RPT"

--RPT
Content-Type: text/plain

This is the mail system at host mx.acme.example. Your message could not be delivered.

--RPT
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example
Arrival-Date: Sun, 1 Mar 2026 08:00:01 +0000

Final-Recipient: rfc822; ann@acme.example
Original-Recipient: rfc822;ann@acme.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <ann@acme.example>: Recipient address rejected:
    User unknown in local recipient table

Final-Recipient: rfc822; bob@acme.example
Action: failed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; carol@acme.example
Action: delayed
Status: 4.4.1

--RPT
Content-Type: text/rfc822-headers

From: news@nurture.example
To: ann@acme.example
Subject: Welcome
Message-ID: <20260301.1.ABC@nurture.example>

--RPT--
"""

ARF = b"""\
From: <abuse@mailbox.example>
Date: Sun, 1 Mar 2026 09:00:00 +0000
Subject: FW: Welcome
To: <abuse@nurture.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP 192.0.2.1 on Sun, 1 Mar 2026.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <news@nurture.example>
Original-Rcpt-To: <bob@acme.example>
Arrival-Date: Sun, 1 Mar 2026 08:59:00 +0000
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <news@nurture.example>
Received: from mailserver.nurture.example by mx.mailbox.example; Sun, 1 Mar 2026 08:59:00 +0000
To: <bob@acme.example>
Subject: Welcome
Message-ID: <20260301.2.DEF@nurture.example>
Date: Sun, 1 Mar 2026 08:58:00 +0000

Welcome aboard.

--part1_13d.2e68ed54_boundary--
"""


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    nurture = Nurture(Config(database_url=sqlite_url, campaign_dir=ROOT / "journeys",
                             template_dir=ROOT / "templates"))
    nurture.processor().import_leads([Row(1, "", {"email": ANN}), Row(2, "", {"email": BOB})], "test")
    return {"NURTURE_DATABASE_URL": sqlite_url, "NURTURE_CAMPAIGN_DIR": str(ROOT / "journeys"),
            "NURTURE_TEMPLATE_DIR": str(ROOT / "templates"), "NURTURE_SOFT_BOUNCE_LIMIT": "2"}


def rows(url: str, statement: sa.Select) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(statement)]
    finally:
        engine.dispose()


def test_a_dsn_bounces_hard_and_counts_soft(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(DSN)
    result = CliRunner().invoke(app, ["feedback", "dsn", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "hard bounce: ann@acme.example (5.1.1 550 5.1.1" in result.output
    assert "1 suppressed, 1 recorded" in result.output
    url = env["NURTURE_DATABASE_URL"]
    [(email, reason)] = rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason))
    assert email == ANN and "User unknown in local recipient table" in reason
    again = CliRunner().invoke(app, ["feedback", "dsn", "-", "--json"], input=DSN, env=env)
    assert '"duplicates":1' in again.output.replace(" ", "")
    assert len(rows(url, sa.select(EVENTS.c.id).where(EVENTS.c.type == "email.bounced"))) == 1
    assert BOB not in dict(rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)))  # one report, once


def test_an_arf_report_is_a_complaint(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["feedback", "dsn", "-"], input=ARF, env=env)
    assert result.exit_code == 0, result.output
    url = env["NURTURE_DATABASE_URL"]
    assert rows(url, sa.select(SUPPRESSIONS.c.email, SUPPRESSIONS.c.reason)) == [(BOB, "complained (dsn): abuse")]
    assert rows(url, sa.select(EVENTS.c.type).where(EVENTS.c.type == "email.complained")) == [("email.complained",)]


def test_a_message_that_is_no_report_is_refused(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["feedback", "dsn", "-"], input=b"Subject: hi\n\nhello\n", env=env)
    assert result.exit_code == 1 and "RFC 3464" in result.output


# Bounces Postfix 3.7 wrote (tests/engine/test_feedback_postfix.py runs it), kept so the parser's reading of
# real Postfix output holds where Postfix is not installed; fixtures/README.md says how they were made.
POSTFIX_AT = dt.datetime(2026, 12, 1, 6, 50, 22, tzinfo=dt.UTC)


def test_a_postfix_bounce_for_an_unknown_user_is_hard() -> None:
    notices = read_report((FIXTURES / "postfix-bounce-5.1.1.eml").read_bytes(), dt.datetime.now(dt.UTC))
    assert notices == [Notice("ann@example.com", "hard", "5.1.1 550 5.1.1 <ann@example.com>: Recipient address "
                              "rejected: User unknown in local recipient table", POSTFIX_AT, "dsn",
                              "<20260301.1.welcome@nurture.example>")]


def test_a_postfix_bounce_after_a_temporary_refusal_is_soft() -> None:
    notices = read_report((FIXTURES / "postfix-bounce-4.2.2.eml").read_bytes(), dt.datetime.now(dt.UTC))
    assert notices == [Notice("bob@example.com", "soft", "4.2.2 452 4.2.2 <bob@example.com>: Mailbox full",
                              POSTFIX_AT, "dsn", "<20260301.2.welcome@nurture.example>")]


def test_a_postfix_bounce_with_crlf_line_ends_reads_the_same() -> None:
    data = (FIXTURES / "postfix-bounce-5.1.1.eml").read_bytes()
    now = dt.datetime.now(dt.UTC)
    assert read_report(data.replace(b"\n", b"\r\n"), now) == read_report(data, now)  # as it arrives over SMTP
