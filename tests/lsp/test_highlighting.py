"""Highlighting: the Pygments lexer on every example file, and the TextMate grammar of the VS Code extension
checked against the keywords of dsl/grammar.lark, so the grammar and the highlighting cannot drift apart."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name
from pygments.token import Error, Keyword, Name

from dsl.lexer import NurtureLexer

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "docs" / "editors" / "vscode"
TEXTMATE = EXTENSION / "syntaxes" / "nurture.tmLanguage.json"
EXAMPLES = sorted((ROOT / "journeys").rglob("*.nurture"))


def grammar_keywords() -> set[str]:
    """The keywords of the language: every quoted literal word in the Lark grammar (comments left out)."""
    text = re.sub(r"//[^\n]*", "", (ROOT / "dsl" / "grammar.lark").read_text(encoding="utf-8"))
    return set(re.findall(r'"([a-z][a-z-]*)"', text))


def test_the_lexer_is_found_by_name_and_by_file_name() -> None:
    assert isinstance(get_lexer_by_name("nurture"), NurtureLexer)
    assert find_lexer_class_for_filename("welcome.nurture") is NurtureLexer


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_lexer_reads_every_example_file_without_an_error_token(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(NurtureLexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens) == (text if text.endswith("\n") else text + "\n")


def test_the_lexer_tells_keywords_events_and_names_apart() -> None:
    text = 'journey welcome "W" {\n  goal demo.requested\n  intro: send "welcome"\n  wait 2 days\n}\n'
    kinds = {value: kind for kind, value in NurtureLexer().get_tokens(text) if value.strip()}
    assert kinds["journey"] in Keyword and kinds["goal"] in Keyword and kinds["days"] in Keyword
    assert kinds["demo.requested"] is Name.Entity
    assert kinds["welcome"] is Name.Class
    assert kinds["intro"] is Name.Label


def _textmate() -> dict:
    return json.loads(TEXTMATE.read_text(encoding="utf-8"))


def _patterns(scope_prefixes: tuple[str, ...]) -> list[re.Pattern[str]]:
    """The `match` regexes of the grammar's rules whose scope starts with one of ``scope_prefixes``."""
    found = []
    for rule in _textmate()["repository"].values():
        names = [rule.get("name", "")] + [c["name"] for c in rule.get("captures", {}).values()]
        if "match" in rule and any(n.startswith(scope_prefixes) for n in names):
            found.append(re.compile(rule["match"]))
    return found


def test_the_textmate_grammar_is_well_formed_and_uses_its_rules() -> None:
    grammar = _textmate()
    assert grammar["scopeName"] == "source.nurture"
    repository = grammar["repository"]
    included = {p["include"].removeprefix("#") for p in grammar["patterns"]}
    assert included == set(repository)  # every rule is used, and every used rule exists
    for name, rule in repository.items():
        scopes = [rule.get("name", "")] + [c["name"] for c in rule.get("captures", {}).values()]
        assert all(s.endswith(".nurture") for s in scopes if s), name
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])  # Python's regexes are close enough to Oniguruma's for these


def test_every_keyword_of_the_grammar_is_highlighted_as_one() -> None:
    keyword_rules = _patterns(("keyword.", "storage.type.", "constant.language."))
    missing = sorted(k for k in grammar_keywords() if not any(p.fullmatch(k) for p in keyword_rules))
    assert missing == []


def test_the_textmate_grammar_is_what_its_script_writes() -> None:
    spec = importlib.util.spec_from_file_location("textmate", ROOT / "docs" / "editors" / "textmate.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert TEXTMATE.read_text(encoding="utf-8") == script.text(), "run: python docs/editors/textmate.py"


def test_textmate_events_and_names_are_not_keywords() -> None:
    keyword_rules = _patterns(("keyword.",))
    [event] = [re.compile(r["match"]) for r in _textmate()["repository"].values()
               if r.get("name", "").startswith("variable.other.constant.event")]
    for name in ("page.viewed", "sales.accepted", "email.opened", "demo.requested"):
        assert event.fullmatch(name)
    for name in ("lead_source", "exited_at", "stages", "company_size"):
        assert not any(p.search(name) for p in keyword_rules), name


def test_the_vscode_extension_points_at_files_that_exist() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "nurture" and language["extensions"] == [".nurture"]
    assert (EXTENSION / language["configuration"]).is_file()
    [grammar] = manifest["contributes"]["grammars"]
    assert (EXTENSION / grammar["path"]).resolve() == TEXTMATE
    assert grammar["scopeName"] == _textmate()["scopeName"]
    assert (EXTENSION / manifest["main"]).is_file()
    server = manifest["contributes"]["configuration"]["properties"]
    assert server["nurture.server.command"]["default"] == "nurture"
    assert server["nurture.server.args"]["default"] == ["lsp"]
    configuration = json.loads((EXTENSION / "language-configuration.json").read_text(encoding="utf-8"))
    assert configuration["comments"]["lineComment"] == "#"
    assert re.fullmatch(configuration["wordPattern"], "page.viewed")
