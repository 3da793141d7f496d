"""The web console at `/`: server-rendered pages (Jinja2, plain forms) for sales, marketing and operators,
served by the same FastAPI app as the API (`nurture serve`, `nurture run`).

Read-mostly: the funnel, leads and their story, journeys with per-step counts, email previews, the outbox,
campaign versions and health. The few actions (sales feedback, cancel or retry mail, a test send) need a
role, a signed session and a CSRF token.

Modules:
  passwords  Argon2id hashes and the roles
  sessions   signed session cookies, CSRF tokens, the limit on failed sign-ins
  web        who is asking, roles, CSRF checks, rendering, redirects
  signin     the sign-in and sign-out routes
  pages      overview, funnel, journeys, campaign versions and diffs, health
  leads      lead search, a lead's page, sales feedback
  mail       the outbox with cancel and retry, the email preview with a test send
  preview    composing any template for any lead as the daemon would
  sla        follow-up SLAs: a lead's, the missed ones, recording a follow-up
  topics     a lead's subscription topics and when it left each
templates/ holds the pages, static/ the stylesheet.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from engine.console import leads, mail, pages, signin, sla
from engine.console.sessions import Sessions, new_session
from engine.console.web import HERE, ConsoleState, Refused, SignInRequired, Visitor, page, visitor

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the console on ``app`` (whose ``state.ctx`` is the AppContext)."""
    ctx = app.state.ctx
    app.state.console = ConsoleState(Sessions(lambda: ctx.key))
    for module in (signin, pages, leads, mail, sla):  # sla: follow-up SLAs
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        try:
            who = visitor(request)
        except Exception:  # the store is down: the reason still shows
            who = Visitor(new_session(), None, fresh=True)
        return page(request, who, "error.html", status=exc.status, message=exc.message)
