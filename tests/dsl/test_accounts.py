"""The account constructs in the language: parsed with spans, checked, and laid out canonically."""

from __future__ import annotations

import textwrap

from dsl import ast as a
from dsl.campaign import parse_sources
from dsl.checker import check_files
from dsl.formatter import format_source
from dsl.parser import parse_source
from dsl.source import SourceFile
from tests.core.helpers import NO_TEMPLATES, TEMPLATE_CODES

CAMPAIGN = textwrap.dedent("""\
    attributes {
      company_domain: text
    }

    events {
      page.viewed
      account.created
    }

    score engagement {
      +10 per page.viewed
    }

    accounts {
      by company_domain
      free mail ["mailbox.example", "post.example"]
      score engagement = sum of engagement
      score best = max of engagement
      score least = min of engagement
      score engaged = count active within 30 days where engagement >= 20 and not stage is sql
      score contacts = count
    }

    stage sql {
      when engagement >= 30 and account.engagement >= 100
      back to lead when account.engaged < 1
    }

    stage customer {
      when account.created within 7 days
    }

    account alert committee when account.engaged >= 3 and not account.contacts > 10 {
      notify sales with "committee"
      notify owner with "committee"
    }

    scenario "Two people" {
      lead "ana@acme.example"
      lead "bo@acme.example" {
        company_domain = "acme.example"
      }
      at 1d: page.viewed by "bo@acme.example"
      at 1d 10:00: page.viewed
      expect at 2d: account.engagement >= 20
      expect at 2d: sales not notified with "committee"
    }
    """)


def errors(text: str) -> list[str]:
    campaign = parse_sources({"campaign.nurture": text})
    return [f"{d.code} {d.span.line}:{d.span.column}" for d in check_files(campaign.files, NO_TEMPLATES)
            if d.code not in TEMPLATE_CODES and d.code.startswith("E")]


def test_the_constructs_parse_into_nodes_that_know_where_they_are_written():
    file = parse_source(SourceFile("c.nurture", CAMPAIGN))
    block = next(i for i in file.items if isinstance(i, a.Accounts))
    assert block.by == a.AccountBy(a.Name("company_domain"))
    assert block.free_mail == ("mailbox.example", "post.example")
    engaged = block.scores[3]
    assert engaged.rollup.kind == "count" and engaged.rollup.active == a.Duration(30, "day")
    assert isinstance(engaged.rollup.where, a.AllOf)
    assert [s.rollup.kind for s in block.scores] == ["sum", "max", "min", "count", "count"]
    assert (engaged.name.span.line, engaged.name.span.column) == (20, 9)
    alert = next(i for i in file.items if isinstance(i, a.AccountAlert))
    assert [n.recipient.kind for n in alert.notifications] == ["sales", "owner"]
    first = alert.condition.items[0]  # type: ignore[attr-defined]
    assert isinstance(first, a.AccountCompare) and first.field == "engaged"
    assert (first.span.line, first.span.column, first.span.end_column) == (33, 30, 50)
    scenario = next(i for i in file.items if isinstance(i, a.Scenario))
    assert [str(lead.email) for lead in scenario.leads] == ["ana@acme.example", "bo@acme.example"]
    events = [i for i in scenario.items if isinstance(i, a.ScenarioEvent)]
    assert [e.by for e in events] == ["bo@acme.example", None]
    expect = next(i for i in scenario.items if isinstance(i, a.Expect))
    assert isinstance(expect.check, a.ExpectAccountValue) and expect.check.field == "engagement"


def test_an_event_named_account_dot_something_is_still_an_event():
    file = parse_source(SourceFile("c.nurture", CAMPAIGN))
    customer = next(i for i in file.items if isinstance(i, a.Stage) and i.name == "customer")
    promote = customer.items[0]
    assert isinstance(promote, a.Promote) and isinstance(promote.condition, a.Happened)


def test_a_correct_campaign_checks_clean():
    assert errors(CAMPAIGN) == []


def test_the_layout_is_canonical_and_stable():
    assert format_source(CAMPAIGN) == CAMPAIGN
    messy = textwrap.dedent("""\
        accounts { by   email domain
        free mail [ "mailbox.example" ]
            score   engaged=count   where engagement>=20
        score e = sum   of engagement }
        account   alert   committee   when   account.engaged>=3 { notify   sales with "committee" }
        """)
    tidy = format_source(messy)
    assert tidy == textwrap.dedent("""\
        accounts {
          by email domain
          free mail ["mailbox.example"]
          score engaged = count where engagement >= 20
          score e = sum of engagement
        }

        account alert committee when account.engaged >= 3 {
          notify sales with "committee"
        }
        """)
    assert format_source(tidy) == tidy
    assert parse_source(SourceFile("a", tidy)).items == parse_source(SourceFile("b", messy)).items


def test_each_mistake_is_reported_where_it_is_written():
    broken = (CAMPAIGN.replace("by company_domain", "by company")
              .replace("sum of engagement", "sum of engagment")
              .replace("account.engaged < 1", "account.engagd < 1")
              .replace('by "bo@acme.example"', 'by "cy@acme.example"'))
    assert errors(broken) == ["E503 15:6", "E103 17:29", "E501 26:21", "E506 43:25"]


def test_account_values_are_refused_where_nothing_computes_them():
    journey = CAMPAIGN + textwrap.dedent("""
        journey welcome {
          enter when stage becomes sql
          if account.engagement >= 10 {
            send "welcome"
          }
        }
        """)
    assert errors(journey) == ["E502 51:6"]
