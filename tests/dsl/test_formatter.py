"""The formatter: canonical layout, idempotent, meaning and comments kept; and the `fmt` command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsl.errors import DslSyntaxError
from dsl.formatter import format_file, format_source
from dsl.parser import parse_source
from dsl.source import SourceFile

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CAMPAIGN_FILES = [HERE / "sample.nurture", *sorted((ROOT / "journeys").rglob("*.nurture"))]


def parse(text: str):
    return parse_source(SourceFile("t.nurture", text))


def fmt(text: str) -> str:
    return format_source(textwrap.dedent(text))


def comments(text: str) -> list[str]:
    return [body for _, _, body in parse(text).comments]


# ----- whole files -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: p.name)
def test_campaign_files_are_stable_and_keep_their_meaning(path: Path):
    source = path.read_text(encoding="utf-8")
    once = format_source(source, str(path))
    assert format_source(once, str(path)) == once
    assert parse(once) == parse(source)
    assert comments(once) == comments(source)


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=lambda p: p.name)
def test_formatting_the_tree_alone_is_stable_too(path: Path):
    once = format_file(parse(path.read_text(encoding="utf-8")))
    assert format_file(parse(once)) == once
    assert parse(once) == parse(path.read_text(encoding="utf-8"))


MESSY = """\
# Scoring


score   fit "Who they are"{+15 if job_title matches /\\b(VP|Head)\\b/i
-20 if email ends with "@gmail.com"   # personal mailboxes
  +5  per  email.opened   max 25 per 30 day decay 50% every 1 days
}
stage mql{when fit>=20 and(engagement>=40 or demo.requested within 30 days)
back to lead when not(engagement >= 15)}
journey welcome "Welcome" {
enter when stage becomes mql


  intro:send "welcome" wait 2 days
  if email.clicked since intro { send "case_study" } else { if fit > 10 { send "demo" } else later: send "trial" }
  # done
}
"""

CANONICAL = """\
# Scoring

score fit "Who they are" {
  +15 if job_title matches /\\b(VP|Head)\\b/i
  -20 if email ends with "@gmail.com"  # personal mailboxes
  +5 per email.opened max 25 per 30 days
  decay 50% every 1 day
}

stage mql {
  when fit >= 20 and (engagement >= 40 or demo.requested within 30 days)
  back to lead when not engagement >= 15
}

journey welcome "Welcome" {
  enter when stage becomes mql

  intro: send "welcome"
  wait 2 days
  if email.clicked since intro {
    send "case_study"
  } else if fit > 10 {
    send "demo"
  } else {
    later: send "trial"
  }
  # done
}
"""


def test_messy_input_gets_the_canonical_layout():
    assert format_source(MESSY) == CANONICAL
    assert format_source(CANONICAL) == CANONICAL
    assert parse(CANONICAL) == parse(MESSY)


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n  \n") == ""
    assert format_source("\n  # just a note   \n\n") == "# just a note\n"


def test_syntax_errors_are_raised_not_formatted():
    with pytest.raises(DslSyntaxError) as err:
        format_source("stage mql { when }", "broken.nurture")
    assert err.value.diagnostics[0].span.path == "broken.nurture"


# ----- layout of each construct ----------------------------------------------------------------


def test_every_block_kind_and_statement():
    source = """\
    settings { sender name "A" sender address "a@x.example" reply to "r@x.example"
      sales address "s@x.example" default timezone "UTC" quiet hours 8:00 to 7:30 max 1 emails per day
      max 2 email per week }
    attributes { a: text b: list of number = [1, -2, 3.25] c: date = 2026-01-02 d: bool = false }
    events { x.y { p: text, q: list of text, } z.w {} }
    score s { decay half-life 2 week floor -1.5 }
    stage t "T" { notify sales with "n" notify owner with "n" assign owner round robin ["a","b",]
      assign owner "o" when stage is t }
    journey j { reentry after 1 weeks reentry never exit when x.y goal stage becomes t
      send "a" at 9:05 on sat, sun  wait up to 1 hours for x.y  wait for z.w where p is set
      wait until 7:00 on fri, mon  set b = [] notify sales "s" with "n" }
    """
    assert fmt(source) == textwrap.dedent("""\
    settings {
      sender name "A"
      sender address "a@x.example"
      reply to "r@x.example"
      sales address "s@x.example"
      default timezone "UTC"
      quiet hours 08:00 to 07:30
      max 1 email per day
      max 2 emails per week
    }

    attributes {
      a: text
      b: list of number = [1, -2, 3.25]
      c: date = 2026-01-02
      d: bool = false
    }

    events {
      x.y { p: text, q: list of text }
      z.w
    }

    score s {
      decay half-life 2 weeks
      floor -1.5
    }

    stage t "T" {
      notify sales with "n"
      notify owner with "n"
      assign owner round robin ["a", "b"]
      assign owner "o" when stage is t
    }

    journey j {
      reentry after 1 week
      reentry never
      exit when x.y
      goal stage becomes t
      send "a" at 09:05 on weekends
      wait up to 1 hour for x.y
      wait for z.w where p is set
      wait until 07:00 on mon, fri
      set b = []
      notify sales "s" with "n"
    }
    """)


@pytest.mark.parametrize(("source", "expected"), [
    ("a = 1 or b = 2 and c = 3", "a = 1 or b = 2 and c = 3"),
    ("(a = 1 or b = 2) and c = 3", "(a = 1 or b = 2) and c = 3"),
    ("((a = 1)) and ((b = 2))", "a = 1 and b = 2"),
    ("(a = 1 and b = 2) or (c = 3)", "a = 1 and b = 2 or c = 3"),
    # nested groups of the same operator keep their parentheses: they are distinct trees
    ("a = 1 and (b = 2 and c = 3)", "a = 1 and (b = 2 and c = 3)"),
    ("(a = 1 or b = 2) or c = 3", "(a = 1 or b = 2) or c = 3"),
    ("not (a = 1)", "not a = 1"),
    ("not (not a = 1)", "not not a = 1"),
    ("not (a = 1 and b = 2)", "not (a = 1 and b = 2)"),
    ("x not in [1, 2] and not y in []", "x not in [1, 2] and not y in []"),
    # a `where` filter is one atom, or a parenthesised condition
    ("e.v where (u = 1)", "e.v where u = 1"),
    ('e.v where (u contains "x") at least 2 times', 'e.v where u contains "x" at least 2 times'),
    ("e.v where (u is missing)", "e.v where u is missing"),
    ("e.v where (u is not missing)", "e.v where u is set"),
    ("e.v where (u not in [1])", "e.v where u not in [1]"),
    ("e.v where (not u = 1)", "e.v where not u = 1"),
    ("e.v where not not u is missing within 2 days", "e.v where not not u is missing within 2 days"),
    ("e.v where (not (u = 1 or u = 2))", "e.v where (not (u = 1 or u = 2))"),
    ("e.v where not u = 1 and x is not missing", "e.v where not u = 1 and x is set"),
    ("e.v where (stage is s)", "e.v where (stage is s)"),
    ("e.v where (u = 1 or u = 2) within 3 days", "e.v where (u = 1 or u = 2) within 3 days"),
    ("e.v where (f.g since x)", "e.v where (f.g since x)"),
    # sums of scores and ranges
    ("fit+engagement>=60", "fit + engagement >= 60"),
    ("fit -engagement- 10.50 < -5", "fit - engagement - 10.5 < -5"),
    ("a+b between 1 and 2 or c between -1 and 2026-01-01", "a + b between 1 and 2 or c between -1 and 2026-01-01"),
    ("not a between 1 and 2 and b between 3 and 4", "not a between 1 and 2 and b between 3 and 4"),
    ("e.v where (u between 1 and 2)", "e.v where u between 1 and 2"),
])
def test_conditions_get_minimal_parentheses(source: str, expected: str):
    assert fmt(f"stage s {{ when {source} }}") == f"stage s {{\n  when {expected}\n}}\n"


@pytest.mark.parametrize(("written", "printed"), [
    ('"plain"', '"plain"'),
    (r'"say \"hi\""', r'"say \"hi\""'),
    (r'"back\\slash"', r'"back\\slash"'),
    (r'"\n is just n"', '"n is just n"'),
    ("1.50", "1.5"),
    ("2.0", "2.0"),
    ("007", "7"),
    ("-0.25", "-0.25"),
    ("123456789012345678901234.5", "123456789012345690000000.0"),  # a float, never `1e+23`
    ("0.00000000000001", "0.00000000000001"),
    ("true", "true"),
    ("2026-12-31", "2026-12-31"),
    ('[ 1,[ "a" ], ]', '[1, ["a"]]'),
])
def test_values_print_as_the_language_writes_them(written: str, printed: str):
    out = fmt(f"journey j {{ set v = {written} }}")
    assert out == f"journey j {{\n  set v = {printed}\n}}\n"
    assert parse(out) == parse(f"journey j {{ set v = {written} }}")


def test_else_holding_only_a_labelled_if_stays_a_block():
    out = fmt('journey j { if a = 1 { } else { l: if b = 2 { send "x" } } }')
    assert out == textwrap.dedent("""\
    journey j {
      if a = 1 {
      } else {
        l: if b = 2 {
          send "x"
        }
      }
    }
    """)


def test_blank_lines_between_statements_are_kept_once():
    source = """\
    journey j {

      send "a"



      send "b"
      send "c"

    }
    stage s { when x = 1 }



    stage t { when x = 2 }
    """
    assert fmt(source) == textwrap.dedent("""\
    journey j {
      send "a"

      send "b"
      send "c"
    }

    stage s {
      when x = 1
    }

    stage t {
      when x = 2
    }
    """)


def test_scenarios():
    source = """\
    scenario   "Hot lead"{lead "ann@acme.example"{job_title="VP" , company_size=500,}
    lead "bob@acme.example" {}  start 2026-01-05 9:00
    at 0d:page.viewed{url="/pricing",} at 2d 9:05 : demo.requested
    expect at 2d 9:05:stage is sql expect at 1w: engagement between 40 and 80.50
    expect at 36h: not sent "welcome" in welcome.intro  expect at 90min : sales not notified with "sql_alert"
    expect at 3d: goal reached in journey welcome expect at 3d: nurture_status != "x"}
    """
    assert fmt(source) == textwrap.dedent("""\
    scenario "Hot lead" {
      lead "ann@acme.example" {
        job_title = "VP"
        company_size = 500
      }
      lead "bob@acme.example"
      start 2026-01-05 09:00
      at 0d: page.viewed { url = "/pricing" }
      at 2d 09:05: demo.requested
      expect at 2d 09:05: stage is sql
      expect at 1w: engagement between 40 and 80.5
      expect at 36h: not sent "welcome" in welcome.intro
      expect at 90min: sales not notified with "sql_alert"
      expect at 3d: goal reached in journey welcome
      expect at 3d: nurture_status != "x"
    }
    """)


def test_comments_in_a_scenario_stay_with_their_lines():
    source = """\
    # the hot path
    scenario "s" {  # header
      lead "a@b.example" {
        # who
        job_title = "VP"  # senior
      }

      at 0d: demo.requested  # the ask
      # then
      expect at 0d: stage is sql
    }
    """
    assert fmt(source) == textwrap.dedent(source)


# ----- comments --------------------------------------------------------------------------------


def test_comments_in_every_position():
    source = """\
    # file header

    # about the stage
    stage s "S" {   # on the header
      # before the rule
      when a = 1 and   # inside a broken line
           b = 2
      # before the closing brace
    }   # after the closing brace
    journey j {
      if a = 1 {  # on the if
        send "x"  # trailing
        # end of then
      } else {  # on the else
        # start of else
        send "y"
      }
    }
    # at the end
    """
    assert fmt(source) == textwrap.dedent("""\
    # file header

    # about the stage
    stage s "S" {  # on the header
      # before the rule
      when a = 1 and b = 2  # inside a broken line
      # before the closing brace
    }  # after the closing brace

    journey j {
      if a = 1 {  # on the if
        send "x"  # trailing
        # end of then
      } else {  # on the else
        # start of else
        send "y"
      }
    }
    # at the end
    """)


def test_two_trailing_comments_on_one_printed_line():
    out = fmt("stage s {\n  when a = 1 and # one\n    b = 2 # two\n}\n")
    assert out == "stage s {\n  when a = 1 and b = 2  # one\n  # two\n}\n"
    assert format_source(out) == out


def test_comments_around_compact_else_if():
    out = fmt('journey j { if a = 1 { send "x" } # after then\n else { # else\n if b = 2 { send "y" } } }')
    assert comments(out) == ["# after then", "# else"]
    assert format_source(out) == out
    assert parse(out) == parse('journey j { if a = 1 { send "x" } else if b = 2 { send "y" } }')


def test_a_comment_mentioning_else_does_not_confuse_placement():
    source = 'journey j {\n  if a = 1 {\n    send "x"\n    # or else\n  } else {\n    send "y"\n  }\n}\n'
    assert format_source(source) == source


def test_comment_text_is_kept_verbatim_but_right_trimmed():
    out = fmt('stage s { when a = "#" #  {"odd"} # else \t  \n}')
    assert out == 'stage s {\n  when a = "#"  #  {"odd"} # else\n}\n'


# ----- the fmt command -------------------------------------------------------------------------

runner = CliRunner()


def nurture(*args: str):
    from engine.cli import app

    return runner.invoke(app, ["fmt", *args])


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    (tmp_path / "messy.nurture").write_text(MESSY, encoding="utf-8")
    (tmp_path / "tidy.nurture").write_text(CANONICAL, encoding="utf-8")
    return tmp_path


def test_fmt_rewrites_changed_files_in_place(campaign: Path):
    tidy_before = (campaign / "tidy.nurture").stat().st_mtime_ns
    result = nurture(str(campaign))
    assert result.exit_code == 0, result.output
    assert (campaign / "messy.nurture").read_text(encoding="utf-8") == CANONICAL
    assert (campaign / "tidy.nurture").stat().st_mtime_ns == tidy_before  # unchanged files are not written
    assert "1 file reformatted, 1 left unchanged" in result.output
    assert sorted(p.name for p in campaign.iterdir()) == ["messy.nurture", "tidy.nurture"]  # no temp files


def test_fmt_keeps_the_file_mode(campaign: Path):
    (campaign / "messy.nurture").chmod(0o640)
    assert nurture(str(campaign / "messy.nurture")).exit_code == 0
    assert (campaign / "messy.nurture").stat().st_mode & 0o777 == 0o640


def test_fmt_check_lists_files_that_would_change_and_writes_nothing(campaign: Path):
    result = nurture("--check", str(campaign))
    assert result.exit_code == 1
    assert f"would reformat {campaign / 'messy.nurture'}" in result.output
    assert "tidy.nurture" not in result.output
    assert (campaign / "messy.nurture").read_text(encoding="utf-8") == MESSY
    assert nurture("--check", str(campaign / "tidy.nurture")).exit_code == 0


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(campaign: Path):
    result = nurture("--diff", str(campaign / "messy.nurture"))
    assert result.exit_code == 1
    assert f"--- {campaign / 'messy.nurture'}" in result.output
    assert '-score   fit "Who they are"{+15 if job_title matches /\\b(VP|Head)\\b/i' in result.output
    assert '+score fit "Who they are" {' in result.output
    assert (campaign / "messy.nurture").read_text(encoding="utf-8") == MESSY


def test_fmt_reports_a_broken_file_and_leaves_it_untouched(campaign: Path):
    broken = "stage mql {\n  when fit >=\n}\n"
    (campaign / "broken.nurture").write_text(broken, encoding="utf-8")
    result = nurture(str(campaign))
    assert result.exit_code == 1
    assert f"{campaign / 'broken.nurture'}:3:1: error[E001]" in result.output
    assert "3 | }" in result.output
    assert (campaign / "broken.nurture").read_text(encoding="utf-8") == broken
    assert (campaign / "messy.nurture").read_text(encoding="utf-8") == CANONICAL  # the others still are


def test_fmt_reports_a_file_that_is_not_utf8(campaign: Path):
    (campaign / "latin1.nurture").write_bytes(b"# caf\xe9\n")
    result = nurture("--check", str(campaign / "latin1.nurture"))
    assert result.exit_code == 1
    assert "error[E002]: file is not UTF-8 text" in result.output
    assert (campaign / "latin1.nurture").read_bytes() == b"# caf\xe9\n"


def test_fmt_writes_through_a_symlink(campaign: Path):
    link = campaign / "link.nurture"
    link.symlink_to(campaign / "messy.nurture")
    assert nurture(str(link)).exit_code == 0
    assert link.is_symlink()
    assert (campaign / "messy.nurture").read_text(encoding="utf-8") == CANONICAL


def test_fmt_defaults_to_the_journeys_directory(campaign: Path, monkeypatch: pytest.MonkeyPatch):
    (campaign / "journeys").mkdir()
    (campaign / "journeys" / "a.nurture").write_text(MESSY, encoding="utf-8")
    monkeypatch.chdir(campaign)
    result = nurture("--check")
    assert result.exit_code == 1
    assert "would reformat journeys/a.nurture" in result.output
    assert "messy.nurture" not in result.output


def test_points_per_unit():
    out = fmt("score e { +1  per 10  minutes of w.a where x=1 max 20 per 1 day -2 per 1 minutes of w.a }")
    assert out == textwrap.dedent("""\
    score e {
      +1 per 10 minutes of w.a where x = 1 max 20 per 1 day
      -2 per minutes of w.a
    }
    """)
    assert parse(out) == parse("score e { +1 per 10 minutes of w.a where x = 1 max 20 per 1 day "
                               "-2 per minutes of w.a }")


def test_attribute_placeholders():
    out = fmt('attributes { job_title: text missing when "Select","N/A"  size: number = 0 missing when -1 }')
    assert out == textwrap.dedent("""\
    attributes {
      job_title: text missing when "Select", "N/A"
      size: number = 0 missing when -1
    }
    """)


def test_invariants_are_one_line_each_kept_together():
    out = fmt('invariant at most 3 emails per 7 days invariant no email when owner is set or (stage is sql)\n'
              'scenario "s" { lead "a@b.example" } invariant  at most 1 email per 1 day')
    assert out == textwrap.dedent("""\
    invariant at most 3 emails per 7 days
    invariant no email when owner is set or stage is sql

    scenario "s" {
      lead "a@b.example"
    }

    invariant at most 1 email per 1 day
    """)
