"""Signing in and out: Argon2 passwords, a fresh session on success, failures limited per address and client."""

from __future__ import annotations

import math

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from engine.console import passwords
from engine.console.sessions import COOKIE, new_session
from engine.console.web import back_to, check_csrf, ctx_of, page, remember, safe_next, state_of, visitor
from engine.core.clock import epoch

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    who = visitor(request)
    if who.user is not None:
        return back_to(safe_next(next))
    return page(request, who, "login.html", next=safe_next(next), error=None, email="")


@router.post("/login")
def login(request: Request, email: str = Form(""), password: str = Form(""), csrf: str = Form(""),
          next: str = Form("/")) -> Response:
    who = visitor(request)
    check_csrf(who, csrf)
    state = state_of(request)
    address = email.strip().lower()
    client = request.client.host if request.client else "?"
    wait = max(state.failures_by_email.wait(address), state.failures_by_client.wait(client))
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        refused = page(request, who, "login.html", status=429, next=safe_next(next), email=address,
                        error=f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
        refused.headers["Retry-After"] = str(math.ceil(wait))
        return refused
    ctx = ctx_of(request)
    with ctx.store.transaction() as tx:
        user = tx.users.by_email(address)
    if user is None or not passwords.verify(user.password_hash, password):
        if user is None:  # as slow as a wrong password, so timing does not tell which addresses exist
            passwords.verify(passwords.DUMMY_HASH, password)
        state.failures_by_email.failed(address)
        state.failures_by_client.failed(client)
        return page(request, who, "login.html", status=401, next=safe_next(next), email=address,
                    error="Wrong email or password.")
    if passwords.needs_rehash(user.password_hash):
        with ctx.store.transaction() as tx:
            tx.users.set_hash(user.id, passwords.hash_password(password))
    response = back_to(safe_next(next))
    remember(request, response, new_session(user.id, epoch(user.updated_at)))
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    who = visitor(request)
    check_csrf(who, csrf)
    response = back_to("/login")
    response.delete_cookie(COOKIE, path="/")
    return response
