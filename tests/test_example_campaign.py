"""The example campaign in journeys/ and templates/ is what `nurture check`, the demo and new users start
from, so it must stay clean, complete and renderable."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import jinja2
import pytest

from dsl import ast as a
from dsl.campaign import discover, load_campaign
from dsl.formatter import format_source
from dsl.parser import parse_source, read_source
from dsl.symbols import Symbols, collect

ROOT = Path(__file__).resolve().parent.parent
JOURNEYS = ROOT / "journeys"
TEMPLATES = ROOT / "templates"

SITE = "acme-analytics.example"


# ----- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def campaign():
    return load_campaign([JOURNEYS], TEMPLATES)


@pytest.fixture(scope="module")
def symbols(campaign) -> Symbols:
    return collect(campaign.files)


def _nodes(campaign) -> list[a.Node]:
    return [node for file in campaign.files for item in file.items for node in item.walk()]


def _referenced(campaign) -> dict[str, str]:
    """Template name -> how it is used: "send" (marketing email) or "notify" (internal alert)."""
    used: dict[str, str] = {}
    for node in _nodes(campaign):
        if isinstance(node, a.Send):
            used[str(node.template)] = "send"
        elif isinstance(node, a.Notify | a.NotifyAction):
            used.setdefault(str(node.template), "notify")
    return used


def _sendable() -> list[str]:
    return sorted(p.stem for p in TEMPLATES.glob("*.html") if not p.name.startswith("_"))


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
    )


_SAMPLE_BY_TYPE: dict[str, object] = {
    "text": "Sample text",
    "number": 420,
    "bool": True,
    "date": dt.date(2026, 3, 2),
    "timezone": "Europe/Berlin",
}
_SAMPLE_BY_NAME: dict[str, object] = {
    "email": "dana.ruiz@northwind.example",
    "owner": "priya.nair@acme-analytics.example",
    "first_name": "Dana",
    "last_name": "O'Neill <Ruiz>",  # escaping must hold
    "company": "Northwind & Co",
    "job_title": "Head of Analytics",
    "country": "DE",
    "industry": "E-commerce",
    "interests": ["dashboards", "embedded"],
}


def _full_lead(symbols: Symbols) -> dict[str, object]:
    """Every declared attribute, with a plausible value for its type."""
    lead: dict[str, object] = {}
    for name, type_ in symbols.attributes.items():
        if name in _SAMPLE_BY_NAME:
            lead[name] = _SAMPLE_BY_NAME[name]
        else:
            sample = _SAMPLE_BY_TYPE[type_.name]
            lead[name] = [sample] if type_.is_list else sample
    return lead


def _sparse_lead(symbols: Symbols) -> dict[str, object]:
    """A lead we know almost nothing about: declared defaults, an email, everything else empty."""
    lead: dict[str, object] = dict.fromkeys(symbols.attributes)
    lead.update(symbols.defaults)
    lead["email"] = "someone@gmail.com"
    return lead


def _context(symbols: Symbols, lead: dict[str, object], *, journey: str | None) -> dict[str, object]:
    now = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
    return {
        "lead": lead,
        "scores": dict.fromkeys(symbols.scores, 55),
        "stage": "sql",
        "owner": lead.get("owner"),
        "settings": {key.replace(" ", "_"): value for key, value in symbols.settings.items()},
        "unsubscribe_url": "https://acme-analytics.example/u/signed-token",
        "preferences_url": "https://acme-analytics.example/p/signed-token",
        "journey": journey,
        "reasons": [
            {"rule": "job_title matches /\\b(VP|Director)\\b/i", "points": 20},
            {"rule": "page.viewed where url contains \"/pricing\"", "points": 45},
            {"rule": "email.unsubscribed", "points": -30},
        ],
        "activity": [
            {"type": "demo.requested", "at": now - dt.timedelta(hours=1), "props": {}},
            {"type": "page.viewed", "at": now - dt.timedelta(days=1),
             "props": {"url": "https://acme-analytics.example/pricing?a=1&b=<2>"}},
        ],
        "now": now,
    }


def _render_subject(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
    template = env.get_template(f"{name}.html")
    return "".join(template.blocks["subject"](template.new_context(context))).strip()


# ----- the campaign -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", discover([JOURNEYS]), ids=lambda p: p.name)
def test_every_journeys_file_parses(path: Path) -> None:
    source, problems = read_source(path)
    assert source is not None and not problems
    assert parse_source(source).items


@pytest.mark.parametrize("path", discover([JOURNEYS]), ids=lambda p: p.name)
def test_every_journeys_file_is_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text, f"run `nurture fmt journeys` ({path.name} is not formatted)"


def test_campaign_has_no_diagnostics(campaign) -> None:
    shown = [f"{d.span}: {d.code} {d.title}" for d in campaign.diagnostics]
    assert shown == []


def test_campaign_declares_what_the_templates_rely_on(symbols: Symbols) -> None:
    for name in ("first_name", "last_name", "company", "job_title", "company_size", "industry", "country",
                 "timezone", "lead_source", "interests"):
        assert name in symbols.attributes, name
    assert symbols.attributes["timezone"].name == "timezone"
    assert symbols.attributes["interests"].is_list
    assert {"sender name", "sender address", "reply to", "sales address", "default timezone"} <= set(
        symbols.settings)
    assert symbols.quiet_hours is not None
    assert set(symbols.frequency_caps) == {"day", "week"}
    assert set(symbols.scores) >= {"fit", "engagement"}
    assert symbols.stages[:3] == ["lead", "mql", "sql"]


def test_campaign_uses_every_step_kind(campaign) -> None:
    steps = [n for n in _nodes(campaign) if isinstance(n, a.Step)]
    actions = [s.action for s in steps]
    kinds = {type(action) for action in actions}
    assert kinds == {a.Send, a.Wait, a.WaitEvent, a.WaitTime, a.Branch, a.SetAttribute, a.NotifyAction,
                     a.Split}  # split steps: journeys/split_steps.nurture
    sends = [x for x in actions if isinstance(x, a.Send)]
    assert any(x.window is None for x in sends), "a send without a window"
    assert any(x.window and x.window.days and str(x.window.days) == "weekdays" for x in sends)
    assert any(x.window and x.window.days and str(x.window.days) not in ("weekdays", "weekends")
               for x in sends), "a send on chosen days"
    assert any(isinstance(x, a.WaitEvent) and x.timeout for x in actions), "wait up to N days for an event"
    assert any(isinstance(x, a.Branch) and x.otherwise for x in actions), "if/else"
    assert any(s.label is not None for s in steps) and any(s.label is None for s in steps)


def test_campaign_branches_on_every_kind_of_condition(campaign) -> None:
    conditions = [n for b in _nodes(campaign) if isinstance(b, a.Branch) for n in b.condition.walk()]
    assert any(isinstance(c, a.Happened) and c.since for c in conditions), "event since a step"
    assert any(isinstance(c, a.StageIs) for c in conditions), "stage"
    assert any(isinstance(c, a.Compare) and c.name in ("fit", "engagement") for c in conditions), "score"
    assert any(isinstance(c, a.Compare | a.Presence) and c.name not in ("fit", "engagement")
               for c in conditions), "attribute"


def test_campaign_covers_scoring_and_stage_features(campaign) -> None:
    nodes = _nodes(campaign)
    assert any(isinstance(n, a.AttributeRule) and n.points < 0 for n in nodes), "negative fit points"
    assert any(isinstance(n, a.EventRule) and n.points < 0 for n in nodes), "negative behaviour points"
    assert any(isinstance(n, a.EventRule) and n.cap for n in nodes), "caps per window"
    assert any(isinstance(n, a.Decay) for n in nodes)
    assert any(isinstance(n, a.Demote) for n in nodes)
    assert any(isinstance(n, a.AssignRoundRobin) for n in nodes)
    assert any(isinstance(n, a.AssignWhen) for n in nodes)
    assert any(isinstance(n, a.Notify) and n.template == "sql_alert" for n in nodes)
    entries = [n.trigger for n in nodes if isinstance(n, a.Entry)]
    assert any(isinstance(t, a.Happened) and t.event.event == "sales.rejected" for t in entries)


def test_language_tour_examples_parse_and_are_formatted() -> None:
    tour = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)```", tour, flags=re.S)
    assert blocks
    for block in blocks:
        assert format_source(block, "docs/language.md") == block


# ----- the templates ------------------------------------------------------------------------------


def test_every_referenced_template_exists(campaign) -> None:
    missing = sorted(name for name in _referenced(campaign) if not (TEMPLATES / f"{name}.html").is_file())
    assert missing == []


def test_every_template_is_referenced(campaign) -> None:
    assert sorted(set(_sendable()) - set(_referenced(campaign))) == []


def test_plain_text_parts_belong_to_an_html_template() -> None:
    for part in TEMPLATES.glob("*.txt"):
        assert (TEMPLATES / f"{part.stem}.html").is_file(), part.name


@pytest.mark.parametrize("name", _sendable())
def test_template_defines_subject_and_body(name: str) -> None:
    template = _env().get_template(f"{name}.html")
    assert {"subject", "body"} <= set(template.blocks)
    source = (TEMPLATES / f"{name}.html").read_text()
    assert source.startswith('{% extends "_layout.html" %}')


@pytest.mark.parametrize("name", _sendable())
@pytest.mark.parametrize("who", ["full", "sparse"])
def test_template_renders(campaign, symbols: Symbols, name: str, who: str) -> None:
    env = _env()
    lead = _full_lead(symbols) if who == "full" else _sparse_lead(symbols)
    journey = "welcome" if who == "full" else None
    context = _context(symbols, lead, journey=journey)
    html = env.get_template(f"{name}.html").render(context)
    subject = _render_subject(env, name, context)
    assert subject and "\n" not in subject and len(subject) <= 90, subject
    assert "<script" not in html and "<Ruiz>" not in html and "b=<2>" not in html  # escaped
    if _referenced(campaign).get(name) == "send":
        assert context["unsubscribe_url"] in html, "marketing email without an unsubscribe link"
        assert str(lead["email"]) in html
    if (TEMPLATES / f"{name}.txt").is_file():
        text = env.get_template(f"{name}.txt").render(context)
        assert "&amp;" not in text and "&lt;" not in text and "<p" not in text, "plain text is not HTML"
        if _referenced(campaign).get(name) == "send":
            assert context["unsubscribe_url"] in text


def test_alerts_explain_the_lead(symbols: Symbols) -> None:
    context = _context(symbols, _full_lead(symbols), journey="welcome")
    html = _env().get_template("sql_alert.html").render(context)
    for expected in ("Dana", "Head of Analytics", "+45", "-30", "demo.requested", "welcome",
                     "priya.nair@acme-analytics.example"):
        assert expected in html, expected


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_links_point_at_the_company_site(path: Path) -> None:
    for url in re.findall(r'href="([^"]*)"', path.read_text()):
        if url.startswith(("mailto:", "{{")):
            continue
        assert re.match(rf"https://([a-z-]+\.)?{re.escape(SITE)}/", url), url
