"""Rendering the example campaign's templates: context, escaping, subject, plain text, links, sandbox, errors."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from dsl.campaign import load_campaign
from dsl.symbols import Symbols, collect
from engine.delivery.render import Renderer, RenderError, html_to_text

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
NOW = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
UNSUBSCRIBE = "https://acme-analytics.example/u/3f9a?lead=17&sig=c0ffee"


def _sources() -> dict[str, str]:
    return {p.relative_to(TEMPLATES).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(TEMPLATES.rglob("*")) if p.is_file()}


def _sendable() -> list[str]:
    return Renderer(_sources()).names()


@pytest.fixture(scope="module")
def symbols() -> Symbols:
    return collect(load_campaign([ROOT / "journeys"], TEMPLATES).files)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(_sources())


_SAMPLES: dict[str, object] = {
    "email": "dana.ruiz@northwind.example",
    "owner": "priya.nair@acme-analytics.example",
    "first_name": "Dana",
    "last_name": "Ruiz",
    "company": "Northwind & Co",
    "job_title": "Head of Analytics",
    "company_size": 600,
    "industry": "E-commerce",
    "country": "DE",
    "timezone": "Europe/Berlin",
    "lead_source": "webinar",
    "interests": ["dashboards", "embedded"],
    "nurture_status": "active",
}
_BY_TYPE: dict[str, object] = {"text": "Sample", "number": 42, "bool": True, "timezone": "UTC",
                               "date": dt.date(2026, 3, 1)}


def _lead(symbols: Symbols, *, full: bool) -> dict[str, object]:
    """Every declared attribute: a realistic value, or (sparse) only the declared defaults and an email."""
    if not full:
        lead: dict[str, object] = dict.fromkeys(symbols.attributes)
        lead.update(symbols.defaults)
        lead["email"] = "someone@gmail.com"
        return lead
    lead = {}
    for name, kind in symbols.attributes.items():
        sample = _SAMPLES.get(name, _BY_TYPE[kind.name])
        lead[name] = sample if name in _SAMPLES or not kind.is_list else [sample]
    return lead


def _context(symbols: Symbols, lead: dict[str, object], *, journey: str | None = "welcome") -> dict[str, object]:
    """The context the engine passes, shaped as the engine builds it."""
    return {
        "lead": lead,
        "scores": dict.fromkeys(symbols.scores, 45),
        "stage": "mql",
        "owner": lead.get("owner"),
        "settings": {key.replace(" ", "_"): value for key, value in symbols.settings.items()
                     if key.replace(" ", "_") in {"sender_name", "sender_address", "reply_to", "sales_address"}},
        "unsubscribe_url": UNSUBSCRIBE,
        "journey": journey,
        "reasons": [{"rule": "job_title matches /Head of/i", "points": 20},
                    {"rule": "page.viewed where url contains \"/pricing\"", "points": 45},
                    {"rule": "email.bounced", "points": -10}],
        "activity": [{"type": "demo.requested", "at": NOW - dt.timedelta(hours=2), "props": {}},
                     {"type": "page.viewed", "at": NOW - dt.timedelta(days=1),
                      "props": {"url": "https://acme-analytics.example/pricing?plan=team&seats=<20>"}}],
        "now": NOW,
    }


# ----- the example campaign ---------------------------------------------------------------------------


@pytest.mark.parametrize("full", [True, False], ids=["full-lead", "sparse-lead"])
@pytest.mark.parametrize("name", _sendable())
def test_every_template_renders(renderer: Renderer, symbols: Symbols, name: str, full: bool) -> None:
    lead = _lead(symbols, full=full)
    email = renderer.render(name, _context(symbols, lead, journey="welcome" if full else None))
    assert email.subject and "\n" not in email.subject and email.subject == email.subject.strip()
    assert "  " not in email.subject and "&amp;" not in email.subject
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert "<script" not in email.html and "seats=<20>" not in email.html
    assert email.text.strip() and "<p" not in email.text and "&amp;" not in email.text
    assert "](http" not in email.text, "markdown link syntax leaked into the plain text"
    if "unsubscribe" in email.html.lower():  # marketing email: the link must work in both parts
        assert UNSUBSCRIBE.replace("&", "&amp;") in email.html
        assert UNSUBSCRIBE in email.text


def test_the_sql_alert_explains_the_lead(renderer: Renderer, symbols: Symbols) -> None:
    email = renderer.render("sql_alert", _context(symbols, _lead(symbols, full=True)))
    assert email.subject == "New SQL: Dana Ruiz at Northwind & Co"
    for part in (email.html, email.text):
        for expected in ("+45", "-10", "Head of Analytics", "demo.requested", "Mon 02 Mar, 12:30 UTC", "welcome",
                         "priya.nair@acme-analytics.example"):
            assert expected in part, expected


def test_the_plain_text_part_is_used_when_there_is_one(renderer: Renderer, symbols: Symbols) -> None:
    email = renderer.render("welcome", _context(symbols, _lead(symbols, full=True)))
    assert email.text.startswith("Hi Dana,\n\nThanks for taking a look at Acme Analytics.")
    assert "   https://acme-analytics.example/embedded\n" in email.text  # the lead is interested in embedding
    assert email.text.rstrip().endswith(f"Unsubscribe: {UNSUBSCRIBE}")


def test_plain_text_is_generated_from_html_when_there_is_no_txt(renderer: Renderer, symbols: Symbols) -> None:
    email = renderer.render("case_study", _context(symbols, _lead(symbols, full=True)))
    assert "Hi Dana," in email.text
    assert "Read the full story (https://acme-analytics.example/customers/northwind)" in email.text
    assert "  * Weekly reporting went from 6 hours to 20 minutes." in email.text
    assert "“The best part is that nobody asks me for a CSV any more.” — Dana Ruiz" in email.text
    assert f"Unsubscribe ({UNSUBSCRIBE}) from these emails" in email.text
    assert "One analyst, 40 dashboards" not in email.text, "the hidden preheader is not body text"
    assert "**" not in email.text and not re.search(r"[ \t]$", email.text, re.M)


# ----- escaping and the subject -------------------------------------------------------------------------


def test_lead_data_is_escaped_in_html_and_plain_in_text_and_subject(renderer: Renderer, symbols: Symbols) -> None:
    lead = _lead(symbols, full=True) | {"first_name": "<script>alert(1)</script>", "company": "A&B <Corp>"}
    email = renderer.render("welcome", _context(symbols, lead))
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "A&amp;B &lt;Corp&gt;" in email.html
    assert email.subject == "Welcome to Acme Analytics, <script>alert(1)</script>"  # a header is plain text
    assert "Hi <script>alert(1)</script>," in email.text and "like A&B <Corp> come" in email.text


def _one(source: str, **more: str) -> Renderer:
    return Renderer({"_layout.html": "<html>{% block body %}{% endblock %}</html>", "x.html": source, **more})


def test_subject_is_collapsed_to_one_line(symbols: Symbols) -> None:
    renderer = _one('{% extends "_layout.html" %}{% block subject %}\n  Hello\n   {{ lead.first_name }}\t!\n'
                    '{% endblock %}{% block body %}Hi{% endblock %}')
    email = renderer.render("x", _context(symbols, _lead(symbols, full=True)))
    assert email.subject == "Hello Dana !"


@pytest.mark.parametrize("source, reason", [
    ('{% extends "_layout.html" %}{% block body %}Hi{% endblock %}', "has no {% block subject %}"),
    ('{% extends "_layout.html" %}{% block subject %} {{ lead.first_name or "" }} {% endblock %}', "empty subject"),
])
def test_a_missing_or_empty_subject_is_an_error(symbols: Symbols, source: str, reason: str) -> None:
    lead = _lead(symbols, full=False)
    with pytest.raises(RenderError, match=re.escape(reason)):
        _one(source).render("x", _context(symbols, lead))


# ----- links --------------------------------------------------------------------------------------------


def test_rewrite_link_rewrites_every_link_but_the_unsubscribe_url(renderer: Renderer, symbols: Symbols) -> None:
    seen: list[str] = []

    def track(url: str) -> str:
        seen.append(url)
        return f"https://t.acme-analytics.example/c/{len(seen)}?to={url}"

    context = _context(symbols, _lead(symbols, full=True))
    for name in ("case_study", "welcome", "sql_alert"):
        email = renderer.render(name, context, rewrite_link=track)
        hrefs = [h.replace("&amp;", "&") for h in re.findall(r'<a\b[^>]*href="([^"]*)"', email.html)]
        for href in hrefs:
            assert href.startswith(("https://t.acme-analytics.example/c/", "mailto:")) or href == UNSUBSCRIBE, href
        for url in re.findall(r"https?://[^\s()<>]+", email.text):
            assert url.startswith("https://t.acme-analytics.example/c/") or url == UNSUBSCRIBE, url
    assert UNSUBSCRIBE not in seen
    assert "https://acme-analytics.example/customers/northwind" in seen
    assert all(not url.startswith("mailto:") for url in seen)
    email = renderer.render("case_study", context, rewrite_link=track)
    assert f'href="{UNSUBSCRIBE.replace("&", "&amp;")}"' in email.html  # kept exactly, still escaped
    assert "&to=https://" not in email.html  # a rewritten URL is escaped in the attribute


def test_html_to_text_shows_links_as_urls() -> None:
    text = html_to_text('<div style="display:none">preview</div><p>Read <a href="https://x.example/a_(b)?q=1&amp;r=2">'
                        'the guide</a>, mail <a href="mailto:hi@x.example">hi@x.example</a> or visit '
                        '<a href="https://x.example/">https://x.example/</a>.</p><p>1. Not a list - really</p>'
                        '<p><img src="https://x.example/logo.png" alt="Acme logo"></p>')
    assert "preview" not in text
    assert "Read the guide (https://x.example/a_(b)?q=1&r=2), mail hi@x.example or visit https://x.example/." in text
    assert "1. Not a list - really" in text
    assert "Acme logo" in text


# ----- errors and the sandbox -----------------------------------------------------------------------------


def test_undefined_variable_names_template_and_line(symbols: Symbols) -> None:
    renderer = _one('{% extends "_layout.html" %}\n{% block subject %}Hi{% endblock %}\n{% block body %}\n'
                    '<p>{{ lead.first_nam }}</p>\n{% endblock %}')
    with pytest.raises(RenderError) as caught:
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))
    assert str(caught.value) == "template x.html line 4: 'dict object' has no attribute 'first_nam'"
    assert (caught.value.template, caught.value.line) == ("x.html", 4)


def test_an_error_in_an_imported_file_names_that_file(symbols: Symbols) -> None:
    renderer = _one('{% extends "_layout.html" %}{% block subject %}Hi{% endblock %}\n{% block body %}'
                    '{% from "_m.html" import card with context %}\n{{ card() }}{% endblock %}',
                    **{"_m.html": "{% macro card() %}\n\n{{ lead.missing }}{% endmacro %}"})
    with pytest.raises(RenderError, match=r"^template _m\.html line 3: .*'missing' \(rendering x\.html\)$"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_syntax_error_names_template_and_line(symbols: Symbols) -> None:
    renderer = _one('{% extends "_layout.html" %}\n{% block subject %}Hi{% endblock %}\n{% if %}')
    with pytest.raises(RenderError, match=r"^template x\.html line 3: "):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_errors_in_the_text_part_name_it(symbols: Symbols) -> None:
    renderer = _one('{% block subject %}Hi{% endblock %}', **{"x.txt": "Hi\n{{ nope }}"})
    with pytest.raises(RenderError, match=r"^template x\.txt line 2: 'nope' is undefined$"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_a_missing_layout_is_reported(symbols: Symbols) -> None:
    renderer = Renderer({"x.html": '{% extends "_layuot.html" %}{% block subject %}Hi{% endblock %}'})
    with pytest.raises(RenderError, match=r"template x\.html line 1: template '_layuot\.html' not found"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_an_unknown_template_suggests_the_closest(renderer: Renderer, symbols: Symbols) -> None:
    with pytest.raises(RenderError, match=r"template 'welcom' not found.*did you mean 'welcome'\?"):
        renderer.render("welcom", _context(symbols, _lead(symbols, full=True)))


@pytest.mark.parametrize("expression", [
    "lead.__class__",
    "''.__class__.__mro__",
    "lead.items.__self__.__class__.__subclasses__()",
    "now.__class__.__init__.__globals__",
    "'{0.__class__}'.format(lead)",
    "cycler.__init__.__globals__.os",
])
def test_the_sandbox_keeps_templates_away_from_python_internals(symbols: Symbols, expression: str) -> None:
    renderer = _one('{% block subject %}Hi{% endblock %}\n{{ ' + expression + ' }}')
    with pytest.raises(RenderError, match=r"^template x\.html line 2: .*unsafe"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_any_failure_inside_a_template_is_a_render_error(symbols: Symbols) -> None:
    renderer = _one('{% block subject %}Hi{% endblock %}\n{{ 1 // lead.company_size }}')
    lead = _lead(symbols, full=False)  # company_size defaults to 0
    with pytest.raises(RenderError, match=r"^template x\.html line 2: ZeroDivisionError"):
        renderer.render("x", _context(symbols, lead))


def test_rendering_uses_only_the_given_sources(symbols: Symbols) -> None:
    sources = {"x.html": "{% block subject %}v1{% endblock %}"}
    renderer = Renderer(sources)
    sources["x.html"] = "{% block subject %}v2{% endblock %}"  # the deployed version does not change underneath
    assert renderer.render("x", _context(symbols, _lead(symbols, full=True))).subject == "v1"
    assert renderer.names() == ["x"]


# ----- missing data ------------------------------------------------------------------------------------


def test_a_missing_value_renders_as_nothing_and_default_replaces_it(symbols: Symbols) -> None:
    renderer = _one('{% block subject %}Pricing for {{ lead.company }}{% endblock %}\n'
                    '<p>Hi {{ lead.first_name }},</p><p>Hello {{ lead.first_name | default("there") }}.</p>'
                    '<p>{{ lead.company | d("your team") }} / {{ owner }} / {{ lead.company | upper }}.</p>',
                    **{"x.txt": 'Hi {{ lead.first_name }}, from {{ lead.company | default("us") }}\n'})
    lead = _lead(symbols, full=False)  # first_name and company are None
    rendered = renderer.render("x", _context(symbols, {**lead, "owner": None}))
    assert rendered.subject == "Pricing for"
    assert "<p>Hi ,</p><p>Hello there.</p><p>your team /  / .</p>" in rendered.html
    assert rendered.text == "Hi , from us"
    assert "None" not in rendered.html + rendered.text + rendered.subject


def test_default_keeps_a_present_value_and_only_replaces_falsy_ones_when_asked(symbols: Symbols) -> None:
    renderer = _one('{% block subject %}S{% endblock %}'
                    '{{ lead.first_name | default("there") }}|{{ lead.company_size | default(5) }}|'
                    '{{ lead.last_name | default("x", true) }}|{{ lead.job_title | default("y") }}')
    lead = {**_lead(symbols, full=True), "company_size": 0, "last_name": "", "job_title": ""}
    assert renderer.render("x", _context(symbols, lead)).html == "SDana|0|x|"


# ----- bounded rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",  # silent, endless
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
    "{% for i in range(10 ** 9) %}{{ i }}{% endfor %}",
], ids=["silent-nested-loops", "printing-nested-loops", "huge-range"])
def test_a_template_that_loops_for_ever_is_stopped(symbols: Symbols, body: str) -> None:
    renderer = _one("{% block subject %}Hi{% endblock %}\n" + body)
    with pytest.raises(RenderError, match=r"^template x\.html( line 2)?: .*(loop|range|limit)"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


@pytest.mark.parametrize("body", [
    "{{ 'x' * 100000000 }}",
    "{{ [1, 2] * 100000000 }}",
    "{{ (7 ** 100000000) % 10 }}",
    "{{ 'x' | center(100000000) }}",
    "{{ 'x'.ljust(100000000) }}",
    "{% for i in range(1000) %}{{ lead.first_name * 100000 }}{% endfor %}",  # 400 MB, a chunk at a time
], ids=["string-repeat", "list-repeat", "power", "center-filter", "ljust-method", "streamed"])
def test_a_template_that_renders_too_much_is_stopped(symbols: Symbols, body: str) -> None:
    renderer = _one("{% block subject %}Hi{% endblock %}\n" + body)
    with pytest.raises(RenderError, match=r"^template x\.html( line 2)?: .*limit"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_the_output_limit_counts_as_the_output_streams(symbols: Symbols) -> None:
    renderer = Renderer({"x.html": "{% block subject %}Hi{% endblock %}{% for i in range(100) %}"
                                   "{{ 'y' * 1000 }}{% endfor %}"}, max_output=50_000)
    with pytest.raises(RenderError, match=r"^template x\.html: renders more than 50,000 characters"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))
    assert len(Renderer({"x.html": "{% block subject %}Hi{% endblock %}{{ 'y' * 40000 }}"},
                        max_output=50_000).render("x", _context(symbols, _lead(symbols, full=True))).html) == 40_002


def test_a_template_over_its_time_budget_is_stopped(symbols: Symbols) -> None:
    renderer = Renderer({"x.html": "{% block subject %}Hi{% endblock %}{% for i in range(10) %}{{ i }}{% endfor %}"},
                        time_limit=0.0)  # every check finds the budget spent
    with pytest.raises(RenderError, match=r"^template x\.html.*: took more than 0 seconds of CPU"):
        renderer.render("x", _context(symbols, _lead(symbols, full=True)))


def test_limits_are_per_render_and_ordinary_templates_are_untouched(renderer: Renderer, symbols: Symbols) -> None:
    bounded = _one("{% block subject %}Hi{% endblock %}{% for i in range(60000) %}{% endfor %}ok")
    for _ in range(3):  # each render has its own budget
        assert bounded.render("x", _context(symbols, _lead(symbols, full=True))).html.endswith("ok")
    for name in _sendable():
        renderer.render(name, _context(symbols, _lead(symbols, full=True)))
