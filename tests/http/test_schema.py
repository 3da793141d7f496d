"""The OpenAPI document, fuzzed by schemathesis against the live server: no request makes it fail.

Each operation is run with generated valid (positive) and invalid (negative) requests, with the API
token; every response must be documented and match its schema, and none may be a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from .live import TOKENS, Live

#: a SendGrid verification key (P-256, base64 DER) that signs nothing the fuzzer sends
SENDGRID_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESDjx5hc5p4iv+y0lVq+3mTE0ycKV8oINtdAFeBoM8JwFwqlmPJWK"
                "ASXTx35fkFS5yhD+EgxgCheyjRZRMia5uA==")


@pytest.fixture
def live(serve, sqlite_url: str) -> Live:
    """With every relay's secret set, so the feedback endpoints check proofs instead of answering 503."""
    return serve(sqlite_url, mailgun_signing_key="fuzz", sendgrid_public_key=SENDGRID_KEY, postmark_token="fuzz",
                 sns_topic_arns="arn:aws:sns:us-east-1:123456789012:ses-feedback")

OPERATIONS = ["POST /v1/events", "POST /v1/leads", "GET /v1/leads/{email}", "DELETE /v1/leads/{email}",
              "POST /v1/leads/{email}/feedback",
              "GET /t/o/{token}", "GET /t/c/{token}", "GET /u/{token}", "POST /u/{token}",
              "POST /u/{token}/resubscribe", "GET /healthz", "GET /metrics", "POST /v1/feedback/mailgun",
              "POST /v1/feedback/sendgrid", "POST /v1/feedback/postmark", "POST /v1/feedback/ses",
              "GET /t.js", "POST /v1/track", "GET /p/{token}", "POST /p/{token}"]

#: the token is sent on purpose (so "ignored auth" does not apply), and what is valid beyond the schema's
#: shape depends on the campaign (its event types, properties and attributes): schema-valid items may be
#: refused with 422, by design
EXCLUDED = [ignored_auth, positive_data_acceptance]


def test_every_operation_is_fuzzed(live: Live) -> None:
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json")
    assert sorted(r.ok().label for r in schema.get_all_operations()) == sorted(OPERATIONS)


#: operations with a body to get wrong (the others take nothing but a free-form string or no input)
WITH_BODY = ["POST /v1/events", "POST /v1/leads", "POST /v1/leads/{email}/feedback", "POST /u/{token}",
             "POST /p/{token}"]
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [(label, GenerationMode.NEGATIVE)
                                                                      for label in WITH_BODY]


@pytest.mark.parametrize("label, mode", CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_the_api_conforms_and_never_fails(live: Live, label: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json")
    operation = schema.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS[0]}"}, excluded_checks=EXCLUDED)

    run()
