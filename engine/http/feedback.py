"""Bounce and complaint webhooks from relays: `POST /v1/feedback/{postmark,sendgrid,mailgun,ses}`.

No bearer token: each provider proves itself with its own scheme (engine.ingest.esp), checked against a
secret from the environment. A provider whose secret is not configured gets a 503 that says which to set,
never an open endpoint. Addresses that are not leads are answered 200 and ignored, since providers retry
whatever is not a 2xx.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from engine.http.context import AppContext
from engine.http.errors import ApiError, JsonResponse
from engine.http.schemas import ErrorBody
from engine.ingest import esp, sns
from engine.ingest.feedback import FeedbackReport, Notice, apply_notices

log = logging.getLogger("nurture.http")
router = APIRouter(tags=["feedback"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Applied: `notices`, `suppressed`, `recorded`, `duplicates`, `soft_bounces`, `ignored`"},
    400: {"model": ErrorBody, "description": "Signed, but not the provider's payload"},
    401: {"model": ErrorBody, "description": "The provider's signature or token is missing or wrong"},
    503: {"model": ErrorBody, "description": "The provider's secret is not configured"}}


def _secret(ctx: AppContext, name: str, provider: str) -> str:
    value = getattr(ctx.nurture.config, name)
    if not value:
        raise ApiError(503, f"{provider} feedback is off because NURTURE_{name.upper()} is not set; set it "
                            "and restart to accept its webhooks")
    return str(value)


async def _apply(request: Request, provider: str, read: Callable[[bytes], list[Notice]]) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await request.body()
    try:
        notices = read(body)
    except esp.Unverified as err:
        raise ApiError(401, str(err)) from None
    except esp.BadPayload as err:
        raise ApiError(400, f"{err}; expected a {provider} bounce or complaint webhook") from None

    def store() -> FeedbackReport:
        with ctx.write_gate():
            return apply_notices(ctx.store, ctx.processor(), notices, soft_limit=ctx.nurture.config.soft_bounce_limit,
                                 origin=f"http POST /v1/feedback/{provider}")

    report = await run_in_threadpool(store) if notices else FeedbackReport()
    ctx.counters.add("nurture_http_feedback_total", report.notices, provider=provider)
    return JsonResponse(report.as_dict())


@router.post("/v1/feedback/mailgun", summary="Mailgun bounces and complaints", responses=RESPONSES,
             description="Mailgun's `failed` (permanent: hard, temporary: soft) and `complained` webhooks, "
                         "verified with NURTURE_MAILGUN_SIGNING_KEY.")
async def mailgun(request: Request) -> JsonResponse:
    key = _secret(request.app.state.ctx, "mailgun_signing_key", "Mailgun")
    return await _apply(request, "mailgun", lambda body: esp.mailgun_notices(esp.verify_mailgun(body, key)))


@router.post("/v1/feedback/sendgrid", summary="SendGrid bounces and spam reports", responses=RESPONSES,
             description="SendGrid's signed event webhook (`bounce`, `spamreport`; other events are ignored), "
                         "verified with NURTURE_SENDGRID_PUBLIC_KEY.")
async def sendgrid(request: Request) -> JsonResponse:
    try:
        key = esp.sendgrid_key(_secret(request.app.state.ctx, "sendgrid_public_key", "SendGrid"))
    except ValueError as err:
        raise ApiError(503, str(err)) from None
    return await _apply(request, "sendgrid",
                        lambda body: esp.sendgrid_notices(esp.verify_sendgrid(body, request.headers, key)))


@router.post("/v1/feedback/postmark", summary="Postmark bounces and spam complaints", responses=RESPONSES,
             description="Postmark's bounce and spam complaint webhooks, with NURTURE_POSTMARK_TOKEN as the "
                         "basic auth password in the webhook URL or in an X-Nurture-Token header.")
async def postmark(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    token = _secret(ctx, "postmark_token", "Postmark")

    def read(body: bytes) -> list[Notice]:
        esp.verify_postmark(request.headers, token)
        return esp.postmark_notices(body, ctx.clock.now())

    return await _apply(request, "postmark", read)


@router.post("/v1/feedback/ses", summary="Amazon SES bounces and complaints through SNS", responses=RESPONSES,
             description="An SNS subscription (HTTPS) of a topic in `sns_topic_arns` that SES publishes bounce "
                         "and complaint notifications to. The SNS signature is verified with Amazon's signing "
                         "certificate; subscriptions are confirmed only with `sns_confirm_subscriptions`.")
async def ses(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    topics = {t.strip() for t in (ctx.nurture.config.sns_topic_arns or "").split(",") if t.strip()}
    if not topics:
        raise ApiError(503, "SES feedback is off because sns_topic_arns is not set; set NURTURE_SNS_TOPIC_ARNS to "
                            "the ARN of the topic SES publishes bounces and complaints to, and restart")
    fetch: sns.Fetch = request.app.state.sns_fetch
    body = await request.body()
    try:
        message = await run_in_threadpool(sns.read_sns, body, topics, fetch)
    except esp.Unverified as err:
        raise ApiError(401, str(err)) from None
    except esp.BadPayload as err:
        raise ApiError(400, str(err)) from None
    if message["Type"] == "SubscriptionConfirmation":
        return await run_in_threadpool(_confirm, ctx, fetch, message)
    if message["Type"] != "Notification":
        return JsonResponse({"notices": 0})
    return await _apply(request, "ses", lambda _: sns.ses_notices(message))


def _confirm(ctx: AppContext, fetch: sns.Fetch, message: dict[str, Any]) -> JsonResponse:
    url = str(message.get("SubscribeURL") or "")
    if not ctx.nurture.config.sns_confirm_subscriptions:
        log.warning("SNS subscription not confirmed: set sns_confirm_subscriptions, or open the URL yourself",
                    extra={"fields": {"topic": message["TopicArn"], "subscribe_url": url}})
        return JsonResponse({"confirmed": False, "error": "subscriptions are confirmed only with "
                             "sns_confirm_subscriptions = true; the SubscribeURL is in the server's log"})
    if not sns.amazon_url(url):
        raise ApiError(400, "the SubscribeURL is not an https URL on an sns.<region>.amazonaws.com host")
    try:
        fetch(url)
    except esp.Unverified as err:
        raise ApiError(502, f"the subscription could not be confirmed: {err}") from None
    return JsonResponse({"confirmed": True, "topic": message["TopicArn"]})
