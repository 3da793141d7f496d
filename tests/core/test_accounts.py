"""Accounts on plain values: which account a lead belongs to, values rolled up from its contacts at a given
time, alerts that fire once while they hold, and `account.NAME` in stage conditions."""

from __future__ import annotations

import pytest

from engine.core.accounts import FREE_MAIL, Contact, Keying, domain_of, most_engaged, scoped

from .helpers import DAY, T0, evaluator, new_lead, process, rules_of

CAMPAIGN = """
attributes {
  company_domain: text
  title: text
}
events {
  page.viewed
}
score engagement {
  +10 per page.viewed
}
score fit {
  +30 if title = "VP"
}
accounts {
  by company_domain
  free mail ["mailbox.example"]
  score engagement = sum of engagement
  score best_fit = max of fit
  score least = min of engagement
  score engaged = count where engagement >= 20
  score recent = count active within 7 days
  score vps = count active within 7 days where title = "VP" and engagement >= 10
}
stage hot {
  when fit >= 30 and account.engagement >= 100
}
account alert committee when account.engaged >= 3 {
  notify sales with "committee"
}
account alert big when account.engagement >= 1000 or account.best_fit > 100 {
  notify owner with "committee"
}
"""


@pytest.fixture(scope="module")
def accounts():
    rules = rules_of(CAMPAIGN)
    assert rules.accounts is not None
    return rules.accounts


def contact(lead_id: int, engagement: float, fit: float = 0.0, last: float | None = None, **attributes) -> Contact:
    return Contact(lead_id, attributes, {"engagement": engagement, "fit": fit}, "lead", last)


@pytest.mark.parametrize(("text", "domain"), [
    ("ana@Acme.Example", "acme.example"),
    ("https://www.acme.example/about?x=1", "acme.example"),
    ("  acme.example.  ", "acme.example"),
    ("sub.acme.example:8080", "sub.acme.example"),
    ("localhost", None),
    ("", None),
    ("a@", None),
    (None, None),
    (42, None),
])
def test_domains_are_normalised(text, domain):
    assert domain_of(text) == domain


def test_a_lead_goes_by_its_attribute_then_its_email_and_never_by_free_mail(accounts):
    keying = accounts.keying
    assert keying.key("ana@gmail.com", {"company_domain": "https://acme.example"}) == "acme.example"
    assert keying.key("ana@acme.example", {}) == "acme.example"  # the attribute not set: the email's domain
    assert keying.key("ana@acme.example", {"company_domain": "not a domain"}) == "acme.example"
    assert keying.key("ana@gmail.com", {}) is None
    assert keying.key("ana@mailbox.example", {}) is None  # listed in the campaign
    assert keying.key("ana@x.example", {"company_domain": "Outlook.com"}) is None
    assert "gmail.com" in keying.free_mail and keying.free_mail >= FREE_MAIL
    assert Keying().key("bo@mailbox.example", {}) == "mailbox.example"  # only the campaign lists it


def test_sum_max_min_and_counts_over_contacts(accounts):
    at = T0 + 10 * DAY
    contacts = [contact(1, 50, fit=30, last=at - DAY, title="VP"),
                contact(2, 20, last=at - 8 * DAY),
                contact(3, 5, fit=10, last=None, title="VP"),
                contact(4, 35, last=at - 2 * DAY, title="VP")]
    values = accounts.values(contacts, at)
    assert values == {"engagement": 110.0, "best_fit": 30.0, "least": 5.0, "engaged": 3.0, "recent": 2.0,
                      "vps": 2.0}


def test_active_within_counts_only_what_happened_in_the_window_before_the_time_given(accounts):
    rollup = next(r for r in accounts.rollups if r.name == "recent")
    c = contact(1, 0, last=T0)
    assert rollup.value([c], T0 + 7 * DAY) == 1.0  # the window's edge is inside
    assert rollup.value([c], T0 + 7 * DAY + 1) == 0.0
    assert rollup.value([c], T0 - 1) == 0.0  # an event after the time asked about is not yet seen


def test_an_account_without_contacts_has_zeros(accounts):
    assert set(accounts.values([], T0).values()) == {0.0}


def test_an_alert_fires_when_it_starts_to_hold_and_again_only_after_it_stopped(accounts):
    low = {"engagement": 10.0, "best_fit": 0.0, "least": 0.0, "engaged": 2.0, "recent": 0.0, "vps": 0.0}
    high = {**low, "engaged": 3.0}
    firing, holding = accounts.alert_changes(high, [])
    assert [a.name for a in firing] == ["committee"] and holding == ["committee"]
    firing, holding = accounts.alert_changes({**high, "engaged": 5.0}, holding)
    assert firing == [] and holding == ["committee"]
    firing, holding = accounts.alert_changes(low, holding)
    assert firing == [] and holding == []
    firing, _ = accounts.alert_changes(high, holding)
    assert [a.name for a in firing] == ["committee"]


def test_alerts_read_any_of_their_values(accounts):
    values = {"engagement": 10.0, "best_fit": 101.0, "least": 0.0, "engaged": 0.0, "recent": 0.0, "vps": 0.0}
    firing, _ = accounts.alert_changes(values, [])
    assert [(a.name, [n.recipient for n in a.notices]) for a in firing] == [("big", ["owner"])]


def test_the_most_engaged_contact_is_the_one_active_last():
    contacts = [contact(1, 0, last=T0), contact(2, 0, last=None), contact(3, 0, last=T0 + 5),
                contact(4, 0, last=T0 + 5)]
    engaged = most_engaged(contacts)
    assert engaged is not None and engaged.lead_id == 3
    assert most_engaged([contact(2, 0)]) == contact(2, 0)
    assert most_engaged([]) is None


def test_what_changes_with_time_is_known(accounts):
    assert accounts.time_dependent  # `active within`
    assert accounts.read_by_stages
    still = rules_of(CAMPAIGN.replace("count active within 7 days", "count"))
    assert still.accounts is not None and not still.accounts.time_dependent
    decaying = rules_of(CAMPAIGN.replace("count active within 7 days", "count").replace(
        "+10 per page.viewed\n}", "+10 per page.viewed\n  decay 50% every 7 days\n}"))
    assert decaying.accounts is not None and decaying.accounts.time_dependent


def test_no_accounts_block_means_no_account_rules():
    assert rules_of("score s {\n  +1 per email.opened\n}\n").accounts is None


def test_stage_conditions_read_the_account_and_are_false_without_one():
    rules = rules_of(CAMPAIGN)
    values: dict[int, dict[str, float]] = {1: scoped({"engagement": 150.0}), 2: scoped({"engagement": 50.0})}
    ev = evaluator(rules)
    ev.account_values = lambda lead: values.get(lead.id, {})
    leads = [new_lead(i, f"l{i}@acme.example", title="VP") for i in (1, 2, 3)]
    for lead in leads:
        ev.refresh_fit(lead)
        process(ev, lead, "page.viewed", T0 + DAY, key=f"k{lead.id}")
    assert [lead.stage for lead in leads] == ["hot", "lead", "lead"]  # lead 3 has no account
    assert leads[0].changes[0]["reason"].startswith("when fit >= 30 and account.engagement >= 100")


def test_only_a_change_across_a_number_a_stage_compares_with_reviews_the_leads(accounts):
    assert accounts.edges == {"engagement": frozenset({100.0})}
    assert accounts.crosses_edge({"engagement": 90.0}, {"engagement": 100.0})
    assert accounts.crosses_edge({"engagement": 120.0}, {"engagement": 99.0})
    assert not accounts.crosses_edge({"engagement": 101.0}, {"engagement": 140.0})
    assert not accounts.crosses_edge({"engagement": 10.0, "engaged": 1.0}, {"engagement": 20.0, "engaged": 5.0})
    assert accounts.crosses_edge({}, {"engagement": 0.0})  # computed for the first time


def test_totals_are_the_same_however_the_contacts_are_split(accounts):
    from engine.core.accounts import Totals

    at = T0 + 10 * DAY
    contacts = [contact(i, engagement=(i * 7) % 40, fit=(i * 13) % 50, last=at - (i % 9) * DAY, title="VP")
                for i in range(1, 24)]
    whole = accounts.values(contacts, at)
    for size in (1, 5, 22):
        totals = Totals(accounts.rollups)
        for start in range(0, len(contacts), size):
            totals.add(contacts[start:start + size], at)
        assert totals.values() == whole
        engaged = most_engaged(contacts)
        assert totals.engaged is not None and engaged is not None
        assert (totals.engaged.lead_id, totals.engaged.stage) == (engaged.lead_id, engaged.stage)
