"""How the relays' reports that are neither plain bounces nor complaints are read: drops for addresses on the
relay's own lists, and the ids a report is known by when it is delivered again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.ingest.esp import mailgun_notices, sendgrid_notices
from engine.ingest.sns import ses_notices


def dropped(reason: str) -> dict[str, Any]:
    return {"email": "ann@acme.example", "timestamp": 1513299569, "smtp-id": "<1@ismtpd-555>", "event": "dropped",
            "sg_event_id": f"dropped-{reason}", "reason": reason, "status": "5.0.0"}


@pytest.mark.parametrize(("reason", "kind"), [
    ("Bounced Address", "hard"), ("Invalid", "hard"), ("Spam Reporting Address", "complaint"),
    ("Unsubscribed Address", None), ("Spam Content", None), ("Invalid SMTPAPI header", None),
    ("Recipient List over Package Quota", None)])
def test_a_sendgrid_drop_counts_only_when_it_is_about_the_address(reason: str, kind: str | None) -> None:
    assert [n.kind for n in sendgrid_notices([dropped(reason)])] == ([kind] if kind else [])


def test_sendgrid_events_are_known_by_their_event_id() -> None:
    bounce = {**dropped("Bounced Address"), "event": "bounce", "sg_event_id": "bounce-1", "type": "bounce"}
    [first], [second] = sendgrid_notices([bounce]), sendgrid_notices([dropped("Bounced Address")])
    assert first.message_id == "bounce-1" and first.key != second.key  # same message, two reports


def failed(reason: str) -> dict[str, Any]:
    return {"event-data": {"event": "failed", "severity": "permanent", "reason": reason, "timestamp": 1529701969.8,
                           "recipient": "ann@acme.example", "id": "event-1",
                           "delivery-status": {"code": 605, "description": "Not delivering to a listed address"}}}


@pytest.mark.parametrize(("reason", "kind"), [
    ("suppress-bounce", "hard"), ("bounce", "hard"), ("generic", "hard"), ("old", "hard"),
    ("suppress-complaint", "complaint"), ("suppress-unsubscribe", None)])
def test_a_mailgun_permanent_failure_for_a_listed_address_keeps_what_listed_it(reason: str, kind: str | None) -> None:
    assert [n.kind for n in mailgun_notices(failed(reason))] == ([kind] if kind else [])


def test_ses_reports_are_known_by_their_feedback_id() -> None:
    def bounce(feedback_id: str) -> dict[str, Any]:
        ses = {"notificationType": "Bounce", "mail": {"messageId": "ses-1", "commonHeaders": {"messageId": "same"}},
               "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": feedback_id,
                          "timestamp": "2016-01-27T14:59:38.237Z",
                          "bouncedRecipients": [{"emailAddress": "a@b.example"}]}}
        return {"Message": orjson.dumps(ses).decode(), "Timestamp": "2016-01-27T14:59:39.000Z"}

    [one], [two], [again] = ses_notices(bounce("f-1")), ses_notices(bounce("f-2")), ses_notices(bounce("f-1"))
    assert one.message_id == "f-1" and one.key != two.key and one.key == again.key
