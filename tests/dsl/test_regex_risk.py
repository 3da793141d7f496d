"""Regexes that repeat a repeated part are found; ordinary ones, and ones that cannot backtrack, are not."""

from __future__ import annotations

import pytest

from dsl.regex_risk import nested_repeat


@pytest.mark.parametrize(("pattern", "group"), [
    (r"(a+)+", "(a+)+"),
    (r"(.*)*", "(.*)*"),
    (r"^(\w+\s?)*$", r"(\w+\s?)*"),
    (r"x((a+)b)+y", "((a+)b)+"),
    (r"(a+){2,}", "(a+){2,}"),
    (r"(?:a*)*?", "(?:a*)*?"),
    (r"(\(+)+", r"(\(+)+"),
])
def test_a_repeated_group_around_a_repeat_is_found(pattern: str, group: str):
    found = nested_repeat(pattern)
    assert found is not None and pattern[found[0]:found[1]] == group


@pytest.mark.parametrize("pattern", [
    r"\b(VP|Vice President|Director)\b", r"(a|b)*", r"a+b+", r"(a+)?", r"(a+){2,5}", r"([a+])+", r"[(]a+[)]+",
    r"(?>a+)+", r"(a++)+", r"\(a+\)+", r"a{,3}", r"x{a}+",
])
def test_patterns_that_cannot_blow_up_are_left_alone(pattern: str):
    assert nested_repeat(pattern) is None
