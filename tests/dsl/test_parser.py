"""Every construct of the grammar parses to the AST it means (spans are ignored by equality)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dsl import ast as a
from dsl.errors import DslSyntaxError
from dsl.parser import parse_source
from dsl.source import SourceFile


def parse(text: str) -> a.File:
    return parse_source(SourceFile("test.nurture", text))


def only(text: str) -> a.Item:
    (item,) = parse(text).items
    return item


def condition(text: str) -> a.Condition:
    """The condition of `when ...` in a stage."""
    stage = only(f"stage s {{ when {text} }}")
    (promote,) = stage.items  # type: ignore[attr-defined]
    return promote.condition


def steps(text: str) -> tuple[a.JourneyItem, ...]:
    return only(f"journey j {{ {text} }}").items  # type: ignore[attr-defined]


def action(text: str) -> a.Action:
    (step,) = steps(text)
    assert isinstance(step, a.Step) and step.label is None
    return step.action


N = a.Name


def text(value: str) -> a.Value:
    return a.Value("text", value)


def num(value: int | float) -> a.Value:
    return a.Value("number", value)


def days(amount: int) -> a.Duration:
    return a.Duration(amount, "day")


def cmp(name: str, op: str, value: a.Value) -> a.Compare:
    return a.Compare(N(name), op, value)  # type: ignore[arg-type]


def happened(event: str, where: a.Condition | None = None, **kwargs: object) -> a.Happened:
    return a.Happened(a.EventRef(N(event), where), **kwargs)  # type: ignore[arg-type]


def send(template: str) -> a.Step:
    return a.Step(None, a.Send(N(template)))


# ----- files and top-level blocks --------------------------------------------------------------


def test_empty_file_has_no_items():
    file = parse("  # only a comment\n")
    assert file == a.File("test.nurture", ())
    assert file.comments == ((1, 3, "# only a comment"),)


def test_settings():
    settings = only("""
        settings {
          sender name "Acme Growth"
          sender address "growth@acme.example"
          reply to "reply@acme.example"
          sales address "sales@acme.example"
          default timezone "Europe/Berlin"
          quiet hours 20:00 to 8:00
          max 1 email per day
          max 3 emails per week
        }""")
    assert settings == a.Settings((
        a.Setting("sender name", "Acme Growth"),
        a.Setting("sender address", "growth@acme.example"),
        a.Setting("reply to", "reply@acme.example"),
        a.Setting("sales address", "sales@acme.example"),
        a.Setting("default timezone", "Europe/Berlin"),
        a.QuietHours(a.TimeOfDay(20, 0), a.TimeOfDay(8, 0)),
        a.FrequencyCap(1, "day"),
        a.FrequencyCap(3, "week"),
    ))


def test_attribute_types_and_defaults():
    attributes = only("""
        attributes {
          job_title: text
          company_size: number = 0
          budget: number = -2.5
          ratio: number = 1.50
          opted_in: bool = true
          churned: bool = false
          signed_up: date = 2026-03-01
          timezone: timezone = "Europe/Paris"
          interests: list of text = ["a", "b",]
          tiers: list of number = [1, [2, -3], []]
          bad_day: date = 2026-02-30
        }""")
    assert attributes == a.Attributes((
        a.AttributeDecl(N("job_title"), a.TypeRef("text")),
        a.AttributeDecl(N("company_size"), a.TypeRef("number"), num(0)),
        a.AttributeDecl(N("budget"), a.TypeRef("number"), num(-2.5)),
        a.AttributeDecl(N("ratio"), a.TypeRef("number"), num(1.5)),
        a.AttributeDecl(N("opted_in"), a.TypeRef("bool"), a.Value("bool", True)),
        a.AttributeDecl(N("churned"), a.TypeRef("bool"), a.Value("bool", False)),
        a.AttributeDecl(N("signed_up"), a.TypeRef("date"), a.Value("date", dt.date(2026, 3, 1))),
        a.AttributeDecl(N("timezone"), a.TypeRef("timezone"), text("Europe/Paris")),
        a.AttributeDecl(N("interests"), a.TypeRef("text", is_list=True),
                        a.Value("list", (text("a"), text("b")))),
        a.AttributeDecl(N("tiers"), a.TypeRef("number", is_list=True),
                        a.Value("list", (num(1), a.Value("list", (num(2), num(-3))), a.Value("list", ())))),
        # an impossible date stays text so the checker can point at it
        a.AttributeDecl(N("bad_day"), a.TypeRef("date"), text("2026-02-30")),
    ))


def test_numbers_keep_int_or_float():
    attributes = only("attributes { x: number = 2  y: number = 2.0 }")
    ints, floats = (d.default.value for d in attributes.decls)  # type: ignore[attr-defined, union-attr]
    assert type(ints) is int and type(floats) is float


def test_string_escapes():
    attributes = only(r'attributes { quote: text = "say \"hi\" \\ bye" }')
    assert attributes.decls[0].default == text('say "hi" \\ bye')  # type: ignore[attr-defined]


def test_events_with_and_without_properties():
    events = only("""
        events {
          page.viewed { url: text, referrer: text, }
          form.submitted { form: text }
          demo.requested
          trial.started {}
          content.tagged { tags: list of text }
        }""")
    assert events == a.Events((
        a.EventDecl(N("page.viewed"), (a.PropDecl(N("url"), a.TypeRef("text")),
                                       a.PropDecl(N("referrer"), a.TypeRef("text")))),
        a.EventDecl(N("form.submitted"), (a.PropDecl(N("form"), a.TypeRef("text")),)),
        a.EventDecl(N("demo.requested")),
        a.EventDecl(N("trial.started")),
        a.EventDecl(N("content.tagged"), (a.PropDecl(N("tags"), a.TypeRef("text", is_list=True)),)),
    ))


# ----- scores ----------------------------------------------------------------------------------


def test_score_rules_decay_and_floor():
    score = only("""
        score engagement "What they do" {
          +15 if job_title matches /VP/i
          -20 if email ends with "@gmail.com"
          +5 per email.opened max 25 per 30 days
          +20 per page.viewed where url contains "/pricing" max 60 per 1 week
          +50 per demo.requested
          +1 per page.viewed where (url contains "/docs" and url != "/docs/old")
          decay 50% every 30 days
          decay half-life 2 weeks
          floor -10
        }""")
    assert score == a.Score(N("engagement"), "What they do", (
        a.AttributeRule(15, a.Matches(N("job_title"), "VP", "i")),
        a.AttributeRule(-20, a.TextTest(N("email"), "ends with", "@gmail.com")),
        a.EventRule(5, a.EventRef(N("email.opened")), a.Cap(25, days(30))),
        a.EventRule(20, a.EventRef(N("page.viewed"), a.TextTest(N("url"), "contains", "/pricing")),
                    a.Cap(60, a.Duration(1, "week"))),
        a.EventRule(50, a.EventRef(N("demo.requested"))),
        a.EventRule(1, a.EventRef(N("page.viewed"), a.AllOf((
            a.TextTest(N("url"), "contains", "/docs"), cmp("url", "!=", text("/docs/old")))))),
        a.Decay(50, days(30)),
        a.Decay(50, a.Duration(2, "week"), half_life=True),
        a.Floor(-10),
    ))


def test_score_title_is_optional_and_floor_may_be_fractional():
    assert only("score fit { floor 0.5 }") == a.Score(N("fit"), None, (a.Floor(0.5),))


def test_regex_keeps_pattern_flags_and_literal():
    rule = only(r"score s { +1 if t matches /\b(VP|Head)\/x\b/ims }").items[0]  # type: ignore[attr-defined]
    assert rule.condition == a.Matches(N("t"), r"\b(VP|Head)\/x\b", "ims")
    assert rule.condition.literal == r"/\b(VP|Head)\/x\b/ims"


# ----- stages ----------------------------------------------------------------------------------


def test_stage_items():
    stage = only("""
        stage sql "Sales qualified" {
          when engagement >= 100 or demo.requested within 30 days
          back to mql when engagement < 15
          notify sales "sales@example.com" with "sql_alert"
          notify sales with "sql_alert"
          notify owner with "owner_alert"
          assign owner round robin ["a@x.example", "b@x.example"]
          assign owner "enterprise@x.example" when company_size >= 1000
        }""")
    assert stage == a.Stage(N("sql"), "Sales qualified", (
        a.Promote(a.AnyOf((cmp("engagement", ">=", num(100)), happened("demo.requested", within=days(30))))),
        a.Demote(N("mql"), cmp("engagement", "<", num(15))),
        a.Notify(a.Recipient("sales", "sales@example.com"), N("sql_alert")),
        a.Notify(a.Recipient("sales"), N("sql_alert")),
        a.Notify(a.Recipient("owner"), N("owner_alert")),
        a.AssignRoundRobin(("a@x.example", "b@x.example")),
        a.AssignWhen("enterprise@x.example", cmp("company_size", ">=", num(1000))),
    ))


# ----- journeys --------------------------------------------------------------------------------


def test_journey_rules():
    journey = only("""
        journey welcome "Welcome" {
          enter when stage becomes mql
          enter when fit >= 20
          reentry never
          reentry always
          reentry after 90 days
          exit when stage becomes sql
          exit when email.unsubscribed
          goal demo.requested
          goal stage becomes customer
        }""")
    assert journey == a.Journey(N("welcome"), "Welcome", (
        a.Entry(a.StageBecomes(N("mql"))),
        a.Entry(cmp("fit", ">=", num(20))),
        a.Reentry("never"),
        a.Reentry("always"),
        a.Reentry("after", days(90)),
        a.ExitRule(a.StageBecomes(N("sql"))),
        a.ExitRule(happened("email.unsubscribed")),
        a.Goal(happened("demo.requested")),
        a.Goal(a.StageBecomes(N("customer"))),
    ))


def test_journey_title_is_optional():
    assert only("journey j { }") == a.Journey(N("j"), None, ())


@pytest.mark.parametrize(("source", "expected"), [
    ('send "welcome"', a.Send(N("welcome"))),
    ('send "tips" at 9:00', a.Send(N("tips"), a.SendWindow(a.TimeOfDay(9, 0)))),
    ('send "tips" at 09:30 on weekdays', a.Send(N("tips"), a.SendWindow(a.TimeOfDay(9, 30), a.Days((0, 1, 2, 3, 4))))),
    ('send "tips" at 10:00 on weekends', a.Send(N("tips"), a.SendWindow(a.TimeOfDay(10, 0), a.Days((5, 6))))),
    ('send "tips" at 10:00 on every day', a.Send(N("tips"), a.SendWindow(a.TimeOfDay(10, 0), a.Days(tuple(range(7)))))),
    ('send "tips" at 10:00 on thu, tue, thu', a.Send(N("tips"), a.SendWindow(a.TimeOfDay(10, 0), a.Days((1, 3))))),
    ("wait 2 days", a.Wait(days(2))),
    ("wait 1 day", a.Wait(days(1))),
    ("wait 30 minutes", a.Wait(a.Duration(30, "minute"))),
    ("wait 1 hours", a.Wait(a.Duration(1, "hour"))),
    ("wait 3 week", a.Wait(a.Duration(3, "week"))),
    ('wait up to 7 days for page.viewed where url contains "/pricing"',
     a.WaitEvent(a.EventRef(N("page.viewed"), a.TextTest(N("url"), "contains", "/pricing")), days(7))),
    ("wait for demo.requested", a.WaitEvent(a.EventRef(N("demo.requested")))),
    ("wait until 10:30", a.WaitTime(a.TimeOfDay(10, 30))),
    ("wait until 10:30 on mon, wed", a.WaitTime(a.TimeOfDay(10, 30), a.Days((0, 2)))),
    ('set plan = "pro"', a.SetAttribute(N("plan"), text("pro"))),
    ("set seats = -3", a.SetAttribute(N("seats"), num(-3))),
    ("set tags = []", a.SetAttribute(N("tags"), a.Value("list", ()))),
    ('notify sales "s@x.example" with "alert"', a.NotifyAction(a.Recipient("sales", "s@x.example"), N("alert"))),
    ('notify owner with "alert"', a.NotifyAction(a.Recipient("owner"), N("alert"))),
])
def test_step_actions(source: str, expected: a.Action):
    assert action(source) == expected


def test_labels():
    assert steps('intro: send "welcome"  later: wait 2 days') == (
        a.Step(N("intro"), a.Send(N("welcome"))),
        a.Step(N("later"), a.Wait(days(2))),
    )


def test_branch_with_else_block_and_label():
    (step,) = steps('followup: if email.clicked since intro { send "a" wait 1 day } else { send "b" }')
    assert step == a.Step(N("followup"), a.Branch(
        happened("email.clicked", since=N("intro")),
        (send("a"), a.Step(None, a.Wait(days(1)))),
        (send("b"),),
    ))


def test_branch_without_else_and_empty_blocks():
    assert action('if x = 1 { send "a" }') == a.Branch(cmp("x", "=", num(1)), (send("a"),))
    # an empty else block means no else at all
    assert action("if x = 1 { } else { }") == a.Branch(cmp("x", "=", num(1)), ())


def test_else_step_is_the_same_as_an_else_block():
    assert action('if x = 1 { send "a" } else send "b"') == action('if x = 1 { send "a" } else { send "b" }')
    assert action('if x = 1 { } else later: send "b"').otherwise == (a.Step(N("later"), a.Send(N("b"))),)


def test_else_if_chain():
    assert action('if x = 1 { send "a" } else if x = 2 { send "b" } else { send "c" }') == a.Branch(
        cmp("x", "=", num(1)), (send("a"),),
        (a.Step(None, a.Branch(cmp("x", "=", num(2)), (send("b"),), (send("c"),))),),
    )


def test_nested_branches():
    assert action('if a = 1 { if b = 2 { send "x" } }') == a.Branch(
        cmp("a", "=", num(1)), (a.Step(None, a.Branch(cmp("b", "=", num(2)), (send("x"),))),))


# ----- conditions ------------------------------------------------------------------------------

A, B, C = cmp("a", "=", num(1)), cmp("b", "=", num(2)), cmp("c", "=", num(3))


@pytest.mark.parametrize(("source", "expected"), [
    ("a = 1 and b = 2", a.AllOf((A, B))),
    ("a = 1 or b = 2 or c = 3", a.AnyOf((A, B, C))),
    # `and` binds tighter than `or`
    ("a = 1 or b = 2 and c = 3", a.AnyOf((A, a.AllOf((B, C))))),
    ("a = 1 and b = 2 or c = 3", a.AnyOf((a.AllOf((A, B)), C))),
    ("(a = 1 or b = 2) and c = 3", a.AllOf((a.AnyOf((A, B)), C))),
    # parentheses group without leaving a trace, except where they stop flattening
    ("((a = 1))", A),
    ("a = 1 and (b = 2 and c = 3)", a.AllOf((A, a.AllOf((B, C))))),
    # `not` applies to one operand
    ("not a = 1 and b = 2", a.AllOf((a.Not(A), B))),
    ("not (a = 1 and b = 2)", a.Not(a.AllOf((A, B)))),
    ("not not a = 1", a.Not(a.Not(A))),
])
def test_boolean_structure(source: str, expected: a.Condition):
    assert condition(source) == expected


@pytest.mark.parametrize("op", [">=", "<=", "!=", ">", "<", "="])
def test_every_comparison(op: str):
    assert condition(f"fit {op} 20") == cmp("fit", op, num(20))


@pytest.mark.parametrize(("source", "expected"), [
    ('plan = "pro"', cmp("plan", "=", text("pro"))),
    ("opted_in = true", cmp("opted_in", "=", a.Value("bool", True))),
    ("signed_up < 2026-01-31", cmp("signed_up", "<", a.Value("date", dt.date(2026, 1, 31)))),
    ("balance >= -1.25", cmp("balance", ">=", num(-1.25))),
    ('country in ["US", "CA"]', a.Member(N("country"), a.Value("list", (text("US"), text("CA"))))),
    ("size not in [1, 2]", a.Member(N("size"), a.Value("list", (num(1), num(2))), negated=True)),
    ('url contains "/pricing"', a.TextTest(N("url"), "contains", "/pricing")),
    ('url starts with "https:"', a.TextTest(N("url"), "starts with", "https:")),
    ('email ends with "@gmail.com"', a.TextTest(N("email"), "ends with", "@gmail.com")),
    ("title matches /vp/", a.Matches(N("title"), "vp", "")),
    ("phone is set", a.Presence(N("phone"), True)),
    ("phone is missing", a.Presence(N("phone"), False)),
    ("stage is mql", a.StageIs(N("mql"))),
])
def test_atoms(source: str, expected: a.Condition):
    assert condition(source) == expected


@pytest.mark.parametrize(("source", "expected"), [
    ("demo.requested", happened("demo.requested")),
    ("email.opened at least 3 times", happened("email.opened", times=3)),
    ("email.opened within 2 weeks", happened("email.opened", within=a.Duration(2, "week"))),
    ("email.clicked since intro", happened("email.clicked", since=N("intro"))),
    ("email.opened at least 2 times within 7 days", happened("email.opened", times=2, within=days(7))),
    ('page.viewed where url = "/pricing" at least 2 times since intro',
     happened("page.viewed", cmp("url", "=", text("/pricing")), times=2, since=N("intro"))),
    ("page.viewed where tag in [1]", happened("page.viewed", a.Member(N("tag"), a.Value("list", (num(1),))))),
    ('page.viewed where url starts with "/a"', happened("page.viewed", a.TextTest(N("url"), "starts with", "/a"))),
    ("page.viewed where url matches /x/", happened("page.viewed", a.Matches(N("url"), "x", ""))),
    ("page.viewed where url is set", happened("page.viewed", a.Presence(N("url"), True))),
    ("page.viewed where (url is missing)", happened("page.viewed", a.Presence(N("url"), False))),
    ("page.viewed where (not url = 1 or url = 2)",
     happened("page.viewed", a.AnyOf((a.Not(cmp("url", "=", num(1))), cmp("url", "=", num(2)))))),
])
def test_happened(source: str, expected: a.Condition):
    assert condition(source) == expected


def test_where_filter_takes_one_atom_then_and_continues_the_condition():
    assert condition("page.viewed where url = 1 and b = 2") == a.AllOf((
        happened("page.viewed", cmp("url", "=", num(1))), B))


@pytest.mark.parametrize(("source", "expected"), [
    ("page.viewed where url is missing", happened("page.viewed", a.Presence(N("url"), False))),
    ("page.viewed where url is not missing", happened("page.viewed", a.Presence(N("url"), True))),
    ("page.viewed where tag not in [1]",
     happened("page.viewed", a.Member(N("tag"), a.Value("list", (num(1),)), negated=True))),
    ("page.viewed where not url = 1", happened("page.viewed", a.Not(cmp("url", "=", num(1))))),
    ("page.viewed where minutes between 1 and 2",
     happened("page.viewed", a.Between(N("minutes"), num(1), num(2)))),
])
def test_where_filter_takes_negations_ranges_and_missing_properties(source: str, expected: a.Condition):
    assert condition(source) == expected


def test_a_negated_filter_takes_one_test_and_and_continues_the_condition():
    assert condition("page.viewed where not url = 1 and b = 2") == a.AllOf((
        happened("page.viewed", a.Not(cmp("url", "=", num(1)))), B))


def test_sums_of_scores():
    assert condition("fit + engagement - 10 >= 60") == a.SumCompare(a.Sum((
        a.Term(False, N("fit")), a.Term(False, N("engagement")), a.Term(True, value=num(10)))), ">=", num(60))
    assert condition("fit - x between 1 and 2") == a.SumBetween(
        a.Sum((a.Term(False, N("fit")), a.Term(True, N("x")))), num(1), num(2))


# ----- scenarios -------------------------------------------------------------------------------


def scenario_items(text: str) -> tuple[a.ScenarioItem, ...]:
    item = only(f'scenario "s" {{ {text} }}')
    assert isinstance(item, a.Scenario) and item.name == "s"
    return item.items


def expectation(text: str) -> a.Check:
    (expect,) = scenario_items(f"expect at 1d: {text}")
    assert isinstance(expect, a.Expect) and expect.at == a.Moment(1, "day")
    return expect.check


def test_scenario_lead_start_and_timeline():
    assert scenario_items("""
        lead "ann@acme.example" { job_title = "VP", company_size = 500
          interests = ["a", "b"], }
        start 2026-03-02 9:30
        at 0d: page.viewed { url = "/pricing" }
        at 2d 10:00: demo.requested
        expect at 2d 10:00: stage is sql
    """) == (
        a.ScenarioLead(N("ann@acme.example"), (a.Assignment(N("job_title"), text("VP")),
                                               a.Assignment(N("company_size"), num(500)),
                                               a.Assignment(N("interests"), a.Value("list", (text("a"), text("b")))))),
        a.ScenarioStart(a.Value("date", dt.date(2026, 3, 2)), a.TimeOfDay(9, 30)),
        a.ScenarioEvent(a.Moment(0, "day"), N("page.viewed"), (a.Assignment(N("url"), text("/pricing")),)),
        a.ScenarioEvent(a.Moment(2, "day", a.TimeOfDay(10, 0)), N("demo.requested")),
        a.Expect(a.Moment(2, "day", a.TimeOfDay(10, 0)), a.ExpectStage(N("sql"))),
    )


def test_a_lead_without_attributes_and_a_start_without_a_time():
    assert scenario_items('lead "a@b.example" lead "c@d.example" {} start 2026-01-05') == (
        a.ScenarioLead(N("a@b.example")), a.ScenarioLead(N("c@d.example")),
        a.ScenarioStart(a.Value("date", dt.date(2026, 1, 5))))


@pytest.mark.parametrize(("written", "moment"), [
    ("0d", a.Moment(0, "day")),
    ("2w", a.Moment(2, "week")),
    ("36h", a.Moment(36, "hour")),
    ("90min", a.Moment(90, "minute")),
    ("3d 9:05", a.Moment(3, "day", a.TimeOfDay(9, 5))),
])
def test_moments(written: str, moment: a.Moment):
    (event,) = scenario_items(f"at {written}: demo.requested")
    assert event.at == moment  # type: ignore[union-attr]


@pytest.mark.parametrize(("source", "expected"), [
    ("stage is mql", a.ExpectStage(N("mql"))),
    ("fit >= 20", a.ExpectValue(N("fit"), ">=", num(20))),
    ('nurture_status = "dormant"', a.ExpectValue(N("nurture_status"), "=", text("dormant"))),
    ("engagement between 40 and 80", a.ExpectBetween(N("engagement"), num(40), num(80))),
    ("engagement between -5 and 2.5", a.ExpectBetween(N("engagement"), num(-5), num(2.5))),
    ('sent "welcome"', a.ExpectEmail("sent", N("welcome"))),
    ('sent "welcome" in welcome', a.ExpectEmail("sent", N("welcome"), journey=N("welcome"))),
    ('sent "welcome" in welcome.intro', a.ExpectEmail("sent", N("welcome"), journey=N("welcome"), step=N("intro"))),
    ('not sent "trial_invite" in welcome', a.ExpectEmail("sent", N("trial_invite"), True, N("welcome"))),
    ('sales notified with "sql_alert"', a.ExpectEmail("notified", N("sql_alert"))),
    ('sales not notified with "sql_alert"', a.ExpectEmail("notified", N("sql_alert"), True)),
    ("in journey welcome", a.ExpectJourney("in", N("welcome"))),
    ("not in journey welcome", a.ExpectJourney("not in", N("welcome"))),
    ("exited journey welcome", a.ExpectJourney("exited", N("welcome"))),
    ("finished journey welcome", a.ExpectJourney("finished", N("welcome"))),
    ("goal reached in journey welcome", a.ExpectJourney("goal", N("welcome"))),
])
def test_expectations(source: str, expected: a.Check):
    assert expectation(source) == expected


def test_scenario_keywords_stay_names_elsewhere():
    stage = only("stage s { when lead = 1 and start = 2 and expect = 3 and sent = 4 }")
    assert [c.name for c in stage.items[0].condition.items] == ["lead", "start", "expect", "sent"]  # type: ignore


@pytest.mark.parametrize("source", [
    "at 2 days: demo.requested",  # offsets are written `2d`
    "at 2d demo.requested",  # the colon ends the time
    'expect at 1d: sent welcome',  # templates are quoted
    "expect at 1d: stage sql",
    'lead ann@acme.example',
    "at 1d: demo.requested { plan: text }",  # values are given with `=`
])
def test_scenario_syntax_errors(source: str):
    with pytest.raises(DslSyntaxError):
        parse(f'scenario "s" {{ {source} }}')


def test_scenario_spans_point_at_the_source():
    scenario = only('scenario "Hot lead" {\n  at 2d 10:00: demo.requested\n}\n')
    assert isinstance(scenario, a.Scenario)
    assert (scenario.name.span.line, scenario.name.span.column) == (1, 10)
    (event,) = scenario.items
    assert (event.at.span.line, event.at.span.column, event.at.span.end_column) == (2, 6, 14)  # type: ignore
    assert (event.event.span.column, event.span.end_column) == (16, 30)  # type: ignore[union-attr]


# ----- spans and comments ----------------------------------------------------------------------


def test_name_and_node_spans_point_at_the_source():
    file = parse('journey welcome {\n  enter when stage becomes mql\n  intro:   send "welcome"\n}\n')
    journey = file.items[0]
    assert isinstance(journey, a.Journey)
    assert (journey.name.span.line, journey.name.span.column) == (1, 9)
    entry, step = journey.items
    stage = entry.trigger.stage  # type: ignore[union-attr]
    assert (stage.span.line, stage.span.column, stage.span.end_column) == (2, 28, 31)
    assert (step.label.span.line, step.label.span.column) == (3, 3)  # type: ignore[union-attr]
    assert (step.action.span.line, step.action.span.column) == (3, 12)  # type: ignore[union-attr]
    template = step.action.template  # type: ignore[union-attr]
    assert (template.span.line, template.span.column) == (3, 17)
    assert journey.span.path == "test.nurture"
    assert (journey.span.line, journey.span.end_line, journey.span.end_column) == (1, 4, 2)


def test_spans_do_not_take_part_in_equality():
    assert parse("stage mql { when fit >= 20 }") == parse("\n\n  stage   mql{when\nfit>=20}")


def test_comments_are_collected_with_positions():
    file = parse("# one\nstage s { # two   \n  when x = 1 }\n   # three")
    assert file.comments == ((1, 1, "# one"), (2, 11, "# two"), (4, 4, "# three"))


def test_sample_parses_to_the_blocks_it_declares():
    file = parse((Path(__file__).parent / "sample.nurture").read_text(encoding="utf-8"))
    assert [type(i).__name__ for i in file.items] == [
        "Settings", "Attributes", "Events", "Score", "Score", "Stage", "Stage", "Journey"]


@pytest.mark.parametrize("source", [
    "score s {{ +1{digits} if x > 1 }}",
    "stage s {{ when x > {digits} }}",
    "stage s {{ when e.v within {digits} days }}",
    "journey j {{ wait {digits} days }}",
])
def test_a_number_too_long_to_read_is_a_located_syntax_error(source: str):
    text = source.format(digits="9" * 4500)
    with pytest.raises(DslSyntaxError) as err:
        parse(text)
    (diag,) = err.value.diagnostics
    assert diag.code == "E001" and "more than 4000 digits" in diag.title
    start = text.index("+1") if "+1" in text else text.index("9")
    assert (diag.span.line, diag.span.column) == (1, start + 1)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["unix", "windows", "old-mac"])
@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["plain", "bom"])
def test_line_ends_and_a_byte_order_mark_keep_line_numbers(newline: str, bom: str):
    text = bom + newline.join(["# a comment", "attributes {", "  job_title: text", "}", "stage mql {",
                               '  when job_title = "x"', "}", ""])
    source = SourceFile("t.nurture", text)
    (_, stage) = parse_source(source).items
    (promote,) = stage.items  # type: ignore[attr-defined]
    span = promote.condition.span
    assert (span.line, span.column) == (6, 8)
    assert source.line(6) == '  when job_title = "x"' and len(source.lines) == 7


def test_a_syntax_error_after_old_mac_line_ends_is_on_its_line():
    with pytest.raises(DslSyntaxError) as err:
        parse("attributes {\r  job_title: text\r}\r@\r")
    (diag,) = err.value.diagnostics
    assert (diag.span.line, diag.span.column) == (4, 1)


def test_only_newlines_end_lines_as_the_parser_counts_them():
    source = SourceFile("t.nurture", 'settings { sender name "A\x0cB" }\n# \u2028 still line 2\nattributes {}\n')
    assert source.line(3) == "attributes {}"
