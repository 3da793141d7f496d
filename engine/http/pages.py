"""The few HTML pages a reader sees: confirm unsubscribe, unsubscribed, subscribed again, bad link."""

from __future__ import annotations

from html import escape
from typing import Any

#: what every page a reader opens from an email is sent with: never cached, never framed, forms post only here
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}
#: the OpenAPI description of an HTML answer
HTML: dict[str, Any] = {"content": {"text/html": {}}}

_STYLE = """
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f4f5f7;
font:16px/1.55 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2937;padding:24px}
main{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);max-width:460px;width:100%;padding:32px}
h1{font-size:20px;line-height:1.3;margin:0 0 12px}
p{margin:0 0 20px;color:#4b5563}
strong{color:#1f2937;word-break:break-all}
form{margin:0}
button{font:inherit;font-weight:600;border:0;border-radius:6px;padding:10px 18px;cursor:pointer;
background:#1a56db;color:#fff}
button.quiet{background:#e5e7eb;color:#1f2937}
button:focus-visible{outline:3px solid #93c5fd;outline-offset:2px}
"""


def brand(sender_name: str) -> str:
    """Who the emails are from, as a reader knows them: "Maya Chen at Acme Analytics" is Acme Analytics."""
    name = sender_name.strip()
    return name.rsplit(" at ", 1)[-1].strip() or name or "these"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>")


def _form(action: str, label: str, quiet: bool = False) -> str:
    # the RFC 8058 one-click field, so the button posts exactly what a mail client's one-click does
    return (f'<form method="post" action="{escape(action)}">'
            f'<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit"{" class=quiet" if quiet else ""}>{escape(label)}</button></form>')


def confirm(email: str, sender: str, action: str) -> str:
    who = escape(brand(sender))
    return _page("Unsubscribe", f"<h1>Unsubscribe <strong>{escape(email)}</strong> from {who} emails?</h1>"
                                f"<p>You will stop receiving marketing emails from {who}.</p>"
                                + _form(action, "Unsubscribe"))


def unsubscribed(email: str, sender: str, resubscribe_action: str) -> str:
    who = escape(brand(sender))
    return _page("Unsubscribed", f"<h1>You are unsubscribed</h1>"
                                 f"<p><strong>{escape(email)}</strong> will receive no more marketing emails "
                                 f"from {who}. Did you mean to stay?</p>"
                                 + _form(resubscribe_action, "Subscribe again", quiet=True))


def resubscribed(email: str, sender: str, unsubscribe_action: str) -> str:
    who = escape(brand(sender))
    return _page("Subscribed", f"<h1>Welcome back</h1>"
                               f"<p><strong>{escape(email)}</strong> will receive emails from {who} again.</p>"
                               + _form(unsubscribe_action, "Unsubscribe", quiet=True))


def invalid_link() -> str:
    return _page("Link not valid", "<h1>This link is not valid</h1>"
                                   "<p>It may have been copied incompletely. Use the unsubscribe link in the most "
                                   "recent email, or reply to it and ask to be removed.</p>")


def unavailable() -> str:
    return _page("Try again", "<h1>Something went wrong</h1>"
                              "<p>We could not take your request just now. Please try again in a minute.</p>")
