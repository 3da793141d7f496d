"""Scoring on plain values: points per event, caps per rolling window, decay, floor, rounding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.conditions import HappenedAtom
from engine.core.scoring import LeadState, ScoreModel, SumEdge, steady_until, sum_crossing

from .helpers import DAY, HOUR, T0, evaluator, new_lead, rules_of

EVENTS = """
events {
  page.viewed { url: text }
  content.downloaded
  demo.requested
}
"""

PLAIN = EVENTS + """
attributes { job_title: text }
score engagement {
  +5 per email.opened
  +10 per content.downloaded
  +20 per page.viewed where url contains "/pricing" max 60 per 7 days
  +25 per demo.requested max 60 per 1 day
  -30 per email.unsubscribed
  -20 if email ends with "@gmail.com"
  +15 if job_title matches /\\bVP\\b/
}
stage mql { when engagement >= 40 }
"""

HALF_LIFE = 30 * DAY
DECAYING = EVENTS + """
score engagement {
  +40 per demo.requested
  +1 per email.opened
  +5 per content.downloaded
  decay half-life 30 days
}
score heat {
  +100 per demo.requested
  decay 20% every 7 days
}
stage mql { when engagement >= 40 or heat >= 50 }
"""

FLOORED = EVENTS + """
score engagement {
  +5 per email.opened
  +50 per demo.requested
  -30 per email.unsubscribed
  floor 0
}
stage mql { when engagement >= 40 }
"""


@pytest.fixture(scope="module")
def plain():
    return rules_of(PLAIN)


def _score(rules, lead, at, name="engagement"):
    return lead.state.score(rules.scores[name], at)


def test_each_event_earns_its_rule_points(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    for i, etype in enumerate(["email.opened", "email.opened", "content.downloaded", "email.opened"]):
        ev.apply_event(lead, etype, {}, T0 + i * HOUR, f"e{i}")
    assert _score(plain, lead, T0 + DAY) == 3 * 5 + 10


def test_an_event_filter_decides_whether_points_are_earned(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    assert not ev.apply_event(lead, "page.viewed", {"url": "/blog"}, T0, "blog")
    assert ev.apply_event(lead, "page.viewed", {"url": "/PRICING/teams"}, T0 + 1, "pricing")
    assert _score(plain, lead, T0 + 2) == 20
    rule = '+20 per page.viewed where url contains "/pricing" max 60 per 7 days'
    assert [line["rule"] for line in lead.ledger] == [rule]


def test_events_without_rules_earn_nothing(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    assert not ev.apply_event(lead, "email.clicked", {}, T0, "k")
    assert _score(plain, lead, T0) == 0
    assert lead.ledger == []


def test_a_cap_holds_within_its_window_and_slides_with_it(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    pricing = {"url": "/pricing"}
    # three visits use up the 60 points the rule allows per 7 days; a fourth earns nothing
    for i in range(4):
        ev.apply_event(lead, "page.viewed", pricing, T0 + i * HOUR, f"v{i}")
    assert [line["points"] for line in lead.ledger] == [20, 20, 20]
    assert _score(plain, lead, T0 + DAY) == 60
    # a second before the first visit is 7 days old, the window is still full
    ev.apply_event(lead, "page.viewed", pricing, T0 + 7 * DAY - 1, "early")
    assert _score(plain, lead, T0 + 7 * DAY) == 60
    # once the first visit has left the window, its 20 points can be earned again (only those)
    ev.apply_event(lead, "page.viewed", pricing, T0 + 7 * DAY, "back")
    ev.apply_event(lead, "page.viewed", pricing, T0 + 7 * DAY + 1, "still full")
    assert _score(plain, lead, T0 + 8 * DAY) == 80
    # an hour later the second visit has left as well
    ev.apply_event(lead, "page.viewed", pricing, T0 + 7 * DAY + HOUR, "second back")
    assert _score(plain, lead, T0 + 8 * DAY) == 100
    assert sum(line["points"] for line in lead.ledger) == 100


def test_a_cap_awards_the_part_that_still_fits(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    for i in range(3):
        ev.apply_event(lead, "demo.requested", {}, T0 + i * HOUR, f"d{i}")
    # +25 +25, then only 10 of the next 25 fit under 60 per day
    assert [line["points"] for line in lead.ledger] == [25, 25, 10]
    assert _score(plain, lead, T0 + 3 * HOUR) == 60


def test_negative_rules_lower_the_score(plain):
    ev, lead = evaluator(plain), new_lead(email="someone@gmail.com", job_title="VP Sales")
    ev.refresh_fit(lead)
    assert lead.state.fit == {"engagement": -20 + 15}
    ev.apply_event(lead, "email.unsubscribed", {}, T0, "u")
    ev.apply_event(lead, "content.downloaded", {}, T0 + 1, "c")
    assert _score(plain, lead, T0 + 2) == -20 + 15 - 30 + 10
    assert [line["points"] for line in lead.ledger] == [-30, 10]


def test_a_negative_rule_is_never_capped(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    for i in range(5):
        ev.apply_event(lead, "email.unsubscribed", {}, T0 + i, f"u{i}")
    assert _score(plain, lead, T0 + 10) == -150


@pytest.fixture(scope="module")
def decaying():
    return rules_of(DECAYING)


def test_a_half_life_halves_the_points(decaying):
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "demo.requested", {}, T0, "d")
    model = decaying.scores["engagement"]
    assert lead.state.raw_score(model, T0) == 40
    assert lead.state.raw_score(model, T0 + HALF_LIFE) == pytest.approx(20, rel=1e-12)
    assert lead.state.raw_score(model, T0 + 2 * HALF_LIFE) == pytest.approx(10, rel=1e-12)
    assert lead.state.score(model, T0 + HALF_LIFE) == 20


def test_decay_by_a_percentage_per_period(decaying):
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "demo.requested", {}, T0, "d")
    model = decaying.scores["heat"]
    assert lead.state.raw_score(model, T0 + 7 * DAY) == pytest.approx(80, rel=1e-12)
    assert lead.state.raw_score(model, T0 + 21 * DAY) == pytest.approx(100 * 0.8**3, rel=1e-12)


@given(offsets=st.lists(st.integers(0, 120 * 24), min_size=1, max_size=8),
       read_after=st.floats(0, 200 * DAY, allow_nan=False))
def test_decay_is_exact_at_any_instant(decaying, offsets, read_after):
    """Each event's points decay from its own time, whatever the events' order in time."""
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    times = sorted(T0 + h * HOUR for h in offsets)
    for i, at in enumerate(times):
        ev.apply_event(lead, "demo.requested", {}, at, f"d{i}")
    now = times[-1] + read_after
    expected = sum(40 * 0.5 ** ((now - at) / HALF_LIFE) for at in times)
    assert lead.state.raw_score(decaying.scores["engagement"], now) == pytest.approx(expected, rel=1e-9)


def test_a_score_read_before_its_last_event_is_not_inflated(decaying):
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "demo.requested", {}, T0, "d")
    # decay only runs forward: a read earlier than the stored sum gives the sum itself
    assert lead.state.raw_score(decaying.scores["engagement"], T0 - DAY) == 40


def test_the_read_score_rounds_half_up(decaying):
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "content.downloaded", {}, T0, "c")  # +5
    ev.apply_event(lead, "email.opened", {}, T0, "o")  # +1
    model = decaying.scores["engagement"]
    # 6 points after one half-life are 3.0; after two, 1.5 reads as 2 (not banker's 2, not 1)
    assert lead.state.score(model, T0 + HALF_LIFE) == 3
    assert lead.state.raw_score(model, T0 + 2 * HALF_LIFE) == pytest.approx(1.5, rel=1e-12)
    assert lead.state.score(model, T0 + 2 * HALF_LIFE) == 2


@pytest.mark.parametrize(("raw", "shown"), [(2.5, 3), (3.5, 4), (2.4999, 2), (0.5, 1), (-2.5, -2), (-2.5001, -3),
                                            (40.49, 40), (39.5, 40)])
def test_rounding_of_a_stored_sum(raw, shown):
    model = ScoreModel("s", None)
    state = LeadState({"sums": {"s": [raw, T0]}})
    assert state.score(model, T0) == shown


@pytest.fixture(scope="module")
def floored():
    return rules_of(FLOORED)


def test_a_floor_clamps_the_score_when_read(floored):
    ev, lead = evaluator(floored), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "email.unsubscribed", {}, T0, "u")
    model = floored.scores["engagement"]
    assert lead.state.score(model, T0) == 0
    # the stored sum is not clamped: later points first pay back what is below the floor
    ev.apply_event(lead, "demo.requested", {}, T0 + 1, "d")
    assert lead.state.score(model, T0 + 1) == -30 + 50


@pytest.mark.parametrize("order", [["email.opened", "email.unsubscribed"], ["email.unsubscribed", "email.opened"]])
def test_the_floor_does_not_depend_on_the_order_of_events(floored, order):
    ev, lead = evaluator(floored), new_lead()
    ev.refresh_fit(lead)
    for i, etype in enumerate(order):
        ev.apply_event(lead, etype, {}, T0 + i, f"e{i}")
    model = floored.scores["engagement"]
    assert lead.state.raw_score(model, T0 + 5) == 0  # 5 - 30 = -25, read as the floor
    ev.apply_event(lead, "demo.requested", {}, T0 + 5, "d")
    assert lead.state.score(model, T0 + 5) == 5 - 30 + 50


def test_state_survives_a_json_round_trip(plain):
    ev, lead = evaluator(plain), new_lead()
    ev.refresh_fit(lead)
    for i in range(4):
        ev.apply_event(lead, "page.viewed", {"url": "/pricing"}, T0 + i, f"v{i}")
    again = LeadState(lead.state.to_json())
    model = plain.scores["engagement"]
    assert again.to_json() == lead.state.to_json()
    assert again.score(model, T0 + 10) == 60
    rule = next(r for r in model.event_rules if r.event == "page.viewed")
    assert again.award(model, rule, T0 + 10) == 0  # the cap window came back too


def test_points_decay_continuously_not_in_steps(decaying):
    ev, lead = evaluator(decaying), new_lead()
    ev.refresh_fit(lead)
    ev.apply_event(lead, "demo.requested", {}, T0, "d")
    model = decaying.scores["engagement"]
    samples = [lead.state.raw_score(model, T0 + h * HOUR) for h in range(0, 48)]
    assert all(b < a for a, b in zip(samples, samples[1:], strict=False))
    assert samples[1] == pytest.approx(40 * math.exp(-math.log(2) * HOUR / HALF_LIFE), rel=1e-12)


@given(times=st.lists(st.integers(0, 50), max_size=8), needed=st.integers(1, 4),
       within=st.one_of(st.none(), st.integers(1, 20)), now=st.integers(0, 60))
def test_an_event_condition_counts_only_the_times_up_to_now(times, needed, within, now):
    """Whether an event happened `needed` times (within a window) by `now`: the recorded times are
    kept in order, so those up to now are the first ones, as a plain count over every time finds."""
    atom = HappenedAtom("demo.requested", None, needed, within)
    state = LeadState()
    for t in times:
        state.record_hit(0, atom, float(t))
    upto = [t for t in state.hits.get(0, []) if t <= now]
    expected = len(upto) >= needed and (within is None or upto[-needed] > now - within)
    assert state.happened(0, atom, float(now)) == expected


HALF_WAY = ScoreModel("s", None, decay_rate=math.log(2) / DAY)
STEADY = ScoreModel("t", None, decay_rate=math.log(2) / (10 * DAY))


def test_decay_takes_a_score_read_half_way_up_off_its_whole_number_at_once():
    """A raw 2.5 reads 3 (half up), and 2 the instant decay moves it: its next step is now, not never."""
    state = LeadState({"sums": {"s": [2.5, T0], "t": [10.0, T0]}})
    assert state.score(HALF_WAY, T0) == 3 and state.score(HALF_WAY, T0 + 1) == 2
    assert steady_until(state, HALF_WAY, 3, T0) == T0
    models = {"s": HALF_WAY, "t": STEADY}
    # alone in a sum, and beside another decaying score: the sum 3 + 10 falls below 12.5 at once, when s reads 2
    assert sum_crossing(state, models, SumEdge((("s", 1.0),), 2.5), T0) == T0
    assert sum_crossing(state, models, SumEdge((("s", 1.0), ("t", 1.0)), 12.5), T0) == T0
    # half-way below zero, rounding already took the score up, and decay moves it further up: no step now
    rising = LeadState({"sums": {"s": [-2.5, T0]}})
    assert rising.score(HALF_WAY, T0) == rising.score(HALF_WAY, T0 + 1) == -2
    assert steady_until(rising, HALF_WAY, -2, T0) > T0 + HOUR
