"""Small campaigns from DSL text, compiled to runtime rules, and leads as plain values."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from dsl.campaign import parse_sources
from dsl.checker import check_files
from dsl.diagnostics import Severity
from engine.core.evaluator import Evaluator, LeadRecord
from engine.core.rules import Rules, compile_rules
from engine.core.scoring import LeadState

#: no template directory: templates are not the core's concern, so their checks are skipped
NO_TEMPLATES = Path(__file__).resolve().parent / "no-templates"
#: unknown template, a template reading what a lead lacks, a template syntax error, an unknown name in one
TEMPLATE_CODES = frozenset({"E105", "E305", "E306", "E308"})
DAY = 86_400.0
HOUR = 3_600.0
#: 2026-03-02 00:00 UTC, a Monday, as epoch seconds (computed without the code under test)
T0 = (dt.datetime(2026, 3, 2, tzinfo=dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds()


def rules_of(text: str) -> Rules:
    """Parse, check (no errors allowed) and compile one campaign file."""
    campaign = parse_sources({"campaign.nurture": text})
    errors = [d for d in check_files(campaign.files, NO_TEMPLATES)
              if d.severity is Severity.ERROR and d.code not in TEMPLATE_CODES]
    assert not errors, [f"{d.code} {d.title} ({d.label})" for d in errors]
    return compile_rules(campaign)


class Turns:
    """A plain round-robin counter per stage, counting how often it was asked."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    def __call__(self, stage: str) -> int:
        turn = self.asked[stage]
        self.asked[stage] += 1
        return turn


def new_lead(lead_id: int = 1, email: str = "a@x.example", stage_since: float = T0, **attributes) -> LeadRecord:
    return LeadRecord(lead_id, email, dict(attributes), "lead", stage_since, None, LeadState(), created_at=stage_since)


def evaluator(rules: Rules, turns: Turns | None = None) -> Evaluator:
    return Evaluator(rules, 1, turns or Turns())


def process(ev: Evaluator, lead: LeadRecord, etype: str, at: float, key: str = "k", **props) -> None:
    """What ingestion does with one event: time first, then the event, then the stage."""
    ev.advance(lead, at)
    if ev.apply_event(lead, etype, props, at, key):
        ev.evaluate(lead, at)
