"""Composing an email: its template rendered for the lead, signed links, the open pixel, and the MIME bytes.

Renderers are kept per campaign version, so templates are compiled once per version, not once per message.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.delivery.message import build_message
from engine.delivery.preferences import preference_expiry
from engine.delivery.render import Renderer
from engine.delivery.tokens import Signer

#: the files of one campaign version: (version id, path -> text), templates under "templates/"
Templates = tuple[int, Mapping[str, str]]
#: the template context for a message, given its unsubscribe URL
ContextFor = Callable[[str], dict[str, Any]]


class Draft(Protocol):
    """What composing reads of a queued message."""

    @property
    def key(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def lead_id(self) -> int: ...

    @property
    def to_address(self) -> str: ...

    @property
    def template(self) -> str: ...

    @property
    def message_id(self) -> str: ...


class Compose(Protocol):
    """Turns a queued message into the bytes that go out (RenderError when its template fails for the lead)."""

    def ready(self) -> None:
        """Read or create what composing needs from the store, before any write transaction holds it."""

    def compose(self, draft: Draft, settings: Mapping[str, Any], templates: Templates, now: dt.datetime,
                context_for: ContextFor) -> bytes: ...


class Composer:
    """Full composition, as production sends it: links to ``base_url`` signed with the store's secret key."""

    def __init__(self, base_url: str, signing_key: Callable[[], str]) -> None:
        self.base_url = base_url.rstrip("/")
        self._signing_key = signing_key
        self._key: str | None = None
        self._signer: Signer | None = None
        self._renderer: tuple[int, Renderer] | None = None

    def ready(self) -> None:
        _ = self.key

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = self._signing_key()
        return self._key

    def link(self, kind: str, lead_id: int, message_key: str, url: str | None = None,
             expires: int | None = None) -> str:
        """A signed link to the HTTP side: `u` unsubscribe, `o` open pixel, `c` tracked click to ``url``,
        `p` the preference page (valid until ``expires``, in seconds since the epoch)."""
        payload = {"l": lead_id, "m": message_key, "k": kind} | ({"u": url} if url else {}) \
            | ({"x": expires} if expires is not None else {})
        path = {"u": "u", "o": "t/o", "c": "t/c", "p": "p"}[kind]
        if self._signer is None:
            self._signer = Signer(self.key)
        return f"{self.base_url}/{path}/{self._signer.sign(payload)}"

    def renderer(self, templates: Templates) -> Renderer:
        """The renderer of this version's templates, built when the version changes."""
        version_id, files = templates
        if self._renderer is None or self._renderer[0] != version_id:
            self._renderer = (version_id, Renderer({path[len("templates/"):]: text for path, text in files.items()
                                                    if path.startswith("templates/")}))
        return self._renderer[1]

    def compose(self, draft: Draft, settings: Mapping[str, Any], templates: Templates, now: dt.datetime,
                context_for: ContextFor) -> bytes:
        marketing = draft.kind == "marketing"
        unsubscribe = self.link("u", draft.lead_id, draft.key)
        preferences = self.link("p", draft.lead_id, draft.key, expires=preference_expiry(now)) if marketing else None
        tracked: dict[str, str] = {}  # a URL in both the HTML and the text is signed once

        def track_link(url: str) -> str:
            if url == preferences:  # the lead's own settings, like the unsubscribe link: not a click to count
                return url
            if url not in tracked:
                tracked[url] = self.link("c", draft.lead_id, draft.key, url)
            return tracked[url]

        track = track_link if marketing else None
        context = context_for(unsubscribe)
        if preferences is not None:
            context["preferences_url"] = preferences
        rendered = self.renderer(templates).render(draft.template, context, rewrite_link=track)
        sender = str(settings.get("sender address"))
        reply_to = settings.get("reply to")
        html = rendered.html
        if marketing:  # a 1x1 image that records the open when the reader's client loads it
            html = with_pixel(html, self.link("o", draft.lead_id, draft.key))
        return build_message(
            sender_name=str(settings.get("sender name", "")), sender_address=sender, to=draft.to_address,
            subject=rendered.subject, html=html, text=rendered.text, message_id=draft.message_id,
            date=now, reply_to=str(reply_to) if reply_to else None,
            list_unsubscribe_url=unsubscribe if marketing else None,
            list_unsubscribe_mailto=f"mailto:{reply_to or sender}?subject=unsubscribe" if marketing else None)


#: what a message not rendered in full carries: enough for a reader to tell a marketing email
UNRENDERED = {True: b"X-Nurture-Simulation: not rendered\r\nList-Unsubscribe: <https://simulated.invalid/u>\r\n\r\n",
              False: b"X-Nurture-Simulation: not rendered\r\n\r\n"}


class SampledComposer:
    """Renders the first ``sample`` messages of each template in full and sends the rest unrendered.

    Rendering and MIME assembly cost more than everything else a send does, and a simulation
    reports who gets what and when, not the bytes; the sample still catches templates that fail
    for the synthetic leads. ``sample=None`` renders every message.
    """

    def __init__(self, full: Composer, sample: int | None) -> None:
        self.full = full
        self.sample = sample
        self.rendered: Counter[str] = Counter()
        self.unrendered = 0

    def ready(self) -> None:
        self.full.ready()

    def compose(self, draft: Draft, settings: Mapping[str, Any], templates: Templates, now: dt.datetime,
                context_for: ContextFor) -> bytes:
        if self.sample is None or self.rendered[draft.template] < self.sample:
            self.rendered[draft.template] += 1
            return self.full.compose(draft, settings, templates, now, context_for)
        self.unrendered += 1
        return UNRENDERED[draft.kind == "marketing"]


def with_pixel(html: str, url: str) -> str:
    pixel = f'<img src="{url}" width="1" height="1" alt="" style="display:none">'
    at = html.lower().rfind("</body>")
    return html[:at] + pixel + html[at:] if at >= 0 else html + pixel
