"""The app factory: every route over one engine, stateless between requests."""

from __future__ import annotations

from fastapi import FastAPI

from engine.console import install as install_console
from engine.http import errors, feedback, health, intake, leads, preferences, track, tracking, unsubscribe
from engine.http.context import AppContext, Limits
from engine.http.middleware import Guard
from engine.ingest.sns import Fetch, fetch_amazon
from engine.service import Nurture

__all__ = ["Limits", "create_app"]

DESCRIPTION = """\
Nurture's HTTP side.

* **Intake** (`/v1/events`, `/v1/leads`): send engagement events and leads as JSON; each request says
  which items were taken and why any were refused. Authenticate with `Authorization: Bearer <token>`,
  a token from `NURTURE_API_TOKEN`.
* **Sales feedback** (`/v1/leads/{email}/feedback`): accept or reject a lead; the campaign decides where it goes.
* **Links in emails** (`/t/o`, `/t/c`, `/u`): open pixel, tracked clicks and unsubscribe, all signed.
* **Operations** (`/healthz`, `/metrics`).
* **Console** (`/`): web pages for sales, marketing and operators, behind sign-in (see docs/console.md).
"""


def create_app(nurture: Nurture, limits: Limits | None = None, *, access_log: bool = True,
               sns_fetch: Fetch = fetch_amazon) -> FastAPI:
    """The HTTP app over ``nurture``. Opens nothing until the first request needs the store.

    ``sns_fetch`` reads Amazon SNS signing certificates and subscription URLs (allow-listed hosts only).
    """
    limits = limits or Limits()
    app = FastAPI(title="Nurture", version="1", description=DESCRIPTION,
                  openapi_tags=[{"name": "intake", "description": "Events in"},
                                {"name": "leads", "description": "Leads in and out, and sales feedback"},
                                {"name": "tracking", "description": "Opens and clicks from emails"},
                                {"name": "unsubscribe", "description": "Consent, one click away"},
                                {"name": "operations", "description": "Health and metrics"},
                                {"name": "feedback", "description": "Bounces and complaints from relays"}])
    app.state.ctx = AppContext(nurture, limits)
    app.state.sns_fetch = sns_fetch
    errors.install(app)
    for module in (intake, leads, tracking, unsubscribe, preferences, health, feedback, track):
        app.include_router(module.router)
    install_console(app)
    app.add_middleware(Guard, max_body_bytes=limits.max_body_bytes, counters=app.state.ctx.counters,
                       access_log=access_log)
    return app
