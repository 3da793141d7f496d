"""What the language server's answers rest on, in-process: names by place (dsl.navigation) and what may be
typed at a place (dsl.completion), on the example campaign and on text being typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.campaign import load_campaign
from dsl.completion import expected_at
from dsl.navigation import Kind, declarations, definition, reference_at, references
from dsl.symbols import BUILTIN_EVENTS

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = ROOT / "journeys"


@pytest.fixture(scope="module")
def files():
    campaign = load_campaign([JOURNEYS])
    assert not campaign.has_errors
    return {Path(f.path).relative_to(JOURNEYS).as_posix(): f for f in campaign.files}


def _at(file, needle: str, offset: int = 0):
    text = Path(file.path).read_text(encoding="utf-8")
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    return reference_at(file, line, index - text.rfind("\n", 0, index))


def test_names_are_classified_by_where_they_are_written(files) -> None:
    welcome = files["welcome.nurture"]
    assert (_at(welcome, "demo.requested").kind, _at(welcome, "demo.requested").name) == (Kind.EVENT,
                                                                                            "demo.requested")
    url = _at(welcome, "url contains")
    assert (url.kind, url.scope) == (Kind.PROPERTY, "page.viewed")
    assert _at(welcome, "fit >= 40").kind is Kind.FIELD
    since = _at(welcome, "since intro", 6)
    assert (since.kind, since.name, since.scope) == (Kind.STEP, "intro", "welcome")
    assert _at(welcome, '"case_study"').kind is Kind.TEMPLATE
    assert _at(welcome, "becomes mql", 8).kind is Kind.STAGE
    label = _at(welcome, "intro:")
    assert label.declaration and label.kind is Kind.STEP


def test_scenario_names_refer_to_the_campaign(files) -> None:
    kinds = {(r.kind, r.name) for r in references(files["tests/welcome.nurture"])}
    assert (Kind.EVENT, "page.viewed") in kinds
    assert (Kind.ATTRIBUTE, "job_title") in kinds
    assert (Kind.TEMPLATE, "welcome") in kinds


def test_every_use_in_the_example_has_a_declaration(files) -> None:
    declared = declarations(list(files.values()))
    builtin = {"email.opened", "email.clicked", "email.unsubscribed", "email.bounced", "email.complained",
               "sales.accepted", "sales.rejected", "email", "owner", "lead"}
    missing = sorted({(r.kind.value, r.name) for f in files.values() for r in references(f)
                      if r.kind is not Kind.TEMPLATE and definition(r, declared) is None
                      and r.name not in builtin and r.scope not in BUILTIN_EVENTS})
    assert missing == []


def test_derived_step_labels_are_declared_at_their_step(files) -> None:
    declared = declarations(list(files.values()))
    span = declared[(Kind.STEP, "welcome", "wait_2_days")]
    text = Path(span.path).read_text(encoding="utf-8").splitlines()
    assert text[span.line - 1].strip() == "wait 2 days"


@pytest.mark.parametrize(("before", "kinds", "scope"), [
    ("score s {\n  +5 per ", {Kind.EVENT}, None),
    ("journey j {\n  wait up to 5 days for ", {Kind.EVENT}, None),
    ("journey j {\n  enter when ", {Kind.EVENT, Kind.FIELD}, None),
    ("journey j {\n  wait for page.viewed where ", {Kind.PROPERTY}, "page.viewed"),
    ('journey j {\n  if page.viewed where (url contains "a" and ', {Kind.PROPERTY}, "page.viewed"),
    ("journey j {\n  a: send \"x\"\n  if email.clicked since ", {Kind.STEP}, "j"),
    ("journey j {\n  if fit > 1 {\n    if email.clicked since ", {Kind.STEP}, "j"),
    ("journey j {\n  exit when stage becomes ", {Kind.STAGE}, None),
    ("stage s {\n  back to ", {Kind.STAGE}, None),
    ("journey j {\n  set ", {Kind.ATTRIBUTE}, None),
    ('scenario "x" {\n  lead "a@b.example" {\n    ', {Kind.ATTRIBUTE}, None),
    ('scenario "x" {\n  at 1d: ', {Kind.EVENT}, None),
    ('scenario "x" {\n  at 1d: page.viewed { ', {Kind.PROPERTY}, "page.viewed"),
    ('scenario "x" {\n  expect at 2d 09:00: in journey ', {Kind.JOURNEY}, None),
    ('scenario "x" {\n  expect at 2d 09:00: sent "welcome" in ', {Kind.JOURNEY}, None),
    ('scenario "x" {\n  expect at 2d 09:00: sent "welcome" in welcome.', {Kind.STEP}, "welcome"),
    ("stage s {\n  when fit + ", {Kind.SCORE}, None),
    ("score s {\n  +5 per a.b max 5 per ", set(), None),
    ("events {\n  a.b { ", set(), None),
])
def test_what_may_be_typed_after_the_words_before(before: str, kinds: set[Kind], scope: str | None) -> None:
    lines = before.split("\n")
    expected = expected_at(before, len(lines), len(lines[-1]) + 1)
    assert (set(expected.kinds), expected.scope) == (kinds, scope)


def test_a_template_is_expected_inside_the_quotes_of_send() -> None:
    text = 'journey j {\n  send "pri'
    expected = expected_at(text, 2, len('  send "pri') + 1)
    assert expected.kinds == {Kind.TEMPLATE} and expected.in_string
    assert (expected.prefix, expected.start) == ("pri", len('  send "') + 1)


def test_statement_keywords_at_the_start_of_a_line() -> None:
    assert "settings" in expected_at("", 1, 1).keywords
    assert "enter when" in expected_at("journey j {\n  en", 2, 5).keywords
    assert expected_at("journey j {\n  en", 2, 5).prefix == "en"
    assert "back to" in expected_at("stage s {\n  ", 2, 3).keywords


def test_comments_strings_and_regexes_do_not_confuse_the_reading() -> None:
    text = 'score s {\n  +5 if title matches /"{ since/i # per {\n  '
    inside_comment = expected_at(text, 2, len(text.split("\n")[1]) + 1)
    assert (inside_comment.kinds, inside_comment.keywords) == (frozenset(), ())
    next_line = expected_at(text, 3, 3)  # still in the score: neither the regex nor the comment opened a block
    assert next_line.keywords == ("decay", "floor")
    text = 'score s {\n  +5 if title matches /"{/i and '
    assert expected_at(text, 2, len(text.split("\n")[1]) + 1).kinds == {Kind.FIELD, Kind.EVENT}
