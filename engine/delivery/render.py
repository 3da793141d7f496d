"""Email rendering: a campaign version's Jinja2 templates, sandboxed and bounded, into subject, HTML and plain text.

A value a lead does not have prints as nothing, and ``default`` replaces it
(``{{ lead.first_name | default("there") }}``), so a sparse lead reads "Hi there," rather than "Hi None,".
Each email renders within the limits of `limits`.
"""

from __future__ import annotations

import difflib
import html as htmllib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import html2text
from jinja2 import (
    DictLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from engine.delivery.limits import MAX_OUTPUT, TIME_LIMIT, BoundedEnvironment, budget

HTML = ".html"
TEXT = ".txt"

T = TypeVar("T")


class RenderError(Exception):
    """A template that cannot be rendered; the message names the file, the line and the reason."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.line = line


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


class _NamedDictLoader(DictLoader):
    """A DictLoader that reports each template's name as its file name, so tracebacks carry it."""

    # Jinja's DictLoader says it has no file name; this one names the template, as FileSystemLoader does.
    def get_source(  # type: ignore[override]
            self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, _, uptodate = super().get_source(environment, template)
        return source, template, uptodate


class Renderer:
    """Renders the templates of one campaign version; each file is compiled once, on first use."""

    def __init__(self, templates: dict[str, str], *, time_limit: float = TIME_LIMIT,
                 max_output: int = MAX_OUTPUT) -> None:
        self._sources = dict(templates)
        self.time_limit = time_limit
        self.max_output = max_output
        # Whitespace is left as authored: templates control it with `{%-`/`-%}` where it matters (.txt parts).
        self._env = BoundedEnvironment(
            loader=_NamedDictLoader(self._sources),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            auto_reload=False,
            cache_size=-1,  # the set of templates is fixed, so keep every compiled one
        )
        self._compiled: dict[str, Template] = {}

    def names(self) -> list[str]:
        """The templates that can be sent: every ``<name>.html`` that is not a layout or partial."""
        return sorted(n[: -len(HTML)] for n in self._sources if n.endswith(HTML) and not _is_partial(n))

    def render(self, template: str, context: dict, rewrite_link: Callable[[str], str] | None = None) -> RenderedEmail:
        """Subject, HTML and plain text of ``<template>.html`` (and ``<template>.txt`` when present), within
        one time budget and a size limit per part."""
        html_name, text_name = template + HTML, template + TEXT
        if html_name not in self._sources:
            raise RenderError(self._not_found(template), template=html_name)
        with budget(self.time_limit, self.max_output):
            html, subject = self._render_html(html_name, context)
            if text_name in self._sources:
                text = self._run(text_name, lambda: self._collect(text_name, self._get(text_name).generate(context)))
            else:
                text = html_to_text(html)
        if rewrite_link is not None:
            keep = context.get("unsubscribe_url")
            html = rewrite_html_links(html, rewrite_link, keep=keep)
            text = rewrite_text_links(text, rewrite_link, keep=keep)
        return RenderedEmail(subject=subject, html=html, text=text)

    def _render_html(self, name: str, context: dict) -> tuple[str, str]:
        def run() -> tuple[str, str]:
            compiled = self._get(name)
            # One context for the page and the subject block, so both see the same imports and variables.
            ctx = compiled.new_context(context)
            try:
                page = self._collect(name, compiled.root_render_func(ctx))
                blocks = ctx.blocks.get("subject")
                raw = self._collect(name, blocks[0](ctx)) if blocks else ""
            except Exception:
                self._env.handle_exception()  # re-raises with the traceback pointing at template lines
            return page, raw

        page, raw = self._run(name, run)
        subject = " ".join(htmllib.unescape(raw).split())
        if not subject:
            defined = "subject" in self._get(name).blocks
            reason = "renders an empty subject" if defined else "has no {% block subject %}"
            raise RenderError(f"template {name} {reason}; every email needs a subject line", template=name)
        return page, subject

    def _collect(self, name: str, chunks: Iterable[str]) -> str:
        """The output of a template as it streams, stopped once it is bigger than an email may be."""
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > self.max_output:
                raise RenderError(f"template {name}: renders more than {self.max_output:,} characters, the limit "
                                  "for one part of an email; look for a loop that repeats without end",
                                  template=name)
            parts.append(chunk)
        return "".join(parts)

    def _get(self, name: str) -> Template:
        if name not in self._compiled:
            self._compiled[name] = self._env.get_template(name)
        return self._compiled[name]

    def _run(self, name: str, work: Callable[[], T]) -> T:
        try:
            return work()
        except RenderError:
            raise
        except Exception as err:  # any failure inside a template is the template's problem, reported as such
            raise self._error(err, name) from err

    def _error(self, err: Exception, name: str) -> RenderError:
        line: int | None
        if isinstance(err, TemplateSyntaxError):
            where, line = err.name or err.filename or name, err.lineno
        else:
            where, line = _origin(err.__traceback__, self._sources) or (name, None)
        if isinstance(err, TemplateNotFound):
            reason = f"template {err.name!r} not found"
        elif isinstance(err, TemplateError):
            reason = err.message or type(err).__name__
        else:
            reason = f"{type(err).__name__}: {err}"
        place = f"template {where}" + (f" line {line}" if line else "")
        suffix = f" (rendering {name})" if where != name else ""
        return RenderError(f"{place}: {reason}{suffix}", template=where, line=line)

    def _not_found(self, template: str) -> str:
        message = f"template {template!r} not found: there is no {template}{HTML} among the campaign's templates"
        close = difflib.get_close_matches(template, self.names(), n=1)
        return message + (f"; did you mean {close[0]!r}?" if close else "")


def _is_partial(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("/"))


def _origin(tb: TracebackType | None, sources: dict[str, str]) -> tuple[str, int] | None:
    """The innermost template file and line in a traceback (Jinja rewrites frames to template lines)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in sources:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


# ----- plain text from HTML ------------------------------------------------------------------------

# Preheaders are hidden preview text; in a plain-text part they would read as a stray first line.
_HIDDEN = re.compile(r"<(\w+)\b[^>]*\bstyle\s*=\s*[\"'][^\"']*display\s*:\s*none[^>]*>.*?</\1\s*>", re.I | re.S)
_MD_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(((?:\\.|[^\s()\\])+)(?: \"[^\"]*\")?\)")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_MD_ESCAPED_MARKER = re.compile(r"^(\s*)(\d+)?\\([.+-])(?=\s|-)", re.M)
_MD_ESCAPED_BACKSLASH = re.compile(r"\\\\(?=[\\`*_{}\[\]()#+\-.!])")


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML email: paragraphs kept, links shown as their URLs."""
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: paragraphs stay whole, as in hand-written .txt parts
    converter.ignore_tables = True  # emails use tables for layout, not data
    converter.ignore_emphasis = True
    converter.ignore_images = False
    converter.images_to_alt = True
    converter.unicode_snob = True  # keep "·" and curly quotes instead of ASCII stand-ins
    markdown = converter.handle(_HIDDEN.sub("", html))
    text = _MD_LINK.sub(_plain_link, markdown)
    text = _MD_AUTOLINK.sub(r"\1", text)
    text = _MD_ESCAPED_MARKER.sub(lambda m: m.group(1) + (m.group(2) or "") + m.group(3), text)
    text = _MD_ESCAPED_BACKSLASH.sub(r"\\", text)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _plain_link(match: re.Match[str]) -> str:
    label = re.sub(r"\\(.)", r"\1", match.group(1)).strip()
    url = re.sub(r"\\(.)", r"\1", match.group(2))
    if not label or label == url or url == f"mailto:{label}":
        return label or url
    if url.startswith("mailto:"):
        return f"{label} ({url[len('mailto:'):]})"
    return f"{label} ({url})"


# ----- link rewriting (click tracking) ---------------------------------------------------------------

_HREF = re.compile(r"(<a\b[^>]*?\shref\s*=\s*)([\"'])(.*?)\2", re.I | re.S)
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+", re.I)
_TRAILING = ".,;:!?'"


def _is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def rewrite_html_links(html: str, rewrite: Callable[[str], str], *, keep: str | None = None) -> str:
    """Pass every http(s) ``<a href>`` through ``rewrite``, except ``keep`` (the unsubscribe URL)."""

    def replace(match: re.Match[str]) -> str:
        url = htmllib.unescape(match.group(3)).strip()
        if not _is_web(url) or url == keep:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{htmllib.escape(rewrite(url), quote=True)}{match.group(2)}"

    return _HREF.sub(replace, html)


def rewrite_text_links(text: str, rewrite: Callable[[str], str], *, keep: str | None = None) -> str:
    """Pass every http(s) URL in plain text through ``rewrite``, except ``keep``."""

    def replace(match: re.Match[str]) -> str:
        url, tail = _split_trailing(match.group(0))
        if url == keep:
            return match.group(0)
        return rewrite(url) + tail

    return _TEXT_URL.sub(replace, text)


def _split_trailing(candidate: str) -> tuple[str, str]:
    """Sentence punctuation and an unbalanced closing parenthesis end a URL written in prose."""
    end = len(candidate)
    while end > 0:
        last = candidate[end - 1]
        if last in _TRAILING or (last == ")" and candidate[:end].count("(") < candidate[:end].count(")")):
            end -= 1
        else:
            break
    return candidate[:end], candidate[end:]
