"""Follow-up SLAs in the language: how they parse, print and are checked."""

from __future__ import annotations

from pathlib import Path

from dsl import ast as a
from dsl.campaign import load_campaign
from dsl.formatter import format_source
from dsl.parser import parse_source
from dsl.source import SourceFile

CAMPAIGN = '''settings {
  business hours 08:30 to 17:00 on mon, tue, wed, thu
  owner "ana@acme.example" timezone "Europe/Berlin"
}

events {
  demo.requested
  sales.contacted
}

stage sql "Sales qualified" {
  when demo.requested
  follow up within 4 business hours by sales.contacted {
    notify owner with "reminder"
    reassign round robin ["bo@acme.example", "cy@acme.example"]
    back to lead
  }
}

scenario "missed" {
  lead "a@example.com"
  at 0h: demo.requested
  expect at 1h: sla sql open
  expect at 5d: sla sql breached
}
'''


HOURS = "  business hours 08:30 to 17:00 on mon, tue, wed, thu\n"


def _parse(text: str) -> a.File:
    return parse_source(SourceFile("sla.nurture", text))


def test_follow_up_parses_into_its_deadline_event_and_actions() -> None:
    stage = next(i for i in _parse(CAMPAIGN).items if isinstance(i, a.Stage))
    follow_up = stage.items[1]
    assert isinstance(follow_up, a.FollowUp)
    assert (follow_up.within.amount, follow_up.within.unit, follow_up.business) == (4, "hour", True)
    assert follow_up.event == "sales.contacted"
    assert [type(x) for x in follow_up.actions] == [a.Notify, a.Reassign, a.BackTo]
    assert follow_up.actions[1] == a.Reassign(("bo@acme.example", "cy@acme.example"))
    assert follow_up.span.line == 13


def test_settings_and_expectations_parse() -> None:
    file = _parse(CAMPAIGN)
    settings = next(i for i in file.items if isinstance(i, a.Settings))
    hours, owner = settings.items
    assert isinstance(hours, a.BusinessHours) and str(hours.start) == "08:30" and hours.days is not None
    assert hours.days.days == (0, 1, 2, 3)
    assert owner == a.OwnerTimezone("ana@acme.example", "Europe/Berlin")
    scenario = next(i for i in file.items if isinstance(i, a.Scenario))
    checks = [x.check for x in scenario.items if isinstance(x, a.Expect)]
    assert checks == [a.ExpectSla(a.Name("sql"), "open"), a.ExpectSla(a.Name("sql"), "breached")]


def test_canonical_text_round_trips_and_is_stable() -> None:
    assert format_source(CAMPAIGN) == CAMPAIGN
    messy = CAMPAIGN.replace("follow up within 4 business hours", "follow   up within 4   business   hour")
    messy = messy.replace("by sales.contacted {", "by sales.contacted {   # why\n")
    once = format_source(messy)
    assert "follow up within 4 business hours by sales.contacted {  # why" in once
    assert format_source(once) == once
    assert _parse(once) == _parse(CAMPAIGN)


def test_clock_time_deadline_prints_without_business() -> None:
    text = CAMPAIGN.replace("4 business hours", "1 day").replace(HOURS, "")
    assert "follow up within 1 day by sales.contacted {" in format_source(text)


def test_a_correct_campaign_checks_clean(tmp_path: Path) -> None:
    (tmp_path / "sla.nurture").write_text(CAMPAIGN)
    templates = Path(__file__).parent / "cases" / "templates"
    campaign = load_campaign([tmp_path], templates)
    assert [d.code for d in campaign.diagnostics if d.code.startswith("E")] == []


def test_business_deadline_without_business_hours_is_reported_where_written(tmp_path: Path) -> None:
    (tmp_path / "sla.nurture").write_text(CAMPAIGN.replace(HOURS, ""))
    campaign = load_campaign([tmp_path], Path(__file__).parent / "cases" / "templates")
    found = [(d.code, d.span.line, d.span.column) for d in campaign.diagnostics if d.code.startswith("E")]
    assert found == [("E416", 12, 20)]


def test_follow_up_names_are_references_for_the_editor() -> None:
    from dsl.navigation import Kind, references

    found = {(r.kind, r.name, r.span.line) for r in references(_parse(CAMPAIGN))}
    assert (Kind.EVENT, "sales.contacted", 13) in found  # go to the event's declaration, rename it
    assert (Kind.STAGE, "lead", 16) in found  # `back to lead`
    assert (Kind.STAGE, "sql", 23) in found  # `expect at 1h: sla sql open`


def test_comments_in_and_around_a_follow_up_block_stay_where_written() -> None:
    text = '''stage sql {
  when demo.requested
  # before the block
  follow up within 2 hours by sales.contacted {  # on the header
    # inside, first
    notify owner with "reminder"  # after notify

    # before back
    back to lead
    # last inside
  }  # after the block
}
'''
    assert format_source(text) == text
