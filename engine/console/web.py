"""What every console page shares: who is asking (session and user), roles, CSRF checks, and rendering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.console.sessions import COOKIE, MAX_AGE, FailedSignIns, Session, Sessions, csrf_ok, new_session
from engine.core.clock import epoch
from engine.http.context import AppContext
from engine.store.users import User

HERE = Path(__file__).resolve().parent
RANKS = {"viewer": 0, "sales": 1, "admin": 2}
NAV = [("/", "Overview"), ("/funnel", "Funnel"), ("/leads", "Leads"), ("/journeys", "Journeys"),
       ("/preview", "Email preview"), ("/outbox", "Outbox"), ("/campaign", "Campaign"), ("/health", "Health"),
       ("/sla", "Follow-ups")]


class SignInRequired(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class Refused(Exception):
    """The request is understood and refused (role, CSRF): answered with the reason, on a page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ConsoleState:
    sessions: Sessions
    #: 5 failures in 15 minutes for one address; 30 for one client (an office behind one address)
    failures_by_email: FailedSignIns = field(default_factory=lambda: FailedSignIns(limit=5))
    failures_by_client: FailedSignIns = field(default_factory=lambda: FailedSignIns(limit=30))
    templates: Jinja2Templates = field(default_factory=lambda: _templates())


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1%}"
    templates.env.filters["num"] = lambda v: "–" if v is None else f"{v:,}"
    templates.env.filters["when"] = _when
    templates.env.filters["urlq"] = lambda v: quote(str(v), safe="")
    return templates


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo else "")


@dataclass
class Visitor:
    session: Session
    user: User | None
    #: the cookie must be (re)written on the response
    fresh: bool = False

    def can(self, role: str) -> bool:
        return self.user is not None and RANKS[self.user.role] >= RANKS[role]


def ctx_of(request: Request) -> AppContext:
    return request.app.state.ctx


def state_of(request: Request) -> ConsoleState:
    return request.app.state.console


def visitor(request: Request) -> Visitor:
    """Who is asking: the signed-in user, or an anonymous session (which carries the sign-in form's CSRF token)."""
    state = state_of(request)
    session = state.sessions.load(request.cookies.get(COOKIE))
    if session is None:
        return Visitor(new_session(), None, fresh=True)
    if session.user_id is None:
        return Visitor(session, None)
    with ctx_of(request).store.transaction() as tx:
        user = tx.users.get(session.user_id)
    if user is None or abs(epoch(user.updated_at) - session.user_version) > 1e-3:
        return Visitor(new_session(), None, fresh=True)  # removed, or a new password or role: sign in again
    return Visitor(session, user)


def signed_in(request: Request, role: str = "viewer") -> Visitor:
    who = visitor(request)
    if who.user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    if not who.can(role):
        raise Refused(403, f"this needs the {role} role; you are signed in as {who.user.email} "
                           f"({who.user.role}). An admin can change roles with `nurture users add`.")
    return who


def check_csrf(who: Visitor, token: str | None) -> None:
    if not csrf_ok(who.session, token):
        raise Refused(403, "this form has expired or did not come from the console (no valid CSRF token); "
                           "reload the page and try again")


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or ctx_of(request).nurture.config.base_url.startswith("https://")


def remember(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(COOKIE, state_of(request).sessions.dump(session), max_age=MAX_AGE, httponly=True,
                        samesite="lax", secure=secure(request), path="/")


def page(request: Request, who: Visitor, page_name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = state_of(request).templates.TemplateResponse(
        request, page_name, {"who": who, "user": who.user, "csrf": who.session.csrf, "nav": NAV,
                            "path": request.url.path, **context}, status_code=status)
    if who.fresh:
        remember(request, response, who.session)
    # pages hold personal data and forms: never cached, never framed by another site (clickjacking)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'; form-action 'self'"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def back_to(url: str, message: str | None = None) -> RedirectResponse:
    """A redirect after a form (303: the browser follows with GET), with a note shown on the next page."""
    if message:
        url += ("&" if "?" in url else "?") + "note=" + quote(message, safe="")
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None) -> str:
    """Only a path on this site: no open redirect through ?next=."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url
