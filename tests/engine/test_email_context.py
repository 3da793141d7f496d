"""What a template sees of a lead: declared attributes, with placeholder values read as the rules read them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dsl.campaign import load_campaign
from engine.core.journeys import LeadView
from engine.core.rules import compile_rules
from engine.delivery.context import email_context
from engine.delivery.render import Renderer

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _lead(**attributes: object) -> LeadView:
    return LeadView(id=1, email="ann@example.com", attributes=dict(attributes), scores={"fit": 0, "engagement": 0},
                    stage="lead", owner=None, unsubscribed=False)


def _getting_started(attributes: dict[str, object]) -> str:
    rules = compile_rules(load_campaign(sorted((ROOT / "journeys").glob("*.nurture"))))
    context = email_context(None, rules, _lead(**attributes), NOW, "https://example.com/u", "welcome", False)
    templates = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "templates").iterdir()}
    return Renderer(templates).render("getting_started", context).html


def test_a_placeholder_value_is_not_shown_in_an_email() -> None:
    # the example campaign declares `industry: text missing when "Select", "N/A"`
    html = _getting_started({"industry": "Select", "first_name": "Ann"})
    assert "Select" not in html
    assert "built for" not in html  # the template's `{% if lead.industry %}` reads no industry


def test_a_real_value_is_shown() -> None:
    assert "built for Fintech teams" in _getting_started({"industry": "Fintech", "first_name": "Ann"})
