"""Bounce messages (RFC 3464 delivery status notifications) and spam complaints (RFC 5965 ARF) read into
notices with the standard library's `email` package.

A DSN is a multipart/report of report-type delivery-status: each recipient block with ``Action: failed``
is a bounce, hard for a 5.x.x ``Status`` and soft for a 4.x.x one; ``delayed`` and ``delivered`` blocks
are not bounces. An ARF report (report-type feedback-report) is a complaint about ``Original-Rcpt-To``,
or the recipient of the enclosed message. The original Message-ID, from the returned message or its
headers, keys the notice, so the same report applied twice records once.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
from email.message import Message
from email.parser import HeaderParser

from engine.ingest.feedback import Kind, Notice


class NotAReport(ValueError):
    """The message is neither a delivery status notification nor a feedback report."""


def _address(field: str | None) -> str:
    """``rfc822; ann@example.com`` -> ``ann@example.com``."""
    value = (field or "").partition(";")[2] if ";" in (field or "") else (field or "")
    return value.strip().strip("<>")


def _fields(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    return [HeaderParser().parsestr(block + "\n") for block in text.replace("\r\n", "\n").split("\n\n")
            if block.strip()]


def _original(report: Message) -> Message | None:
    for part in report.walk():
        if part.get_content_type() in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            return first if isinstance(first, Message) else None
        if part.get_content_type() in ("text/rfc822-headers", "message/global-headers"):
            return HeaderParser().parsestr(str(part.get_payload()))
    return None


def _when(report: Message, now: dt.datetime) -> dt.datetime:
    try:
        at = email.utils.parsedate_to_datetime(str(report["Date"])) if report["Date"] else now
    except (TypeError, ValueError):
        return now
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def read_report(data: bytes, now: dt.datetime) -> list[Notice]:
    """The notices a DSN or an ARF report carries; NotAReport for any other message."""
    report = email.message_from_bytes(data, policy=email.policy.compat32)
    report_type = str(report.get_param("report-type") or "").lower()
    if report.get_content_type() != "multipart/report" or report_type not in ("delivery-status", "feedback-report"):
        raise NotAReport("not a multipart/report of report-type delivery-status (RFC 3464) or "
                         "feedback-report (RFC 5965)")
    original = _original(report)
    ref = str(original["Message-ID"]).strip() if original is not None and original["Message-ID"] else None
    ref = ref or (str(report["Message-ID"]).strip() if report["Message-ID"] else None)
    at = _when(report, now)
    wanted = "message/delivery-status" if report_type == "delivery-status" else "message/feedback-report"
    part = next((p for p in report.walk() if p.get_content_type() == wanted), None)
    if part is None:
        raise NotAReport(f"the report has no {wanted} part")
    blocks = _fields(part)
    if report_type == "feedback-report":
        fields = blocks[0] if blocks else Message()
        to = _address(fields["Original-Rcpt-To"]) or (email.utils.parseaddr(str(original["To"]))[1]
                                                     if original is not None and original["To"] else "")
        reason = str(fields["Feedback-Type"] or "abuse").strip()
        return [Notice(to, "complaint", reason, at, "dsn", ref)] if to else []
    notices = []
    for block in blocks:
        if str(block["Action"] or "").strip().lower() != "failed":
            continue
        status = str(block["Status"] or "").strip()
        kind: Kind = "soft" if status.startswith("4") else "hard"
        recipient = _address(block["Final-Recipient"]) or _address(block["Original-Recipient"])
        diagnostic = " ".join(str(block["Diagnostic-Code"] or "").split())
        reason = " ".join(p for p in (status, _address(diagnostic) or diagnostic) if p) or "failed"
        if recipient:
            notices.append(Notice(recipient, kind, reason, at, "dsn", ref))
    return notices
