"""`nurture lsp` over its real stdio protocol: a subprocess, framed JSON-RPC, the example campaign in a copy."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsl.formatter import format_source
from tests.lsp.stdio import ROOT, LspClient, position_of, uri


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example campaign and its templates, so edits on disk never touch the repository."""
    root = tmp_path_factory.mktemp("campaign")
    shutil.copytree(ROOT / "journeys", root / "journeys")
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


@pytest.fixture(scope="module")
def server(campaign: Path) -> Iterator[LspClient]:
    client = LspClient()
    client.initialize(campaign)
    yield client
    assert client.close() == 0, client.stderr()


def _restore(server: LspClient, path: Path, version: int) -> None:
    """Put the file's text back and wait until the server has checked it clean."""
    server.change(path, path.read_text(encoding="utf-8"), version)
    assert server.diagnostics(path, version) == []


def test_initialize_announces_what_the_server_answers(campaign: Path) -> None:
    client = LspClient()
    try:
        result = client.initialize(campaign)
    finally:
        assert client.close() == 0
    capabilities = result["capabilities"]
    assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
    assert capabilities["documentFormattingProvider"]
    assert "." in capabilities["completionProvider"]["triggerCharacters"]
    assert result["serverInfo"]["name"] == "nurture"


def test_an_error_is_published_with_its_range_and_code_then_cleared_when_fixed(server: LspClient,
                                                                                campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    assert server.diagnostics(path, 1) == []
    broken = text.replace('intro: send "welcome"', 'intro: send "\U0001F600welcom"')
    server.change(path, broken, 2)
    [diag] = server.diagnostics(path, 2)
    line, character = position_of(broken, '"\U0001F600welcom"')
    assert diag["code"] == "E105"
    assert diag["severity"] == 1
    assert diag["source"] == "nurture"
    # columns count UTF-16 units, as the protocol does by default: the emoji is two of them
    quoted = len('"welcom"') + 2
    assert diag["range"] == {"start": {"line": line, "character": character},
                             "end": {"line": line, "character": character + quoted}}
    assert "did you mean `welcome`?" in diag["message"]
    # the fix arrives as an incremental change of the range inside the quotes
    server.edit(path, (line, character + 1), (line, character + quoted - 1), "welcome", 3)
    assert server.diagnostics(path, 3) == []


def test_a_syntax_error_points_at_the_token(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "pricing.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    assert server.diagnostics(path, 1) == []
    broken = text.replace("wait 1 day", "wait one day", 1)
    server.change(path, broken, 2)
    [diag] = server.diagnostics(path, 2)
    assert diag["code"] == "E001"
    assert "expected a duration" in diag["message"]
    line, character = position_of(broken, "one day")
    assert diag["range"] == {"start": {"line": line, "character": character},
                             "end": {"line": line, "character": character + 3}}
    _restore(server, path, 3)


def test_the_whole_campaign_is_checked_with_unsaved_texts(server: LspClient, campaign: Path) -> None:
    # welcome.nurture uses `demo.requested`, declared in campaign.nurture: renaming the declaration in the
    # editor, unsaved, makes the use in the other file unknown
    declaring = campaign / "journeys" / "campaign.nurture"
    using = campaign / "journeys" / "welcome.nurture"
    text = declaring.read_text(encoding="utf-8")
    server.open(declaring, text, version=1)
    server.diagnostics(declaring, 1)
    server.change(declaring, text.replace("  demo.requested\n", "  demo.booked\n"), 2)
    found = server.diagnostics(using, holds=bool)
    assert {d["code"] for d in found} == {"E101"}
    assert all("demo.requested" in d["message"] for d in found)
    _restore(server, declaring, 3)
    assert server.diagnostics(using, holds=lambda found: not found) == []


def _hover(server: LspClient, path: Path, needle: str, offset: int = 0) -> str:
    text = path.read_text(encoding="utf-8")
    result = server.at("textDocument/hover", path, *position_of(text, needle, offset))
    assert result is not None, needle
    assert result["contents"]["kind"] == "markdown"
    return result["contents"]["value"]


def test_hover_explains_keywords_events_attributes_and_templates(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    server.open(path)
    assert "whether a lead may go through the journey again" in _hover(server, path, "reentry never")
    assert "(keyword)" in _hover(server, path, "stage becomes mql")
    declared = _hover(server, path, "demo.requested", 3)
    assert "**demo.requested**" in declared and "journeys/campaign.nurture:" in declared
    builtin = _hover(server, path, "email.clicked", 2)
    assert "recorded by the engine itself" in builtin and "`url`: text" in builtin
    assert "property of the event `page.viewed`" in _hover(server, path, "url contains", 1)
    assert "**fit** (score): Who they are" in _hover(server, path, "fit >= 40")
    assert "(attribute): text" in _hover(server, path, "set nurture_status", 5)
    assert "templates/case_study.html" in _hover(server, path, '"case_study"', 2)
    result = server.at("textDocument/hover", path, *position_of(path.read_text(encoding="utf-8"), "welcome \"W", 2))
    assert result is not None and "(journey)" in result["contents"]["value"]


def test_hover_on_a_stage_lists_its_rules_follow_up_included(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    server.open(path)
    shown = _hover(server, path, "sql", 0)
    assert "**sql** (stage)" in shown and 'notify sales with "sql_alert"' in shown
    # a follow-up SLA is a block: its deadline on one line, not each action
    assert "follow up within 4 business hours by sales.contacted { ... }" in shown



def test_hover_while_the_text_does_not_parse_goes_by_the_campaigns_names(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    typing = text.replace("  set nurture_status", "  wait for\n  set nurture_status")
    server.change(path, typing, 2)
    assert server.diagnostics(path, 2)[0]["code"] == "E001"
    result = server.at("textDocument/hover", path, *position_of(typing, "fit >= 40"))
    assert "**fit** (score)" in result["contents"]["value"]
    _restore(server, path, 3)


def _labels(server: LspClient, path: Path, text: str, version: int, needle: str) -> list[str]:
    server.change(path, text, version)
    result = server.at("textDocument/completion", path, *position_of(text, needle, len(needle)))
    return [item["label"] for item in result["items"]]


def test_completion_offers_the_campaigns_names_for_the_place(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    events = _labels(server, path, text.replace("  set nurture_status", "  wait for "), 2, "wait for ")
    assert {"page.viewed", "demo.requested", "webinar.attended", "email.clicked"} <= set(events)
    assert "fit" not in events
    props = _labels(server, path, text.replace("where url contains", "where "), 3, "where ")
    assert props == ["url"]
    steps = _labels(server, path, text.replace("since proof", "since "), 4, "since ")
    assert {"intro", "proof", "offer", "wait_2_days", "set_nurture_status"} <= set(steps)
    templates = _labels(server, path, text.replace('send "welcome"', 'send "pri"'), 5, 'send "pri')
    assert templates and all(name.startswith("pri") for name in templates)
    assert "pricing_business" in templates and "_layout" not in templates
    stages = _labels(server, path, text.replace("exit when stage becomes sql", "exit when stage becomes "), 6,
                     "stage becomes ")
    assert stages[:3] == ["lead", "mql", "sql"]
    condition = _labels(server, path, text.replace("if fit >= 40", "if "), 7, "if ")
    assert {"fit", "engagement", "company_size", "page.viewed", "stage"} <= set(condition)
    typed = _labels(server, path, text.replace("if fit >= 40", "if engag"), 8, "if engag")
    assert typed == ["engagement"]
    _restore(server, path, 9)


def test_completion_replaces_the_dotted_word_typed_so_far(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "webinar.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    typed = text.rstrip().removesuffix("}") + "  wait for page.v\n}\n"
    server.change(path, typed, 2)
    line, character = position_of(typed, "wait for page.v", len("wait for page.v"))
    result = server.at("textDocument/completion", path, line, character)
    [item] = result["items"]
    assert item["label"] == "page.viewed"
    assert item["textEdit"]["range"]["start"] == {"line": line, "character": character - len("page.v")}
    _restore(server, path, 3)


def test_definition_opens_the_template_file_and_finds_declarations(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "welcome.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text)
    template = server.at("textDocument/definition", path, *position_of(text, '"case_study"', 3))
    assert template["uri"] == uri(campaign / "templates" / "case_study.html")
    label = server.at("textDocument/definition", path, *position_of(text, "since intro", 7))
    line, character = position_of(text, "intro:")
    assert label == {"uri": uri(path), "range": {"start": {"line": line, "character": character},
                                                 "end": {"line": line, "character": character + 5}}}
    declaring = campaign / "journeys" / "campaign.nurture"
    event = server.at("textDocument/definition", path, *position_of(text, "goal demo.requested", 6))
    line, character = position_of(declaring.read_text(encoding="utf-8"), "  demo.requested", 2)
    assert event["uri"] == uri(declaring)
    assert event["range"]["start"] == {"line": line, "character": character}
    score = server.at("textDocument/definition", path, *position_of(text, "fit >= 40"))
    assert score["uri"] == uri(campaign / "journeys" / "scoring.nurture")
    assert server.at("textDocument/definition", path, *position_of(text, "reentry never")) is None


def test_formatting_answers_what_fmt_writes(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "scratch.nurture"  # open in the editor only, never saved
    messy = 'stage   trial "Trying it" {\n        when trial.started within 14 days\n\n\n}\n'
    server.open(path, messy)
    edits = server.request("textDocument/formatting", {"textDocument": {"uri": uri(path)},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})
    [edit] = edits
    assert edit["range"]["start"] == {"line": 0, "character": 0}
    assert edit["range"]["end"]["line"] >= messy.count("\n")
    assert edit["newText"] == format_source(messy)
    assert edit["newText"].startswith('stage trial "Trying it" {\n  when trial.started within 14 days\n}')
    server.change(path, edit["newText"], 2)
    assert server.request("textDocument/formatting", {"textDocument": {"uri": uri(path)},
                                                      "options": {"tabSize": 2, "insertSpaces": True}}) == []


def test_a_file_that_does_not_parse_is_not_formatted_and_closing_it_clears_it(server: LspClient,
                                                                              campaign: Path) -> None:
    path = campaign / "journeys" / "unsaved.nurture"  # open in the editor only, never saved
    server.open(path, "stage trial {\n  when\n}\n")
    [diag] = server.diagnostics(path, 1)
    assert diag["code"] == "E001"
    assert server.request("textDocument/formatting", {"textDocument": {"uri": uri(path)},
                                                      "options": {"tabSize": 2, "insertSpaces": True}}) is None
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri(path)}})
    # closed and not on disk, it is no longer part of the campaign: its diagnostics are cleared
    assert server.diagnostics(path, holds=lambda found: not found) == []


def test_a_template_saved_on_disk_is_seen_when_the_editor_reports_it(server: LspClient, campaign: Path) -> None:
    path = campaign / "journeys" / "reengagement.nurture"
    text = path.read_text(encoding="utf-8")
    server.open(path, text, version=1)
    assert server.diagnostics(path, 1) == []
    first = re.search(r'send "(\w+)"', text)
    assert first is not None
    using_new = text.replace(first.group(0), 'send "fresh_offer"', 1)
    server.change(path, using_new, 2)
    assert [d["code"] for d in server.diagnostics(path, 2)] == ["E105"]
    template = campaign / "templates" / "fresh_offer.html"
    shutil.copy(campaign / "templates" / f"{first.group(1)}.html", template)
    try:
        server.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": uri(template), "type": 1}]})
        assert server.diagnostics(path, 2, holds=lambda found: not found) == []
    finally:
        template.unlink()
    _restore(server, path, 3)


def test_an_untitled_buffer_is_formatted_and_asks_nothing_of_a_campaign(server: LspClient) -> None:
    untitled = "untitled:Untitled-1"
    server.notify("textDocument/didOpen", {"textDocument": {"uri": untitled, "languageId": "nurture", "version": 1,
                                                            "text": "stage  trial {\n when fit>=1\n}\n"}})
    position = {"line": 1, "character": 7}
    assert server.request("textDocument/hover", {"textDocument": {"uri": untitled}, "position": position}) is None
    [edit] = server.request("textDocument/formatting", {"textDocument": {"uri": untitled},
                                                        "options": {"tabSize": 2, "insertSpaces": True}})
    assert edit["newText"] == "stage trial {\n  when fit >= 1\n}\n"
    server.notify("textDocument/didClose", {"textDocument": {"uri": untitled}})
