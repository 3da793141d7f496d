"""Regexes prone to catastrophic backtracking: a group that repeats a part which itself repeats, like `(a+)+`.

Such a pattern tries exponentially many ways to split a long text that almost matches, and a lead's
`job_title` is read by every scoring pass. Python's regex parser is private, so the pattern is scanned here:
escapes, character classes and group prefixes (`(?:`, `(?P<name>`) are skipped, nothing else is needed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Group:
    start: int
    #: the group holds a part repeated without bound
    repeats: bool = False
    #: an atomic group `(?>...)` never backtracks into itself
    atomic: bool = False


def _class_end(pattern: str, i: int) -> int:
    """The offset just past the character class opening at ``i``."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _quantifier(pattern: str, i: int) -> tuple[int, bool]:
    """The length of the quantifier at ``i`` (0: none) and whether it repeats without bound and may backtrack."""
    if i >= len(pattern):
        return 0, False
    if pattern[i] in "+*?":
        length, unbounded = 1, pattern[i] != "?"
    elif pattern[i] == "{" and (close := pattern.find("}", i)) > 0:
        body = pattern[i + 1: close]
        low, comma, high = body.partition(",")
        if not low.isdigit() and low or not (high.isdigit() or not high):
            return 0, False  # a literal `{`
        length, unbounded = close - i + 1, bool(comma) and not high
    else:
        return 0, False
    follow = pattern[i + length: i + length + 1]
    if follow == "+":  # possessive: gives nothing back
        return length + 1, False
    return length + (follow == "?"), unbounded


def nested_repeat(pattern: str) -> tuple[int, int] | None:
    """Offsets (start, end) of the first repeated group that holds a repeated part, or None."""
    stack = [_Group(0)]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
        elif char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            atomic = pattern.startswith("(?>", i)
            stack.append(_Group(i, atomic=atomic))
            i += 2 if pattern.startswith("(?", i) else 1
            continue
        elif char == ")" and len(stack) > 1:
            group = stack.pop()
            length, unbounded = _quantifier(pattern, i + 1)
            if unbounded and group.repeats and not group.atomic:
                return group.start, i + 1 + length
            stack[-1].repeats |= unbounded or (group.repeats and not group.atomic)
            i += 1 + length
            continue
        else:
            i += 1
        length, unbounded = _quantifier(pattern, i)
        stack[-1].repeats |= unbounded
        i += length
    return None
