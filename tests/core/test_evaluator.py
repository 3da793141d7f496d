"""The evaluator on one in-memory lead: replay equals incremental, ledgers add up, reviews are exact."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.clock import epoch
from engine.core.evaluator import Evaluator, LeadRecord
from engine.core.scoring import LeadState

from .helpers import DAY, HOUR, T0, Turns, evaluator, new_lead, process, rules_of

CAMPAIGN = """
attributes {
  job_title: text
  company_size: number = 0
  country: text
}
events {
  page.viewed { url: text }
  content.downloaded
  demo.requested
}
score fit {
  +15 if job_title matches /\\b(VP|Director)\\b/i
  +10 if company_size >= 200
}
score engagement {
  +5 per email.opened max 15 per 30 days
  +20 per page.viewed where url contains "/pricing" max 60 per 7 days
  +10 per content.downloaded
  +50 per demo.requested
  -30 per email.unsubscribed
  decay 50% every 30 days
  floor 0
}
stage mql {
  when fit >= 20 and engagement >= 40
  back to lead when engagement < 15
  notify sales with "sql_alert"
}
stage sql {
  when engagement >= 100 or demo.requested within 30 days
  back to mql when engagement < 60 and not demo.requested within 30 days
  assign owner "emea@x.example" when country in ["DE", "FR"]
  assign owner round robin ["ann@x.example", "bob@x.example"]
}
"""
HALF_LIFE = 30 * DAY

RULES = rules_of(CAMPAIGN)

KINDS = [("page.viewed", {"url": "/pricing"}), ("page.viewed", {"url": "/blog"}), ("email.opened", {}),
         ("content.downloaded", {}), ("demo.requested", {}), ("email.unsubscribed", {})]
PEOPLE = [{"job_title": "VP Data", "company_size": 900, "country": "DE"},
          {"job_title": "Director", "company_size": 250, "country": "US"},
          {"job_title": "Intern"}]

#: (kind, hours after T0); several events may share an instant
events_st = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 120 * 24)), min_size=1, max_size=20)
#: per gap between events: where the periodic sweep looks in (0: not at all), as a fraction of the gap
sweeps_st = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.999, 1.0]), min_size=21, max_size=21)


def _ordered(events):
    """Events as ingestion orders them: by time, then by key."""
    keyed = [(T0 + hours * HOUR, f"e{i:02d}", kind, props) for i, ((kind, props), hours) in enumerate(events)]
    return sorted(keyed)


def _replay(attrs, events, end):
    ev = Evaluator(RULES, 1, Turns())
    lead = new_lead(**attrs)
    ev.refresh_fit(lead)
    for at, key, kind, props in _ordered(events):
        process(ev, lead, kind, at, key, **props)
    ev.advance(lead, end)
    return lead


def _reload(lead: LeadRecord) -> LeadRecord:
    """The lead as the next transaction loads it: stored columns and state JSON, nothing else."""
    return LeadRecord(lead.id, lead.email, dict(lead.attributes), lead.stage, lead.stage_since, lead.owner,
                      LeadState(copy.deepcopy(lead.state.to_json())), lead.last_event_at, lead.review_at,
                      lead.created_at)


def _incremental(attrs, events, sweeps, end):
    """One transaction per event, with the periodic sweep looking in between."""
    turns = Turns()  # the counter lives in the store, so it outlives every evaluator
    lead = new_lead(**attrs)
    Evaluator(RULES, 1, turns).refresh_fit(lead)
    ledger, changes, actions = [], [], []

    def commit(current: LeadRecord) -> LeadRecord:
        ledger.extend(current.ledger)
        changes.extend(current.changes)
        actions.extend(current.actions)
        return _reload(current)

    lead = commit(lead)
    previous = T0
    for (at, key, kind, props), where in zip(_ordered(events), sweeps, strict=False):
        if where:
            lead = _reload(lead)
            Evaluator(RULES, 1, turns).advance(lead, previous + where * (at - previous))
            lead = commit(lead)
        process(Evaluator(RULES, 1, turns), lead, kind, at, key, **props)
        lead = commit(lead)
        previous = at
    Evaluator(RULES, 1, turns).advance(lead, end)
    lead = commit(lead)
    lead.ledger, lead.changes, lead.actions = ledger, changes, actions
    return lead


def _outcome(lead: LeadRecord) -> dict:
    return {"stage": lead.stage, "since": lead.stage_since, "owner": lead.owner, "review": lead.review_at,
            "state": lead.state.to_json(), "ledger": lead.ledger, "changes": lead.changes,
            "actions": lead.actions, "scores": lead.scope(RULES, T0 + 200 * DAY)}


@settings(max_examples=200, deadline=None)
@given(attrs=st.sampled_from(PEOPLE), events=events_st, sweeps=sweeps_st)
def test_replaying_from_empty_equals_applying_one_by_one(attrs, events, sweeps):
    end = T0 + 150 * DAY
    assert _outcome(_incremental(attrs, events, sweeps, end)) == _outcome(_replay(attrs, events, end))


@settings(max_examples=200, deadline=None)
@given(attrs=st.sampled_from(PEOPLE), events=events_st, later=st.integers(0, 90 * 24))
def test_ledger_lines_add_up_to_the_raw_score(attrs, events, later):
    lead = _replay(attrs, events, T0)
    now = max(at for at, *_ in _ordered(events)) + later * HOUR
    fit = lead.state.fit["fit"]
    assert fit == (15 if attrs.get("job_title") in ("VP Data", "Director") else 0) \
        + (10 if attrs.get("company_size", 0) >= 200 else 0)
    assert lead.state.raw_score(RULES.scores["fit"], now) == fit
    lines = [(line["points"], epoch(line["at"])) for line in lead.ledger if line["score"] == "engagement"]
    decayed = sum(points * 0.5 ** ((now - at) / HALF_LIFE) for points, at in lines)
    raw = lead.state.raw_score(RULES.scores["engagement"], now)
    assert raw == pytest.approx(max(0.0, decayed), rel=1e-9, abs=1e-9)  # floor 0
    assert lead.scope(RULES, now)["engagement"] == math.floor(raw + 0.5)


def test_ledger_lines_name_their_rule_and_event():
    ev, lead = evaluator(RULES), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "content.downloaded", T0, key="evt-1")
    (line,) = lead.ledger
    assert (line["score"], line["rule"], line["points"], line["event_key"], epoch(line["at"])) == \
        ("engagement", "+10 per content.downloaded", 10, "evt-1", T0)


DECAY = """
attributes { vip: bool = false }
events { demo.requested }
score engagement {
  +70 if vip = true
  +50 per demo.requested
  -60 per email.unsubscribed
  decay half-life 10 days
}
stage mql {
  when engagement >= 40
  back to lead when engagement < 15
}
"""
HALF = 10 * DAY
AFTER = 0.001  # reviews run a millisecond after the crossing


def _cross(start: float, target: float) -> float:
    """When 50 points taken at T0 decay to ``target``: 50 * 2^(-t/HALF) = target."""
    return T0 + HALF * math.log2(start / target)


def test_each_review_is_when_the_decaying_score_crosses_a_threshold_edge():
    rules = rules_of(DECAY)
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0)
    assert lead.stage == "mql"
    reviews = []
    while lead.review_at is not None:
        reviews.append(lead.review_at)
        ev.evaluate(lead, lead.review_at)
    # whole-number scores change across 40 at raw 40.5 and 39.5, across 15 at 15.5 and 14.5
    expected = [_cross(50, edge) + AFTER for edge in (40.5, 39.5, 15.5, 14.5)]
    assert reviews == pytest.approx(expected, abs=1e-4)
    assert [(c["to_stage"], epoch(c["at"])) for c in lead.changes] == [
        ("mql", T0), ("lead", pytest.approx(_cross(50, 14.5) + AFTER, abs=1e-4))]


def test_the_stage_changes_just_after_the_crossing_and_not_before():
    rules = rules_of(DECAY)
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0)
    crossing = _cross(50, 14.5)
    model = rules.scores["engagement"]
    before, after = copy.deepcopy(lead), copy.deepcopy(lead)
    ev.evaluate(before, crossing - 0.01)
    ev.evaluate(after, crossing + 0.01)
    assert (before.stage, before.state.score(model, crossing - 0.01)) == ("mql", 15)
    assert (after.stage, after.state.score(model, crossing + 0.01)) == ("lead", 14)
    # advancing lands on the review right after the crossing, whatever time it is asked up to
    ev.advance(lead, crossing + 30 * DAY)
    assert lead.stage == "lead"
    assert lead.stage_since == pytest.approx(crossing + AFTER, abs=1e-4)
    assert lead.review_at is None  # heading to 0, no edge left below


def test_a_score_rising_back_toward_its_fit_is_reviewed_when_it_crosses_up():
    rules = rules_of(DECAY)
    ev, lead = evaluator(rules), new_lead(vip=True)
    ev.refresh_fit(lead)
    ev.evaluate(lead, T0)
    assert lead.stage == "mql"  # fit 70
    process(ev, lead, "email.unsubscribed", T0)  # 70 - 60 = 10: back to lead
    assert lead.stage == "lead"
    # 70 - 60 * 2^(-t/HALF) reaches 39.5 (reads as 40) when 2^(-t/HALF) = 30.5 / 60
    up = T0 + HALF * math.log2(60 / 30.5)
    ev.advance(lead, T0 + 60 * DAY)
    assert [c["to_stage"] for c in lead.changes] == ["mql", "lead", "mql"]
    assert epoch(lead.changes[-1]["at"]) == pytest.approx(up + AFTER, abs=1e-4)


def test_a_closing_event_window_is_reviewed_when_it_closes():
    ev, lead = evaluator(RULES), new_lead(job_title="Intern")
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0 + HOUR)
    assert lead.stage == "sql"  # demo.requested within 30 days
    # the first review is the first threshold edge of the decaying 50 (40.5, after ~9 days),
    # well before the window closes at +30 days
    first_edge = T0 + HOUR + HALF_LIFE * math.log2(50 / 40.5)
    assert lead.review_at == pytest.approx(first_edge + AFTER, abs=1e-4)
    ev.advance(lead, T0 + HOUR + 30 * DAY - 1)
    assert lead.stage == "sql"
    ev.advance(lead, T0 + HOUR + 30 * DAY + 1)
    # 50 * 2^-1 = 25 < 60 and the demo is no longer recent: back to mql, whose demotion needs < 15
    assert [(c["to_stage"], epoch(c["at"])) for c in lead.changes] == [
        ("sql", T0 + HOUR), ("mql", pytest.approx(T0 + HOUR + 30 * DAY + AFTER, abs=1e-4))]


def test_evaluating_twice_at_one_instant_changes_nothing():
    ev, lead = evaluator(RULES), new_lead(**PEOPLE[0])
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0)
    snapshot = _outcome(lead)
    ev.evaluate(lead, T0)
    assert _outcome(lead) == snapshot
