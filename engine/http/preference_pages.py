"""The preference page a reader reaches from an email: the campaign's topics, each ticked while the lead gets
it, a button to save, and a way to leave everything; and the pages that answer a save or a bad link."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from engine.http.pages import _page, brand

#: the page's own few rules, after the shared ones
_STYLE = ("<style>fieldset{border:0;margin:0 0 20px;padding:0}label{display:flex;gap:10px;align-items:center;"
          "padding:6px 0}input[type=checkbox]{width:18px;height:18px}.everything{margin-top:24px;padding-top:16px;"
          "border-top:1px solid #e5e7eb}.note{font-size:14px}</style>")


@dataclass(frozen=True)
class TopicState:
    name: str
    title: str
    subscribed: bool


def preferences(email: str, sender: str, topics: list[TopicState], unsubscribed: bool, action: str,
                saved: str | None = None) -> str:
    """The page itself; ``saved`` says what the last save changed."""
    who = escape(brand(sender))
    head = f"<h1>Emails from {who} to <strong>{escape(email)}</strong></h1>"
    if saved is not None:
        head += f'<p role="status" id="saved">{escape(saved)}</p>'
    if unsubscribed:
        head += (f'<p id="state">You are unsubscribed from all marketing emails from {who}. '
                 "The topics below take effect if you subscribe again.</p>")
    if topics:
        boxes = "".join(
            f'<label><input type="checkbox" name="topic" value="{escape(t.name)}" id="topic-{escape(t.name)}"'
            f'{" checked" if t.subscribed else ""}> {escape(t.title)}</label>' for t in topics)
        form = (f'<form method="post" action="{escape(action)}"><fieldset><legend><p>Tick what you want to '
                f"receive; untick a topic to leave it.</p></legend>{boxes}</fieldset>"
                '<button type="submit" name="do" value="save" id="save">Save my choices</button></form>')
    else:
        form = f"<p>{who} sends one kind of marketing email.</p>"
    leave_all = "" if unsubscribed else (
        f'<form class="everything" method="post" action="{escape(action)}">'
        f'<p class="note">Or stop every marketing email from {who}:</p>'
        '<button type="submit" class="quiet" name="do" value="everything" id="everything">'
        "Unsubscribe from everything</button></form>")
    return _page("Email preferences", _STYLE + head + form + leave_all)


def saved_message(left: list[str], joined: list[str], everything: bool) -> str:
    """What a save changed, in words."""
    if everything:
        return "You are unsubscribed from all marketing emails."
    parts = []
    if left:
        parts.append("You left " + ", ".join(left) + ".")
    if joined:
        parts.append("You will receive " + ", ".join(joined) + " again.")
    return " ".join(parts) or "Nothing changed: your choices are saved."


def left_topic(email: str, sender: str, title: str, preferences_url: str) -> str:
    """The answer to an email's unsubscribe when `unsubscribe leaves topic`: that topic only."""
    who = escape(brand(sender))
    return _page("Unsubscribed", f"<h1>You left {escape(title)}</h1>"
                                 f"<p><strong>{escape(email)}</strong> will receive no more {escape(title)} emails "
                                 f"from {who}. Other emails you signed up for keep coming.</p>"
                                 f'<p><a href="{escape(preferences_url)}">Choose which emails you get</a></p>')


def confirm_topic(email: str, sender: str, title: str, action: str) -> str:
    """The unsubscribe link's confirm page when it leaves the email's topic only."""
    who = escape(brand(sender))
    return _page("Unsubscribe", f"<h1>Stop {escape(title)} emails to <strong>{escape(email)}</strong>?</h1>"
                                f"<p>You will stop receiving {escape(title)} emails from {who}.</p>"
                                f'<form method="post" action="{escape(action)}">'
                                '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                                '<button type="submit">Unsubscribe</button></form>')


def invalid() -> str:
    return _page("Link not valid", "<h1>This link is not valid</h1>"
                                   "<p>It may have been copied incompletely, or changed. Nothing was changed. Use "
                                   "the link in the most recent email, or reply to it and ask.</p>")


def expired() -> str:
    return _page("Link expired", "<h1>This link has expired</h1>"
                                 "<p>Preference links work for a year. Nothing was changed. Use the link in a more "
                                 "recent email, or its unsubscribe link, which always works.</p>")
