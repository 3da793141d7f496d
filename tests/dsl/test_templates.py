"""Template discovery and variable analysis, on small template directories built per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.templates import TemplateLibrary, VariableUse, is_sendable


def _library(tmp_path: Path, files: dict[str, str]) -> TemplateLibrary:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return TemplateLibrary(tmp_path)


def test_sendable_names_skip_layouts_partials_and_text_only_parts(tmp_path: Path) -> None:
    library = _library(tmp_path, {
        "welcome.html": "", "welcome.txt": "", "_layout.html": "", "notes.txt": "",
        "webinar/thanks.html": "", "_partials/footer.html": "", "logo.png": "",
    })
    assert library.names() == ["webinar/thanks", "welcome"]
    assert library.parts("welcome") == ["welcome.html", "welcome.txt"]
    assert library.parts("notes") == ["notes.txt"]


@pytest.mark.parametrize(("relative", "sendable"), [
    ("welcome.html", True), ("_layout.html", False), ("emails/_footer.html", False),
    ("_drafts/welcome.html", False), ("welcome.txt", False),
])
def test_is_sendable(relative: str, sendable: bool) -> None:
    assert is_sendable(relative) is sendable


def test_missing_directory_has_no_templates(tmp_path: Path) -> None:
    library = TemplateLibrary(tmp_path / "nope")
    assert (library.exists, library.names()) == (False, [])


def test_uses_resolve_lead_and_scores_keys_with_their_lines(tmp_path: Path) -> None:
    library = _library(tmp_path, {"a.html": (
        "{% block subject %}Hi {{ lead.first_name }}{% endblock %}\n"
        "{{ scores['fit'] }} {{ stage }}\n"
        "{% for key, value in lead.items() %}{{ key }}{{ value }}{% endfor %}\n"
        "{% set greeting = 'hello' %}{{ greeting }} {{ mystery }}\n"
    )})
    path = (tmp_path / "a.html").as_posix()
    assert library.report("a").uses == (
        VariableUse(path, 1, "lead", "first_name"),
        VariableUse(path, 2, "scores", "fit"),
        VariableUse(path, 2, "stage"),
        VariableUse(path, 3, "lead"),
        VariableUse(path, 4, "mystery"),
    )


def test_unknown_root_with_a_method_call_is_still_a_use(tmp_path: Path) -> None:
    library = _library(tmp_path, {"a.html": "{{ profile.items() }}"})
    assert [str(u) for u in library.report("a").uses] == ["profile"]


def test_report_follows_layouts_and_covers_the_text_part(tmp_path: Path) -> None:
    library = _library(tmp_path, {
        "_layout.html": "{% block body %}{% endblock %}\n{{ lead.company }}",
        "a.html": '{% extends "_layout.html" %}{% block body %}{{ lead.role }}{% endblock %}',
        "a.txt": "{{ scores.fit }}",
    })
    assert sorted(str(u) for u in library.report("a").uses) == ["lead.company", "lead.role", "scores.fit"]
    layout_use = next(u for u in library.report("a").uses if u.attr == "company")
    assert (layout_use.path, layout_use.line) == ((tmp_path / "_layout.html").as_posix(), 2)


def test_syntax_error_is_a_problem_with_its_line(tmp_path: Path) -> None:
    library = _library(tmp_path, {"a.html": "line one\n{{ lead.email }\n"})
    [problem] = library.report("a").problems
    assert (problem.path, problem.line, problem.message, problem.missing) == (
        (tmp_path / "a.html").as_posix(), 2, "unexpected '}'", None)


def test_missing_layout_is_a_problem_naming_it(tmp_path: Path) -> None:
    library = _library(tmp_path, {"a.html": 'x\n{% include "_footer.html" %}'})
    [problem] = library.report("a").problems
    assert (problem.line, problem.missing) == (2, "_footer.html")
    assert problem.message == "refers to `_footer.html`, which does not exist"


def test_each_file_is_analysed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = _library(tmp_path, {
        "_layout.html": "{{ lead.email }}",
        "a.html": '{% extends "_layout.html" %}',
        "b.html": '{% extends "_layout.html" %}',
    })
    analysed: list[str] = []
    original = library._analyse
    monkeypatch.setattr(library, "_analyse", lambda rel: analysed.append(rel) or original(rel))
    for _ in range(3):
        library.report("a")
        library.report("b")
    assert sorted(analysed) == ["_layout.html", "a.html", "b.html"]


def test_templates_that_include_each_other_do_not_loop(tmp_path: Path) -> None:
    library = _library(tmp_path, {
        "a.html": '{% include "_b.html" %}{{ lead.x }}',
        "_b.html": '{% if false %}{% include "a.html" %}{% endif %}{{ lead.y }}',
    })
    assert sorted(str(u) for u in library.report("a").uses) == ["lead.x", "lead.y"]


def test_references_outside_the_directory_are_never_rendered_and_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.html").write_text("{{ lead.secret }}", encoding="utf-8")
    library = _library(tmp_path / "templates", {"a.html": '{% include "../outside.html" %}'})
    report = library.report("a")
    assert [(p.fatal, p.message) for p in report.problems] == [
        (True, "`../outside.html` is outside the template folder")]
    assert report.uses == ()
