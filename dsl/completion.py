"""What may be written at a place in a campaign file that is being typed: which kinds of name, which keywords.

Text being typed rarely parses, so this reads the words before the place instead of the syntax tree: the block
it is in (a journey, a scenario's lead, an event's filter ...) and the words just before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .navigation import Kind

TOP_LEVEL = ("settings", "attributes", "events", "score", "stage", "journey", "scenario", "topics", "accounts",
             "account alert")
TYPES = ("text", "number", "bool", "date", "timezone", "list of")
STATEMENTS: dict[str | None, tuple[str, ...]] = {
    None: TOP_LEVEL,
    "settings": ("sender name", "sender address", "reply to", "sales address", "default timezone", "quiet hours",
                 "max", "experiment seed", "business hours", "owner", "unsubscribe leaves"),
    "score": ("decay", "floor"),
    "stage": ("when", "back to", "notify", "assign owner", "follow up within"),
    "journey": ("enter when", "reentry", "exit when", "goal", "send", "wait", "if", "set", "notify", "split"),
    "branch": ("send", "wait", "if", "set", "notify", "split"),
    # inside a split step, besides its arms (`50% name: ...`, `50% name { ... }`)
    "split": ("goal click within", "goal", "pick winner at", "pick winner on"),
    "scenario": ("lead", "start", "at", "expect at"),
    "accounts": ("by", "free mail", "score"),
}
EXPECTATIONS = ("stage is", "sent", "not sent", "sales notified with", "sales not notified with", "in journey",
                "not in journey", "exited journey", "finished journey", "goal reached in journey", "arm", "sla")
_CONDITION_START = {"when", "if", "and", "or", "not", "(", "goal"}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:-[a-z]+)?(?:\.[A-Za-z0-9_]*)*)
  | (?P<number>[+-]?\d+(?:[.:]\d+)*%?[a-z]*)
  | (?P<punct>>=|<=|!=|.)
""", re.VERBOSE)
_REGEX = re.compile(r"/(?:\\.|[^/\\\n])*/?[imsx]*")
_PARTIAL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True, slots=True)
class Expected:
    """What may be written at a place: names of ``kinds`` (in ``scope``) and ``keywords``."""

    kinds: frozenset[Kind] = frozenset()
    keywords: tuple[str, ...] = ()
    #: the journey whose steps, or the event whose properties, are meant
    scope: str | None = None
    #: the word typed so far, which a completion replaces, and the 1-based column it starts at
    prefix: str = ""
    start: int = 1
    #: the place is inside a quoted text (a template's name)
    in_string: bool = False


@dataclass
class _Frame:
    kind: str
    name: str | None = None
    tokens: list[str] = field(default_factory=list)


def expected_at(text: str, line: int, column: int) -> Expected:
    """What may be written at 1-based ``line`` and ``column`` of ``text`` (the place just before that column)."""
    lines = text.split("\n")
    current = lines[line - 1] if 0 < line <= len(lines) else ""
    before_line = current[: column - 1]
    head = "\n".join(lines[: line - 1] + [before_line])
    tokens = _tokens(head)
    if _in_comment(head):
        return Expected(start=column)
    if tokens and tokens[-1].startswith('"') and (len(tokens[-1]) == 1 or not tokens[-1].endswith('"')):
        prefix = tokens[-1][1:]
        frames = _frames(tokens[:-1])
        return _in_string(frames[-1], prefix, column - len(prefix))
    partial = _PARTIAL.search(before_line)
    prefix = partial.group(0) if partial else ""
    if prefix and tokens and tokens[-1].endswith(prefix):
        tokens = tokens[:-1]
    frames = _frames(tokens)
    at_line_start = not before_line[: len(before_line) - len(prefix)].strip()
    found = _expected(frames, at_line_start)
    if Kind.JOURNEY in found.kinds and "." in prefix:  # `sent "x" in welcome.intro`: a step of that journey
        journey, _, step = prefix.partition(".")
        return Expected(frozenset({Kind.STEP}), scope=journey, prefix=step, start=column - len(step))
    return Expected(found.kinds, found.keywords, found.scope, prefix, column - len(prefix))


def _tokens(text: str, keep_comments: bool = False) -> list[str]:
    found: list[str] = []
    pos = 0
    while pos < len(text):
        if found and found[-1] == "matches" and text[pos] == "/":
            match = _REGEX.match(text, pos)
        else:
            match = _TOKEN.match(text, pos)
        assert match is not None  # the last alternative takes any character
        if match.lastgroup != "space" and (keep_comments or match.lastgroup != "comment"):
            found.append(match.group(0))
        pos = match.end()
    return found


def _in_comment(head: str) -> bool:
    """The place is in a comment: the last line holds a `#` outside quotes and regexes."""
    last = head[head.rfind("\n") + 1:]
    return "#" in last and any(t.startswith("#") for t in _tokens(last, keep_comments=True))


def _frames(tokens: list[str]) -> list[_Frame]:
    """The blocks open at the end of ``tokens``, outermost first, each with its words since the last brace."""
    frames = [_Frame("top")]
    for token in tokens:
        frame = frames[-1]
        if token == "{":
            frames.append(_open(frame))
            frame.tokens = []
        elif token == "}":
            if len(frames) > 1:
                frames.pop()
            frames[-1].tokens = []
        else:
            frame.tokens.append(token)
    return frames


def _open(frame: _Frame) -> _Frame:
    words = frame.tokens
    last = words[-1] if words else ""
    if frame.kind == "top":
        kind = words[0] if words and words[0] in TOP_LEVEL else "other"
        return _Frame(kind, words[1] if kind == "journey" and len(words) > 1 else None)
    if frame.kind == "events":
        return _Frame("props", last)
    if frame.kind in ("journey", "branch") and "split" in words:  # a split step: its arms and goal
        return _Frame("split", frame.name)
    if frame.kind in ("journey", "branch", "split"):
        return _Frame("branch", frame.name)
    if frame.kind == "scenario":
        keywords = [w for w in words if w in ("lead", "at", "expect")]
        if keywords and keywords[-1] == "lead":
            return _Frame("lead")
        return _Frame("assign", last)
    return _Frame("other")


def _in_string(frame: _Frame, prefix: str, start: int) -> Expected:
    previous = frame.tokens[-1] if frame.tokens else ""
    if previous in ("send", "with", "sent"):
        return Expected(frozenset({Kind.TEMPLATE}), prefix=prefix, start=start, in_string=True)
    return Expected(prefix=prefix, start=start, in_string=True)


def _expected(frames: list[_Frame], at_line_start: bool) -> Expected:
    frame = frames[-1]
    words = frame.tokens
    prev = words[-1] if words else ""
    prev2 = words[-2] if len(words) > 1 else ""
    journey = next((f.name for f in reversed(frames) if f.kind == "journey"), None)
    if frame.kind in ("events", "attributes", "props"):
        return Expected(keywords=TYPES) if prev == ":" else Expected()
    if frame.kind == "lead":
        return Expected() if prev == "=" else Expected(frozenset({Kind.ATTRIBUTE}))
    if frame.kind == "assign":
        return Expected() if prev == "=" else Expected(frozenset({Kind.PROPERTY}), scope=frame.name)
    if prev == "since":
        return Expected(frozenset({Kind.STEP}), scope=journey)
    if prev == "becomes" or (prev == "is" and prev2 == "stage") or (prev == "to" and prev2 == "back"):
        return Expected(frozenset({Kind.STAGE}))
    if prev == "journey" and frame.kind == "scenario" or prev == "in" and prev2.startswith('"'):
        return Expected(frozenset({Kind.JOURNEY}))
    if prev == "set":
        return Expected(frozenset({Kind.ATTRIBUTE}))
    if prev == "for" or prev == "per" and re.fullmatch(r"[+-]\d+", prev2):
        return Expected(frozenset({Kind.EVENT}))
    event = _filtered_event(words)
    if event is not None:
        return Expected(frozenset({Kind.PROPERTY}), scope=event)
    if prev == ":" and frame.kind == "scenario":
        moment = max((i for i, w in enumerate(words) if w == "at"), default=-1)
        if moment > 0 and words[moment - 1] == "expect":
            return Expected(frozenset({Kind.FIELD}), EXPECTATIONS)
        return Expected(frozenset({Kind.EVENT}))
    if prev in ("+", "-") and re.fullmatch(r"[A-Za-z_]\w*", prev2):  # `fit + `: a sum of scores
        return Expected(frozenset({Kind.SCORE}))
    if prev in _CONDITION_START:
        return Expected(frozenset({Kind.FIELD, Kind.EVENT}), ("stage", "not"))
    if at_line_start or prev == ":" and frame.kind in ("journey", "branch"):
        return Expected(keywords=STATEMENTS.get(None if frame.kind == "top" else frame.kind, ()))
    return Expected()


def _filtered_event(words: list[str]) -> str | None:
    """The event whose properties a `where` just before the place filters, or None."""
    if "where" not in words:
        return None
    at = len(words) - 1 - words[::-1].index("where")
    event = words[at - 1] if at > 0 else None
    after = words[at + 1:]
    if not after:
        return event
    depth = 0
    for word in after:
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth <= 0:
            return None
    return event if after[-1] in ("(", "and", "or", "not") else None
