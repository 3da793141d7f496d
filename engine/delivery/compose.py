"""Composing an email: its template rendered for the lead, signed links, the open pixel, and the MIME bytes.

Composing has two halves. `Composer.begin` signs the unsubscribe link and builds the template context, which
may read the store; `Composer.finish` renders and assembles the bytes from that alone, so it can run in
another process (`engine.delivery.pool`). Renderers are kept per campaign version, so templates are compiled
once per version, not once per message.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

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
    """Turns queued messages into the bytes that go out."""

    def ready(self) -> None:
        """Read or create what composing needs from the store, before any write transaction holds it."""

    def compose_all(self, drafts: Sequence[tuple[Draft, ContextFor]], settings: Mapping[str, Any],
                    templates: Templates, now: dt.datetime) -> list[bytes | Exception]:
        """Each draft's bytes, or the exception that kept it from being composed (RenderError when its template
        fails for the lead): one message's failure is its own."""
        ...

    def close(self) -> None:
        """Let go of what composing holds (worker processes)."""


class PlainDraft(NamedTuple):
    """A draft as plain values: what a preview composes, and what a render worker is sent."""

    key: str
    kind: str
    lead_id: int
    to_address: str
    template: str
    message_id: str


class Job(NamedTuple):
    """A message with its context built, all that `Composer.finish` reads: plain values, so it can be sent to
    another process."""

    draft: PlainDraft
    now: dt.datetime
    unsubscribe: str
    context: dict[str, Any]


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

    def begin(self, draft: Draft, now: dt.datetime, context_for: ContextFor) -> Job:
        """The first half of composing: the unsubscribe link and the template context (which may read the store)."""
        unsubscribe = self.link("u", draft.lead_id, draft.key)
        plain = PlainDraft(draft.key, draft.kind, draft.lead_id, draft.to_address, draft.template, draft.message_id)
        return Job(plain, now, unsubscribe, context_for(unsubscribe))

    def finish(self, job: Job, settings: Mapping[str, Any], templates: Templates) -> bytes:
        """The second half: the template rendered with tracked links, and the MIME bytes."""
        draft = job.draft
        marketing = draft.kind == "marketing"
        preferences = (self.link("p", draft.lead_id, draft.key, expires=preference_expiry(job.now)) if marketing
                       else None)
        tracked: dict[str, str] = {}  # a URL in both the HTML and the text is signed once

        def track_link(url: str) -> str:
            if url == preferences:  # the lead's own settings, like the unsubscribe link: not a click to count
                return url
            if url not in tracked:
                tracked[url] = self.link("c", draft.lead_id, draft.key, url)
            return tracked[url]

        track = track_link if marketing else None
        context = job.context
        if preferences is not None:
            context["preferences_url"] = preferences
        rendered = self.renderer(templates).render(draft.template, context, rewrite_link=track)
        sender = str(settings.get("sender address"))
        reply_to = settings.get("reply to")
        html = rendered.html
        if marketing:  # a 1x1 image that records the open when the reader's client loads it
            html = with_pixel(html, self.link("o", draft.lead_id, draft.key))
        unsubscribe = job.unsubscribe
        return build_message(
            sender_name=str(settings.get("sender name", "")), sender_address=sender, to=draft.to_address,
            subject=rendered.subject, html=html, text=rendered.text, message_id=draft.message_id,
            date=job.now, reply_to=str(reply_to) if reply_to else None,
            list_unsubscribe_url=unsubscribe if marketing else None,
            list_unsubscribe_mailto=f"mailto:{reply_to or sender}?subject=unsubscribe" if marketing else None)

    def compose(self, draft: Draft, settings: Mapping[str, Any], templates: Templates, now: dt.datetime,
                context_for: ContextFor) -> bytes:
        """One message's bytes (RenderError when its template fails for the lead)."""
        return self.finish(self.begin(draft, now, context_for), settings, templates)

    def compose_all(self, drafts: Sequence[tuple[Draft, ContextFor]], settings: Mapping[str, Any],
                    templates: Templates, now: dt.datetime) -> list[bytes | Exception]:
        return composed_each(self.compose, drafts, settings, templates, now)

    def close(self) -> None:
        pass


def composed_each(compose: Callable[[Draft, Mapping[str, Any], Templates, dt.datetime, ContextFor], bytes],
                  drafts: Sequence[tuple[Draft, ContextFor]], settings: Mapping[str, Any], templates: Templates,
                  now: dt.datetime) -> list[bytes | Exception]:
    """``compose`` for each draft in turn: its bytes, or the exception that kept it from being composed."""
    done: list[bytes | Exception] = []
    for draft, context_for in drafts:
        try:
            done.append(compose(draft, settings, templates, now, context_for))
        except Exception as err:  # this message's template or data: it fails alone
            done.append(err)
    return done


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

    def compose_all(self, drafts: Sequence[tuple[Draft, ContextFor]], settings: Mapping[str, Any],
                    templates: Templates, now: dt.datetime) -> list[bytes | Exception]:
        return composed_each(self.compose, drafts, settings, templates, now)

    def close(self) -> None:
        self.full.close()


def with_pixel(html: str, url: str) -> str:
    pixel = f'<img src="{url}" width="1" height="1" alt="" style="display:none">'
    at = html.lower().rfind("</body>")
    return html[:at] + pixel + html[at:] if at >= 0 else html + pixel
