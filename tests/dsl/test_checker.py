"""The semantic checker on small campaigns: what it reports, where, and what it must not report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dsl import ast as a
from dsl import parser
from dsl.campaign import load_campaign
from dsl.checker import Logic, check_files, score_bounds
from dsl.codes import CODES
from dsl.diagnostics import Diagnostic, render
from dsl.errors import DslSyntaxError
from dsl.parser import parse_source
from dsl.source import SourceFile
from engine.cli import app

HERE = Path(__file__).parent
TEMPLATES = HERE / "cases" / "templates"
CASES = HERE / "cases" / "err"


def _files(*texts: str) -> tuple[list[a.File], dict[str, SourceFile]]:
    sources = {f"f{i}.nurture": SourceFile(f"f{i}.nurture", text) for i, text in enumerate(texts)}
    return [parse_source(s) for s in sources.values()], sources


def check(*texts: str, templates: Path = TEMPLATES) -> list[Diagnostic]:
    files, _ = _files(*texts)
    return check_files(files, templates)


def codes(*texts: str, templates: Path = TEMPLATES) -> list[tuple[str, int, int]]:
    """(code, line, column) of every diagnostic, in the order found."""
    return [(d.code, d.span.line, d.span.column) for d in check(*texts, templates=templates)]


def rendered(*texts: str) -> str:
    files, sources = _files(*texts)
    return "\n\n".join(render(d, sources) for d in check_files(files, TEMPLATES))


JOURNEY = """
attributes { industry: text  size: number }
score fit { +10 if industry = "saas"  +5 if size >= 100 }
stage mql { when fit >= 10 }
journey j {
  enter when stage becomes mql
%s
}
"""


def journey(steps: str) -> str:
    return JOURNEY % steps


# ----- clean campaigns --------------------------------------------------------------------------


def test_the_sample_campaign_is_clean() -> None:
    source = SourceFile("sample.nurture", (HERE / "sample.nurture").read_text(encoding="utf-8"))
    assert check_files([parse_source(source)], TEMPLATES) == []


def test_the_journey_skeleton_is_clean() -> None:
    assert codes(journey('  send "welcome"')) == []


def test_builtin_events_and_attributes_need_no_declaration() -> None:
    steps = ('  if email.opened and sales.rejected within 3 days and email is set and owner = "x@y.example" '
             '{ send "welcome" }\n  wait up to 2 days for email.clicked where url contains "/demo"')
    assert codes(journey(steps)) == []


# ----- names ------------------------------------------------------------------------------------


def test_unknown_attribute_points_at_the_name_and_suggests_the_declared_one() -> None:
    assert rendered("attributes { job_title: text }\nscore fit { +1 if jobtitle = \"CEO\" }\n"
                    "stage mql { when fit >= 1 }") == (
        "f0.nurture:2:19: error[E102]: unknown attribute or score `jobtitle`\n"
        "  |\n"
        '2 | score fit { +1 if jobtitle = "CEO" }\n'
        "  |                   ^^^^^^^^ not a declared attribute or score\n"
        "  |\n"
        "help: did you mean `job_title`?"
    )


def test_a_misspelt_score_is_reported_as_an_unknown_score() -> None:
    diags = check(journey('  if fitt >= 3 { send "welcome" }'))
    assert [(d.code, d.title, d.help) for d in diags] == [("E103", "unknown score `fitt`", "did you mean `fit`?")]


def test_scores_only_take_comparisons() -> None:
    diags = check(journey('  if fit in [1, 2] { send "welcome" }'))
    assert [(d.code, d.title) for d in diags] == [("E302", "`in` does not apply to `fit`, which is a score")]


def test_event_filters_resolve_against_the_event_properties() -> None:
    diags = check("events { page.viewed { url: text } }\nscore e { +1 per page.viewed where urll = \"/\" }\n"
                  "stage mql { when e >= 1 }")
    assert [(d.code, d.title, d.help) for d in diags] == [
        ("E107", "event `page.viewed` has no property `urll`", "did you mean `url`?")]


def test_unknown_events_are_reported_everywhere_they_are_used() -> None:
    found = codes(journey("  goal demo.requestd\n  wait up to 1 day for x.y\n  if a.b { wait 1 day }"))
    assert found == [("E101", 7, 8), ("E101", 8, 24), ("E101", 9, 6)]


def test_missing_template_directory_is_explained() -> None:
    diags = check(journey('  send "welcome"'), templates=HERE / "no-such-dir")
    assert [(d.code, d.label) for d in diags] == [
        ("E105", f"the template directory `{(HERE / 'no-such-dir').as_posix()}` does not exist")]


def test_since_resolves_derived_labels() -> None:
    assert codes(journey('  send "welcome"\n  if email.opened since send_welcome { wait 1 day }')) == []


# ----- duplicates -------------------------------------------------------------------------------


def test_duplicates_across_files_point_back_at_the_first_file() -> None:
    diags = check("events { demo.requested }", "events { demo.requested }")
    [diag] = diags
    assert (diag.code, str(diag.span), diag.label) == ("E201", "f1.nurture:1:10", "defined again here")
    assert [(str(n.span), n.message) for n in diag.notes] == [("f0.nurture:1:10", "first defined here")]


def test_builtin_names_cannot_be_declared_again() -> None:
    diags = check("attributes { owner: text }\nevents { email.clicked }\nstage lead { }")
    assert [(d.code, d.title) for d in diags] == [
        ("E201", "attribute `owner` is defined more than once"),
        ("E201", "event `email.clicked` is defined more than once"),
        ("E201", "stage `lead` is defined more than once"),
    ]


def test_explicit_label_colliding_with_a_derived_one() -> None:
    diags = check(journey('  send "welcome"\n  send_welcome: wait 1 day'))
    [diag] = diags
    assert (diag.code, diag.span.line, diag.notes[0].message) == (
        "E202", 8, "labelled `send_welcome` from what it does")


# ----- types and values -------------------------------------------------------------------------


@pytest.mark.parametrize(("condition", "code"), [
    ('size = "12"', "E301"),
    ("industry = 3", "E301"),
    ('industry >= "m"', "E302"),
    ('size contains "1"', "E302"),
    ("size < 2026-01-01", "E301"),
    ("size in [1, 2]", None),
    ('industry matches /(/', "E303"),
    ('industry matches /a/imsx', None),
])
def test_types_of_comparisons(condition: str, code: str | None) -> None:
    found = [c for c, _, _ in codes(journey(f'  if {condition} {{ send "welcome" }}'))]
    assert found == ([code] if code else [])


def test_regex_error_caret_is_under_the_failing_character() -> None:
    [diag] = check(journey('  if industry matches /ab[c/ { send "welcome" }'))
    assert (diag.code, diag.span.column, diag.span.end_column) == ("E303", 26, 27)  # the `[`


def test_timezones_are_checked_in_comparisons_and_defaults() -> None:
    diags = check('attributes { tz: timezone = "Europe/Berln" }\n' + journey('  if tz = "Asia/Tokio" { wait 1 day }'))
    assert [(d.code, d.help) for d in diags] == [
        ("E304", "did you mean `Europe/Berlin`?"), ("E304", "did you mean `Asia/Tokyo`?")]


def test_impossible_date_is_reported_once_as_an_invalid_value() -> None:
    diags = check("attributes { renewal: date = 2026-02-29 }")
    assert [(d.code, d.title) for d in diags] == [("E304", "invalid date: 2026-02-29 does not exist")]


# ----- logic ------------------------------------------------------------------------------------


def _logic(text: str) -> tuple[Logic, a.Condition]:
    """The condition of the first stage's `when`, with the campaign's logic."""
    files, _ = _files(text)
    stage = next(i for i in files[0].items if isinstance(i, a.Stage))
    promote = next(i for i in stage.items if isinstance(i, a.Promote))
    scores = {i.name: score_bounds(i) for i in files[0].items if isinstance(i, a.Score)}
    attributes = {d.name: d.type for i in files[0].items if isinstance(i, a.Attributes) for d in i.decls}
    return Logic({None: attributes}, scores), promote.condition


DECLS = "attributes { x: text  n: number }\nscore fit { +15 if x = \"a\"  +10 if n > 1  -5 if n < 0 }\n"


@pytest.mark.parametrize(("condition", "never"), [
    ("n >= 100 and n < 50", True),
    ("n >= 50 and n <= 50", False),
    ("n > 50 and n <= 50", True),
    ("n = 5 and n != 5", True),
    ("n >= 5 and n <= 5 and n != 5", True),
    ('x = "a" and x = "b"', True),
    ('x = "A" and x = "a"', False),  # the engine may compare text without case
    ('x = "a" and x != "a"', True),
    ('x = "A" and x != "a"', False),
    ('x in ["a", "b"] and x != "a" and x != "b"', True),
    ('x = "abc" and x contains "B"', False),
    ('x = "abc" and x contains "z"', True),
    ('x starts with "ab" and x starts with "abc"', False),
    ('x starts with "ab" and x starts with "cd"', True),
    ('x ends with "ab" and x ends with "b"', False),
    ('x = "abc" and x matches /^z/', True),
    ('x = "abc" and x matches /^A/', False),  # "ABC" equals "abc" and matches
    ('x >= "m" and x < "b"', False),  # text has no order (E302), so nothing is concluded
    ("x is set and x is missing", True),
    ("not (n >= 5) and not (n < 5)", False),  # both hold when n is missing
    ("not (fit >= 5) and not (fit < 5)", True),  # a score always has a value
    ("fit >= 25", False),
    ("fit > 25", True),
    ("fit >= -5", False),
    ("fit < -5", True),
    ("stage is mql and stage is sql", True),
    ("stage is mql and not stage is mql", True),
    ("n > 1 and (n < 0 or n < 1)", True),
    ("n > 1 and (n < 0 or n > 5)", False),
    ("x in []", True),
    ("x not in []", False),
    ('n = 3 and x = "a"', False),
])
def test_never(condition: str, never: bool) -> None:
    logic, cond = _logic(DECLS + f"stage s {{ when {condition} }}")
    assert logic.never(cond, None) is never


@pytest.mark.parametrize(("condition", "always"), [
    ("x is set or x is missing", True),
    ("fit >= -5", True),
    ("fit > -5", False),
    ("n >= 0 or n < 0", False),  # a missing number is neither
    ("fit >= 0 or fit < 0", True),
])
def test_always(condition: str, always: bool) -> None:
    logic, cond = _logic(DECLS + f"stage s {{ when {condition} }}")
    assert logic.always(cond, None) is always


def test_huge_conditions_are_given_up_on_not_reported() -> None:
    clause = " and ".join(f"(n = {i} or n = {i + 100})" for i in range(8))  # 256 combinations
    logic, cond = _logic(DECLS + f"stage s {{ when {clause} }}")
    assert logic.never(cond, None) is False


@pytest.mark.parametrize(("rules", "low", "high"), [
    ("+15 if x = \"a\"  +10 if n > 1  -5 if n < 0", -5, 25),
    ("+5 per e.v  -1 if n < 0", float("-1"), float("inf")),
    ("-5 per e.v  +3 if n > 0", float("-inf"), 3),
    ("-5 per e.v  floor 0", 0, 0),
    ("+1 if n > 0  floor 10", 10, 10),
])
def test_score_bounds(rules: str, low: float, high: float) -> None:
    files, _ = _files(f"score s {{ {rules} }}")
    bounds = score_bounds(files[0].items[0])  # type: ignore[arg-type]
    assert (bounds.low, bounds.high) == (low, high)


def test_event_scores_have_no_maximum() -> None:
    assert codes("events { e.v }\nscore s { +5 per e.v max 10 per 7 days }\nstage mql { when s >= 1000 }") == []


def test_impossible_filter_makes_the_event_condition_impossible_and_is_reported_at_the_filter() -> None:
    diags = check("events { p.v { url: text } }\nstage mql { when p.v where (url = \"a\" and url = \"b\") }")
    assert [(d.code, d.span.line, d.span.column, d.label) for d in diags] == [
        ("E402", 2, 29, '`url` cannot be `= "a"` and `= "b"` at once'),
        ("E404", 2, 7, "its `when` condition can never hold"),
    ]


def test_then_branch_of_an_impossible_condition_cannot_run() -> None:
    found = codes(journey('  if fit > 100 {\n    send "welcome"\n  } else {\n    send "reminder"\n  }'))
    assert found == [("E402", 7, 6), ("E401", 8, 5)]


def test_steps_after_a_branch_may_refer_to_steps_inside_it() -> None:
    assert codes(journey('  if fit > 1 { inner: send "welcome" }\n  if email.opened since inner { wait 1 day }')) == []


def test_exit_and_goal_may_refer_to_any_step() -> None:
    assert codes(journey('  exit when email.clicked since last\n  wait 1 day\n  last: send "welcome"')) == []


def test_stage_reached_only_by_demotion_is_reachable() -> None:
    assert codes("events { e.v }\nscore s { +5 per e.v }\nstage mql { when s >= 5 }\n"
                 "stage pool { }\nstage sql { when s >= 50  back to pool when s < 10 }") == []


def test_entering_on_an_unknown_stage_is_not_also_a_never_entered_warning() -> None:
    assert [c for c, _, _ in codes('journey j { enter when stage becomes nope  send "welcome" }')] == ["E104"]


# ----- templates --------------------------------------------------------------------------------


def test_template_problems_are_reported_once_per_template() -> None:
    diags = check(journey('  send "bad_vars"\n  send "bad_vars"'))
    assert {d.span.line for d in diags} == {7}
    first = diags[0]
    assert (first.code, first.title, first.label) == (
        "E305", "template `bad_vars` uses `lead.first_name`, which a lead does not have",
        f"`lead.first_name` is read at {TEMPLATES.as_posix()}/bad_vars.html:1")


def test_a_score_shown_in_a_template_counts_as_used() -> None:
    text = ("events { e.v }\nscore in_template_only { +1 per e.v }\n"
            'journey j { enter when stage becomes lead  send "score_report" }')
    assert codes(text) == []


# ----- the summary ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"events { a.b }\n\xff\n", b"events { a.b }\x00", b"#" * 100],
                         ids=["not_utf8", "nul_byte", "too_large"])
def test_a_file_that_cannot_be_read_still_counts_as_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(parser, "MAX_FILE_BYTES", 64)
    (tmp_path / "good.nurture").write_text("events { a.b }\n", encoding="utf-8")
    (tmp_path / "broken.nurture").write_bytes(data)
    for target, summary in [("broken.nurture", "checked 1 file: 1 error, 0 warnings"),
                            (".", "checked 2 files: 1 error, 0 warnings")]:
        result = CliRunner().invoke(app, ["check", str(tmp_path / target), "--templates", str(TEMPLATES)])
        assert (result.exit_code, result.stdout.splitlines()[-1]) == (1, summary)


# ----- robustness -------------------------------------------------------------------------------


def _golden_sources() -> list[Path]:
    return sorted(p for p in CASES.rglob("*.nurture") if p.stat().st_size < 4096 and p.stem != "not_utf8")


@pytest.mark.parametrize("path", _golden_sources(), ids=lambda p: p.stem)
def test_never_raises_on_any_line_removed(path: Path) -> None:
    """Dropping any one line of a case still checks without an exception (unparseable ones are skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    checked = 0
    for skip in range(len(lines)):
        text = "\n".join(lines[:skip] + lines[skip + 1:])
        try:
            file = parse_source(SourceFile("x.nurture", text))
        except DslSyntaxError:
            continue  # the parser's own tests cover syntax errors
        diags = check_files([file], TEMPLATES)
        assert all(d.code in CODES and d.span.path in ("x.nurture", "<unknown>") for d in diags)
        checked += 1
    assert checked > 0 or path.stem.startswith(("syntax_", "empty", "not_utf8"))


# ----- soundness of "never" and "always", by brute force -----------------------------------------
# The reference semantics are the engine's: text compares without case, a missing value never
# matches (except `is missing`, `not ...` and `not in`), and a score always has a value.

SCORE_DECLS = 'attributes { x: text  n: number }\nscore s { +15 if x = "a"  +10 if n > 1  -5 if n < 0 }\n'
TEXTS = ["a", "A", "ab", "Ab", "b", "ba", ""]
ATOMS = st.one_of(
    st.builds("n {} {}".format, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), st.integers(-1, 3)),
    st.builds('x {} "{}"'.format, st.sampled_from(["=", "!=", "contains", "starts with", "ends with"]),
              st.sampled_from(TEXTS)),
    st.builds("x {} [{}]".format, st.sampled_from(["in", "not in"]),
              st.lists(st.sampled_from(TEXTS), max_size=2).map(lambda v: ", ".join(f'"{t}"' for t in v))),
    st.builds("x matches /{}/".format, st.sampled_from(["^a", "b$", "A"])),
    st.sampled_from(["x is set", "x is missing", "stage is mql", "stage is sql"]),
    st.builds("s {} {}".format, st.sampled_from(["=", "<", ">="]), st.sampled_from([-6, -5, 0, 25, 26])),
)
CONDITIONS = st.recursive(ATOMS, lambda inner: st.one_of(
    st.builds("({} and {})".format, inner, inner),
    st.builds("({} or {})".format, inner, inner),
    st.builds("not ({})".format, inner),
), max_leaves=6)

WORLDS = [
    {"n": n, "x": x, "s": s, "stage": stage}
    for n in (None, -2, -1, 0, 0.5, 1, 2, 3, 4)
    for x in (None, "", "a", "A", "ab", "Ab", "aB", "b", "ba", "bA", "c")
    for s in (-5, 0, 10, 25)
    for stage in ("lead", "mql", "sql")
]


def _holds(cond: a.Condition, world: dict) -> bool:
    """The engine's semantics for the few forms the strategy builds."""
    fold = lambda v: v.lower() if isinstance(v, str) else v  # noqa: E731
    match cond:
        case a.AllOf(items=items):
            return all(_holds(i, world) for i in items)
        case a.AnyOf(items=items):
            return any(_holds(i, world) for i in items)
        case a.Not(item=item):
            return not _holds(item, world)
        case a.StageIs(stage=stage):
            return world["stage"] == stage
        case a.Presence(name=name, present=present):
            return (world[name] not in (None, "")) == present
    value = world[cond.name]  # type: ignore[attr-defined]
    match cond:
        case a.Member(values=values, negated=negated):
            inside = value is not None and fold(value) in {fold(v) for v in values.python()}  # type: ignore[union-attr]
            return inside != negated
    if value is None:
        return False
    match cond:
        case a.Compare(op=op, value=v):
            ops = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
            return getattr(fold(value), ops[op])(fold(v.value))
        case a.TextTest(op=op, text=text):
            method = {"contains": "__contains__", "starts with": "startswith", "ends with": "endswith"}[op]
            return getattr(value.lower(), method)(text.lower())
        case a.Matches():
            return re.compile(cond.pattern).search(value) is not None
    raise AssertionError(cond)


@settings(max_examples=400, deadline=None)
@given(CONDITIONS)
def test_never_and_always_are_sound(text: str) -> None:
    logic, cond = _logic(SCORE_DECLS + f"stage t {{ when {text} }}")
    outcomes = {_holds(cond, world) for world in WORLDS}
    if logic.never(cond, None):
        assert True not in outcomes
    if logic.always(cond, None):
        assert False not in outcomes


@pytest.mark.parametrize("bad", [b"\xff", b"\x00"], ids=["not-utf8", "nul"])
def test_an_unreadable_byte_after_old_mac_line_ends_is_reported_on_its_line(tmp_path: Path, bad: bytes):
    (tmp_path / "c.nurture").write_bytes(b"\xef\xbb\xbfattributes {\r  x: text\r}\r" + bad + b"\r")
    (diag,) = load_campaign([tmp_path], tmp_path).diagnostics
    assert diag.code == "E002" and diag.span.line == 4
