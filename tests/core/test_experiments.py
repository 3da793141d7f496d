"""Split steps (A/B experiments) on plain values: assignment, the journey decision, comparison and the winner."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from dsl.campaign import parse_sources
from engine.core.experiments import (
    MIN_LEADS_PER_ARM,
    Arm,
    ArmFigures,
    AssignArm,
    assign,
    choose,
    compare,
    p_value,
    pick,
)
from engine.core.journeys import Enqueue, Enrollment, EnrollmentStatus, JourneyDecisions, LeadView, Park
from engine.core.rules import compile_rules

CAMPAIGN = """
settings {
  sender address "hello@acme.example"
  experiment seed "unit"
}
events {
  demo.requested
}
journey welcome {
  enter when demo.requested
  subject: split "welcome_subject" {
    50% plain: send "welcome_a"
    50% story {
      send "welcome_b"
      wait 1 day
      send "case_study"
    }
    goal click within 7 days
    pick winner at 95% confidence
  }
  wait 2 days
}
"""
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
RULES = compile_rules(parse_sources({"campaign.nurture": CAMPAIGN}))
PLAN = RULES.journeys["welcome"].experiments["welcome_subject"]
HALVES = (Arm("a", 50, None), Arm("b", 50, None))


class Recorded:
    """Earlier assignments and winners, as the store would answer."""

    def __init__(self, arms: dict[tuple[int, str], str] | None = None, winners: dict[str, str] | None = None):
        self.arms = arms or {}
        self.winners = winners or {}

    def arm_of(self, lead_id: int, split: str) -> str | None:
        return self.arms.get((lead_id, split))

    def winner(self, split: str) -> str | None:
        return self.winners.get(split)


# ----- assignment -------------------------------------------------------------------------------------


def test_assignment_is_stable_per_lead_and_seed_and_ignores_case():
    first = [assign("s", "split", f"lead{i}@example.com", HALVES) for i in range(200)]
    assert first == [assign("s", "split", f"LEAD{i}@example.com ", HALVES) for i in range(200)]
    other_seed = [assign("t", "split", f"lead{i}@example.com", HALVES) for i in range(200)]
    other_split = [assign("s", "other", f"lead{i}@example.com", HALVES) for i in range(200)]
    assert first != other_seed and first != other_split  # the seed and the split's name both count


@pytest.mark.parametrize("weights", [(50, 50), (20, 30, 50), (10, 90), (1, 99)])
def test_ten_thousand_leads_share_out_within_a_point_of_the_weights(weights):
    arms = tuple(Arm(f"arm{i}", w, None) for i, w in enumerate(weights))
    counts = Counter(assign("seed", "split", f"person{i}@example.com", arms) for i in range(10_000))
    for arm in arms:
        assert abs(counts[arm.name] / 10_000 - arm.weight / 100) < 0.01, (arm, counts)


def test_a_lead_keeps_its_arm_and_later_leads_get_the_winner():
    hashed = assign("s", PLAN.name, "ann@example.com", PLAN.arms)
    other = next(a.name for a in PLAN.arms if a.name != hashed)
    assert choose(PLAN, "s", 1, "ann@example.com", Recorded()) == (hashed, True)
    # assigned before a winner was picked: it keeps its arm
    assert choose(PLAN, "s", 1, "ann@example.com",
                  Recorded({(1, PLAN.name): hashed}, {PLAN.name: other})) == (hashed, False)
    # a lead reaching the split after the decision goes down the winner's arm, whatever its hash
    assert choose(PLAN, "s", 2, "ann@example.com", Recorded(winners={PLAN.name: other})) == (other, True)
    # an arm removed by an edit: the lead goes by the rule again, its record kept as it was
    assert choose(PLAN, "s", 1, "ann@example.com", Recorded({(1, PLAN.name): "gone"})) == (hashed, False)


# ----- the journey decision ------------------------------------------------------------------------------


def _advance(email: str, experiments: Recorded | None = None) -> list:
    lead = LeadView(7, email, {}, {}, "lead", None, False)
    enrollment = Enrollment(3, 7, "welcome", 1, 1, "subject", EnrollmentStatus.ACTIVE, T0, None, {}, T0)
    return JourneyDecisions(RULES, 1, T0, lambda *args: [], experiments).advance(enrollment, lead)


def _email_of(arm: str) -> str:
    return next(e for i in range(100) if assign("unit", "welcome_subject", e := f"p{i}@example.com", PLAN.arms) == arm)


def test_the_split_runs_the_arm_then_goes_on_after_the_split():
    effects = _advance(_email_of("plain"))
    assert [type(e) for e in effects] == [AssignArm, Enqueue, Park]
    assert (effects[0].split, effects[0].arm, effects[0].at) == ("welcome_subject", "plain", T0)
    assert effects[1].template == "welcome_a"
    assert effects[2].step == "wait_2_days"  # after the arm's only step, the step after the split
    story = _advance(_email_of("story"))
    assert story[0].arm == "story" and story[1].template == "welcome_b" and story[2].step == "wait_1_day"


def test_a_recorded_arm_is_not_recorded_again_and_the_winner_takes_new_leads():
    email = _email_of("plain")
    effects = _advance(email, Recorded({(7, "welcome_subject"): "story"}))
    assert not any(isinstance(e, AssignArm) for e in effects)
    assert effects[0].template == "welcome_b"
    effects = _advance(email, Recorded(winners={"welcome_subject": "story"}))
    assert effects[0].arm == "story" and effects[1].template == "welcome_b"


# ----- comparing arms and picking a winner -------------------------------------------------------------


def test_interval_matches_newcombes_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II: 56/70 - 48/80, method 10: 0.0524 to 0.3339
    result = compare(ArmFigures("control", 80, 80, 48), ArmFigures("other", 70, 70, 56))
    assert (round(result.low, 4), round(result.high, 4)) == (0.0524, 0.3339)
    assert result.difference == pytest.approx(0.2) and result.uplift == pytest.approx(1 / 3)


def test_p_value_by_hand():
    # 40/200 against 60/200: pooled 0.25, se = sqrt(0.25 * 0.75 * (1/200 + 1/200)) = 0.0433013, z = 2.309401
    # two-sided p = 2 * (1 - Phi(2.309401)) = 0.020921
    assert p_value(40, 200, 60, 200) == pytest.approx(0.020921, abs=1e-6)
    assert p_value(0, 10, 0, 10) == 1.0  # nothing varies: no evidence either way


def test_confidence_rule_waits_for_enough_leads_and_significance():
    few = [ArmFigures("plain", 99, 99, 5), ArmFigures("story", 99, 99, 60)]
    assert pick(PLAN, few, T0) is None  # under MIN_LEADS_PER_ARM measured leads in an arm
    n = MIN_LEADS_PER_ARM
    close = [ArmFigures("plain", n, n, 20), ArmFigures("story", n, n, 25)]
    assert pick(PLAN, close, T0) is None  # p = 0.40
    clear = [ArmFigures("plain", n, n, 20), ArmFigures("story", n, n, 40)]
    verdict = pick(PLAN, clear, T0)
    assert verdict is not None and verdict.winner == "story" and "p = 0.0020" in verdict.why


def test_date_rule_picks_the_better_rate_on_the_date():
    import dataclasses

    by_date = dataclasses.replace(PLAN, confidence=None, pick_on=dt.date(2026, 3, 10))
    figures = [ArmFigures("plain", 10, 8, 2), ArmFigures("story", 10, 8, 3)]
    assert pick(by_date, figures, dt.datetime(2026, 3, 9, 23, 59, tzinfo=dt.UTC)) is None
    verdict = pick(by_date, figures, dt.datetime(2026, 3, 10, tzinfo=dt.UTC))
    assert verdict is not None and verdict.winner == "story"
    tie = [ArmFigures("plain", 3, 0, 0), ArmFigures("story", 3, 0, 0)]
    assert pick(by_date, tie, dt.datetime(2026, 3, 10, tzinfo=dt.UTC)).winner == "plain"  # the first arm


def test_goal_click_counts_clicks_on_the_arms_own_emails():
    from engine.core.experiments import goal_of

    event, counts = goal_of(PLAN)
    assert event == "email.clicked"
    assert PLAN.templates == {"plain": frozenset({"welcome_a"}), "story": frozenset({"welcome_b", "case_study"})}
    assert counts("story", {"template": "case_study", "url": "https://x.example"})
    assert not counts("plain", {"template": "case_study"})  # not an email of the lead's arm
    assert not counts("plain", {"url": "https://x.example"})  # a click reported without its template
