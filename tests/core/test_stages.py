"""The stage machine: thresholds, demotion first, the highest promotion, event windows, owners."""

from __future__ import annotations

import pytest

from engine.core.evaluator import MAX_MOVES

from .helpers import DAY, T0, Turns, evaluator, new_lead, process, rules_of

CAMPAIGN = """
attributes {
  job_title: text
  company_size: number = 0
  country: text
}
events {
  page.viewed { url: text }
  demo.requested
  webinar.attended
}
score fit {
  +15 if job_title matches /\\b(VP|Director)\\b/i
  +10 if company_size >= 200
}
score engagement {
  +10 per page.viewed
  +50 per demo.requested
  -30 per email.unsubscribed
}
stage mql {
  when fit >= 20 and engagement >= 40
  back to lead when engagement < 15
}
stage sql {
  when engagement >= 100 or demo.requested within 30 days
  when webinar.attended at least 3 times within 7 days
  assign owner "emea@x.example" when country in ["DE", "FR"]
  assign owner round robin ["ann@x.example", "bob@x.example", "cid@x.example"]
}
"""


@pytest.fixture(scope="module")
def rules():
    return rules_of(CAMPAIGN)


def _atom(rules, event):
    return next(i for i, atom in enumerate(rules.atoms) if atom.event == event)


def _never(_index: int) -> bool:
    return False


def _decide(rules, stage, fit, engagement, hit=_never, **attrs):
    move = rules.stages.decide(stage, attrs, {"fit": fit, "engagement": engagement}, hit)
    return move.to if move else None


def test_the_ladder_follows_declaration_order_after_lead(rules):
    assert [s.name for s in rules.stages.stages] == ["lead", "mql", "sql"]


@pytest.mark.parametrize(("fit", "engagement", "to"), [
    (20, 40, "mql"), (19, 40, None), (20, 39, None), (25, 99, "mql"),
    (0, 100, "sql"), (25, 100, "sql"),  # the highest stage whose condition holds, even past mql
])
def test_promotion_thresholds(rules, fit, engagement, to):
    assert _decide(rules, "lead", fit, engagement) == to


def test_no_move_when_already_in_the_highest_stage_that_holds(rules):
    assert _decide(rules, "mql", 25, 60) is None
    assert _decide(rules, "sql", 25, 200) is None


def test_a_promotion_never_moves_down(rules):
    # sql has no demotion; a lead there whose mql conditions still hold stays in sql
    assert _decide(rules, "sql", 25, 40) is None


def test_demotion_is_tried_before_any_promotion(rules):
    demo = _atom(rules, "demo.requested")
    # in mql with engagement 10: sql's `demo.requested within 30 days` holds, but the demotion wins
    assert _decide(rules, "mql", 25, 10, hit=lambda i: i == demo) == "lead"
    assert _decide(rules, "mql", 25, 15, hit=lambda i: i == demo) == "sql"
    assert _decide(rules, "mql", 25, 14) == "lead"


def test_the_reason_names_the_rule_and_the_scores_it_reads(rules):
    move = rules.stages.decide("lead", {}, {"fit": 20, "engagement": 40}, _never)
    assert move.rule == "when fit >= 20 and engagement >= 40"
    assert set(move.reads) == {"fit", "engagement"}
    back = rules.stages.decide("mql", {}, {"fit": 20, "engagement": 3}, _never)
    assert back.rule == "back to lead when engagement < 15"


def test_a_stage_no_longer_in_the_campaign_starts_again_from_the_bottom(rules):
    assert _decide(rules, "retired", 0, 0) == "lead"
    assert _decide(rules, "retired", 20, 40) == "mql"


def test_the_thresholds_stage_conditions_compare_against(rules):
    assert rules.stages.thresholds == [("engagement", 15.0), ("engagement", 40.0), ("engagement", 100.0),
                                       ("fit", 20.0)]
    # the whole-number score crosses n where the raw score crosses n - 0.5 and n + 0.5
    assert rules.stages.edges["engagement"] == [14.5, 15.5, 39.5, 40.5, 99.5, 100.5]


def test_within_n_days_holds_for_exactly_n_days(rules):
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0 + DAY)
    index = _atom(rules, "demo.requested")
    atom = rules.atoms[index]
    assert atom.within == 30 * DAY
    assert not lead.state.happened(index, atom, T0)  # not before it happened
    assert lead.state.happened(index, atom, T0 + DAY)
    assert lead.state.happened(index, atom, T0 + 31 * DAY - 1)
    assert not lead.state.happened(index, atom, T0 + 31 * DAY)
    assert lead.state.happened_until(index, atom, T0 + 2 * DAY) == T0 + 31 * DAY


def test_at_least_n_times_within_a_window(rules):
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    index = _atom(rules, "webinar.attended")
    atom = rules.atoms[index]
    for day in (0, 3, 6):
        ev.apply_event(lead, "webinar.attended", {}, T0 + day * DAY, f"w{day}")
        ev.evaluate(lead, T0 + day * DAY)
    assert lead.state.happened(index, atom, T0 + 6 * DAY)
    assert lead.stage == "sql"
    # the third most recent attendance leaves the 7-day window at day 7
    assert lead.state.happened(index, atom, T0 + 7 * DAY - 1)
    assert not lead.state.happened(index, atom, T0 + 7 * DAY)


def test_two_attendances_are_not_enough(rules):
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    for day in (0, 1, 10, 11):  # never three within 7 days
        process(ev, lead, "webinar.attended", T0 + day * DAY, key=f"w{day}")
    assert lead.stage == "lead"


def test_an_event_condition_promotes_at_the_event(rules):
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0 + 5)
    assert lead.stage == "sql"
    assert lead.stage_since == T0 + 5
    assert [(c["from_stage"], c["to_stage"]) for c in lead.changes] == [("lead", "sql")]


def test_round_robin_takes_turns_once_per_transition(rules):
    turns = Turns()
    ev = evaluator(rules, turns)
    owners = []
    for n in range(4):
        lead = new_lead(n + 1, f"l{n}@x.example")
        ev.refresh_fit(lead)
        process(ev, lead, "demo.requested", T0 + n)
        ev.evaluate(lead, T0 + n + DAY)  # evaluating again in the same stage assigns nobody new
        owners.append(lead.owner)
        assert [a["kind"] for a in lead.actions] == ["assign_owner"]
    assert owners == ["ann@x.example", "bob@x.example", "cid@x.example", "ann@x.example"]
    assert turns.asked == {"sql": 4}


def test_an_owner_rule_wins_over_round_robin_and_takes_no_turn(rules):
    turns = Turns()
    ev = evaluator(rules, turns)
    lead = new_lead(country="de")  # text comparisons ignore case
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0)
    assert lead.owner == "emea@x.example"
    assert lead.actions[0]["payload"]["reason"] == """assign owner 'emea@x.example' when country in ["DE", "FR"]"""
    assert turns.asked == {}
    other = new_lead(2, "b@x.example", country="US")
    ev.refresh_fit(other)
    process(ev, other, "demo.requested", T0)
    assert other.owner == "ann@x.example"


def test_a_stage_without_owner_rules_keeps_the_owner(rules):
    turns = Turns()
    ev = evaluator(rules, turns)
    lead = new_lead(job_title="VP Marketing", company_size=500)
    lead.owner = "kept@x.example"
    ev.refresh_fit(lead)
    for i in range(4):
        process(ev, lead, "page.viewed", T0 + i, key=f"v{i}", url="/")
    assert lead.stage == "mql"
    assert lead.owner == "kept@x.example"
    assert lead.actions == []
    assert turns.asked == {}


REENTRY = """
events { demo.requested }
score engagement {
  +50 per demo.requested
  -30 per email.unsubscribed
}
stage sql {
  when engagement >= 40
  back to lead when engagement < 0
  assign owner round robin ["ann@x.example", "bob@x.example", "cid@x.example"]
}
"""


def test_each_new_entry_into_a_stage_is_a_new_assignment():
    rules = rules_of(REENTRY)
    turns = Turns()
    ev = evaluator(rules, turns)
    lead = new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0, key="d1")  # 50: sql
    process(ev, lead, "email.unsubscribed", T0 + 1, key="u1")  # 20: stays
    process(ev, lead, "email.unsubscribed", T0 + 2, key="u2")  # -10: back to lead
    assert lead.stage == "lead"
    process(ev, lead, "demo.requested", T0 + 3, key="d2")  # 40: sql again
    assert [c["to_stage"] for c in lead.changes] == ["sql", "lead", "sql"]
    assert [a["payload"]["owner"] for a in lead.actions] == ["ann@x.example", "bob@x.example"]
    assert turns.asked == {"sql": 2}


FLIP_FLOP = """
events { demo.requested }
score engagement {
  +50 per demo.requested
  -30 per email.unsubscribed
}
stage sql {
  when demo.requested within 30 days
  back to lead when engagement < 0
}
"""


def test_a_campaign_that_flip_flops_stops_after_a_bounded_number_of_moves():
    rules = rules_of(FLIP_FLOP)
    ev, lead = evaluator(rules), new_lead()
    ev.refresh_fit(lead)
    process(ev, lead, "demo.requested", T0, key="d")
    for i in range(2):
        process(ev, lead, "email.unsubscribed", T0 + 1 + i, key=f"u{i}")  # 50 - 60 < 0, demo still recent
    # demote, promote again, demote again...: a bounded number of moves at one instant, then it stops
    flips = lead.changes[1:]
    assert len(flips) == MAX_MOVES
    assert [c["to_stage"] for c in flips] == ["lead", "sql"] * (MAX_MOVES // 2) + ["lead"] * (MAX_MOVES % 2)
    assert {c["at"] for c in lead.changes[1:]} == {lead.changes[1]["at"]}
