"""An account contact's share, kept between roll-ups until decay or an `active within` window could change it:
at every later time it is what working the share out afresh gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.core.scoring import LeadState
from engine.ingest.accounts import _part
from engine.store.accounts import MemberRow
from tests.core.helpers import DAY, T0, rules_of

CAMPAIGN = """
attributes {
  title: text
}
events {
  page.viewed
}
score engagement {
  +10 per page.viewed
  decay 50% every 7 days
}
score fit {
  +30 if title = "VP"
}
accounts {
  by email domain
  score engagement = sum of engagement
  score best_fit = max of fit
  score least = min of engagement
  score engaged = count where engagement >= 20
  score recent = count active within 3 days
  score vps = count active within 7 days where title = "VP" and engagement >= 10
}
"""
RULES = rules_of(CAMPAIGN)
ACCOUNTS = RULES.accounts


def member(points: float, taken: float, fit: float, last: float | None, title: str) -> MemberRow:
    state = LeadState({"sums": {"engagement": [points, taken]}, "fit": {"fit": fit}})
    return MemberRow(1, "ann@acme.example", {"title": title}, "lead", None, state, last, {})


@settings(max_examples=1000, deadline=None)
@given(points=st.floats(-60, 400), taken=st.floats(0, 20 * DAY), fit=st.sampled_from([0.0, 30.0]),
       last=st.none() | st.floats(0, 30 * DAY), title=st.sampled_from(["VP", "Analyst"]),
       times=st.lists(st.floats(0, 60 * DAY), min_size=1, max_size=25))
# exactly half-way at the moment its points were taken: rounding holds 0.5 at 1, decay takes it to 0 at once
@example(points=0.5, taken=0.0, fit=0.0, last=None, title="VP", times=[0.0, 1.0])
def test_a_kept_share_is_the_share_worked_out_afresh(points, taken, fit, last, title, times):
    assert ACCOUNTS is not None
    row = member(points, T0 + taken, fit, None if last is None else T0 + last, title)
    for at in sorted(T0 + t for t in times):  # roll-ups come in time order
        kept = _part(RULES, ACCOUNTS, row, at)
        fresh = _part(RULES, ACCOUNTS, row._replace(memo={}), at)
        assert kept == fresh, (points, taken, fit, last, title, times, at)


def test_a_share_is_kept_while_nothing_can_change_it_and_worked_out_again_after():
    assert ACCOUNTS is not None
    row = member(0.0, T0, 30.0, None, "Analyst")  # no engagement, never active: nothing moves
    first = _part(RULES, ACCOUNTS, row, T0)
    assert _part(RULES, ACCOUNTS, row, T0 + 300 * DAY) is first
    active = member(40.0, T0, 0.0, T0, "VP")
    share = _part(RULES, ACCOUNTS, active, T0 + DAY)
    assert _part(RULES, ACCOUNTS, active, T0 + DAY + 60) is share  # a minute later: the same
    later = _part(RULES, ACCOUNTS, active, T0 + 4 * DAY)  # out of the 3-day window, and decayed
    assert later is not share and later.shares != share.shares
