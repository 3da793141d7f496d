"""Semantic checks over a whole campaign: names, types, values, templates and logic, all reported at once."""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import ast as a
from .diagnostics import Diagnostic, Label, did_you_mean
from .source import Span
from .symbols import BUILTIN_ATTRIBUTES, BUILTIN_EVENTS, FIRST_STAGE, Symbols, collect, step_labels
from .templates import CONTEXT_NAMES, SETTINGS_KEYS, TemplateLibrary, TemplateProblem, VariableUse

NUMBER = a.TypeRef("number")
TEXT_TYPES = ("text", "timezone")
ORDERED_TYPES = ("number", "date")
ORDERING = ("<", "<=", ">", ">=")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
DATE_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_files(files: Sequence[a.File], template_dir: Path) -> list[Diagnostic]:
    """Every problem in a campaign's parsed files, in the order found (the caller sorts)."""
    return Checker(list(files), TemplateLibrary(template_dir)).run()


# ===== describing things in messages ===========================================================


TYPE_PHRASES = {"text": "text", "number": "a number", "bool": "a boolean", "date": "a date",
                "timezone": "a timezone"}
PLURALS = {"text": "text", "number": "numbers", "bool": "booleans", "date": "dates", "timezone": "timezones"}


def show_type(t: a.TypeRef) -> str:
    """A type as a phrase: `is a number`, `is text`, `is a list of text`."""
    return f"a list of {PLURALS[t.name]}" if t.is_list else TYPE_PHRASES[t.name]


def show_kind(kind: str) -> str:
    return {"text": "text", "number": "a number", "bool": "a boolean", "date": "a date",
            "list": "a list"}[kind]


def show_value(value: a.Value) -> str:
    """A literal as it would be written in a campaign."""
    match value.kind:
        case "text":
            return '"' + str(value.value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        case "bool":
            return "true" if value.value else "false"
        case "date":
            return value.value.isoformat()  # type: ignore[union-attr]
        case "list":
            return "[" + ", ".join(show_value(v) for v in value.value) + "]"  # type: ignore[union-attr]
    return str(value.value)


def tail(span: Span, width: int) -> Span:
    """The last ``width`` columns of a one-line span: a quoted string at the end of a statement."""
    if span.line != span.end_line or width >= span.end_column - span.column:
        return span
    return Span(span.path, span.line, span.end_column - width, span.end_line, span.end_column)


def quoted_width(text: str) -> int | None:
    """Columns a string literal takes, when that can be known without the source."""
    return None if '"' in text or "\\" in text or "\n" in text else len(text) + 2


def closest(word: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


# ===== validating values =======================================================================


@functools.lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return f"`{name}` is not a known time zone"
    return None


def zone_help(name: str) -> str:
    return did_you_mean(name, known_zones()) or "use an IANA time zone name like `Europe/Paris`"


def email_problem(address: str) -> str | None:
    if EMAIL.fullmatch(address):
        return None
    return "it is empty" if not address else f"`{address}` is not an email address"


def impossible_date(value: a.Value) -> bool:
    """The parser keeps an unquoted date that does not exist (2026-02-30) as text of the same width."""
    text = str(value.value)
    width = value.span.end_column - value.span.column
    return (value.kind == "text" and DATE_LITERAL.fullmatch(text) is not None
            and value.span.line == value.span.end_line and width == len(text))


def value_kind(value: a.Value) -> str:
    """The kind a literal was meant to have: an impossible date is still a date."""
    return "date" if impossible_date(value) else value.kind


def given_mismatch(t: a.TypeRef, value: a.Value) -> str | None:
    """What ``value`` is when it cannot be stored in a field of type ``t``, else None."""
    kind = value_kind(value)
    if t.is_list:
        if kind != "list":
            return show_kind(kind)
        for item in value.value:  # type: ignore[union-attr]
            if given_mismatch(a.TypeRef(t.name), item) is not None:
                return f"a list holding {show_kind(value_kind(item))}"
        return None
    expected = "text" if t.name == "timezone" else t.name
    return None if kind == expected else show_kind(kind)


# ===== logic: conditions that can never hold ===================================================
#
# A condition is expanded into its disjunctive normal form; each conjunction is a list of facts
# (`Fact`) about one field each. A conjunction is impossible when the facts about one field
# contradict. Only certain contradictions count: missing values, case-insensitive text and
# engine details must never turn a possible condition into a reported one.

MAX_TERMS = 64
FLIP = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "=": "!=", "!=": "="}


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a conjunction says about one field: ``op`` applied to ``value``."""

    subject: str  # as shown in messages: "`fit`" or "the stage"
    bucket: tuple[str, str]  # facts only meet others in the same bucket (field, kind)
    op: str
    value: object
    why: str
    implicit: bool = False  # a score's own bounds, not something the author wrote
    help: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a condition can never hold, and how to fix it when there is an obvious way."""

    text: str
    help: str | None = None


@dataclass(frozen=True, slots=True)
class Bounds:
    low: float
    high: float


def _interval_ok(facts: Sequence[Fact]) -> tuple[tuple[object, bool] | None, tuple[object, bool] | None, bool]:
    low: tuple[object, bool] | None = None
    high: tuple[object, bool] | None = None
    for f in facts:
        if f.op in (">=", ">"):
            new = (f.value, f.op == ">=")
            if low is None or new[0] > low[0] or (new[0] == low[0] and not new[1]):  # type: ignore[operator]
                low = new
        elif f.op in ("<=", "<"):
            new = (f.value, f.op == "<=")
            if high is None or new[0] < high[0] or (new[0] == high[0] and not new[1]):  # type: ignore[operator]
                high = new
    empty = low is not None and high is not None and (
        low[0] > high[0] or (low[0] == high[0] and not (low[1] and high[1])))  # type: ignore[operator]
    return low, high, not empty


def _inside(value: object, low: tuple[object, bool] | None, high: tuple[object, bool] | None) -> bool:
    if low is not None and (value < low[0] or (value == low[0] and not low[1])):  # type: ignore[operator]
        return False
    return not (high is not None and (value > high[0] or (value == high[0] and not high[1])))  # type: ignore[operator]


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def _text_test(op: str, wanted: object, value: object) -> bool:
    """Whether ``value`` may pass a text test; case-insensitive so it never rejects a possible match."""
    text, want = str(value).casefold(), str(wanted).casefold()
    if op == "contains":
        return want in text
    if op == "starts with":
        return text.startswith(want)
    if op == "ends with":
        return text.endswith(want)
    return True


def _allowed(facts: Sequence[Fact]) -> list[object] | None:
    """Values an equality or `in` restricts the field to (None: no restriction)."""
    allowed: list[object] | None = None
    for f in facts:
        values = [f.value] if f.op == "=" else list(f.value) if f.op == "in" else None  # type: ignore[call-overload]
        if values is None:
            continue
        if allowed is None:
            allowed = values
        else:  # text may compare case-insensitively: keep values that might be equal
            folded = {_fold(v) for v in values}
            allowed = [v for v in allowed if _fold(v) in folded]
    return allowed


def _affixes_ok(facts: Sequence[Fact], op: str) -> bool:
    affixes = [str(f.value).casefold() for f in facts if f.op == op]
    for x, y in itertools.combinations(affixes, 2):
        fits = x.startswith(y) or y.startswith(x) if op == "starts with" else x.endswith(y) or y.endswith(x)
        if not fits:
            return False
    return True


def consistent(facts: Sequence[Fact]) -> bool:
    """Whether facts about one field can all hold together."""
    ops = {f.op for f in facts}
    if "never" in ops or ("set" in ops and "missing" in ops):
        return False
    low, high, ok = _interval_ok(facts)
    if not ok:
        return False
    excluded = [f.value for f in facts if f.op == "!="]
    excluded += [v for f in facts if f.op == "not in" for v in f.value]  # type: ignore[attr-defined]
    allowed = _allowed(facts)
    if allowed is not None:
        return any(_survives(v, facts, excluded, low, high) for v in allowed)
    if low is not None and high is not None and low[0] == high[0] and low[0] in excluded:
        return False
    return _affixes_ok(facts, "starts with") and _affixes_ok(facts, "ends with")


def _survives(value: object, facts: Sequence[Fact], excluded: list[object],
              low: tuple[object, bool] | None, high: tuple[object, bool] | None) -> bool:
    if value in excluded or not _inside(value, low, high):
        return False
    for f in facts:
        if f.op in ("contains", "starts with", "ends with") and not _text_test(f.op, f.value, value):
            return False
        if f.op == "matches" and not _may_match(f.value, value):  # type: ignore[arg-type]
            return False
    return True


def _may_match(pattern: re.Pattern[str], value: object) -> bool:
    """Whether some spelling of ``value`` may match: equality ignores case, so ignore it here too."""
    return re.compile(pattern.pattern, pattern.flags | re.IGNORECASE).search(str(value)) is not None


def explain(facts: Sequence[Fact]) -> Reason:
    """Why facts about one field contradict: the smallest set that does, in words."""
    last = facts[-1]
    if not consistent([last]):
        return Reason(last.why, last.help)
    for first in facts[:-1]:
        if not consistent([first, last]):
            if first.implicit:
                return Reason(f"{last.subject} is {first.why}, so it is never {last.why}", first.help)
            return Reason(f"{last.subject} cannot be {first.why} and {last.why} at once", _pair_help(first, last))
    return Reason(f"these conditions on {last.subject} cannot all hold at once")


def _pair_help(first: Fact, last: Fact) -> str | None:
    ops = {first.op, last.op}
    if first.bucket[1] == "stage":
        return "a lead is in one stage at a time; to accept either, join them with `or`"
    if ops <= {"=", "in"}:
        return "a field holds one value at a time; to accept any of them, use `in [...]` or `or`"
    if ops <= {"<", "<=", ">", ">="}:
        return "the range is empty: check the numbers, or join the two with `or` to accept either side"
    return None


def conflict(term: Sequence[Fact]) -> Reason | None:
    """Why one conjunction can never hold, or None when it might."""
    buckets: dict[tuple[str, str], list[Fact]] = {}
    for fact in term:
        bucket = buckets.setdefault(fact.bucket, [])
        bucket.append(fact)
        if not consistent(bucket):
            return explain(bucket)
    return None


class Logic:
    """Decides which conditions can never (or must always) hold, given what the campaign declares."""

    def __init__(self, fields: Mapping[str | None, Mapping[str, a.TypeRef]], bounds: Mapping[str, Bounds]):
        self.fields = fields  # per scope: None for the lead, an event name for its properties
        self.bounds = bounds

    def why_never(self, cond: a.Condition, scope: str | None) -> Reason | None:
        terms = self._dnf(cond, False, scope)
        if not terms:
            return None
        reasons = []
        for term in terms:
            reason = conflict(self._with_bounds(term))
            if reason is None:
                return None
            reasons.append(reason)
        return reasons[0] if len(set(reasons)) == 1 else Reason("no combination of these conditions can hold")

    def never(self, cond: a.Condition, scope: str | None) -> bool:
        return self.why_never(cond, scope) is not None

    def always(self, cond: a.Condition, scope: str | None) -> bool:
        return self.never(a.Not(cond, span=cond.span), scope)

    def _with_bounds(self, term: list[Fact]) -> list[Fact]:
        names = {f.bucket[0] for f in term if f.bucket[1] == "number" and f.bucket[0] in self.bounds}
        implied: list[Fact] = []
        for name in sorted(names):
            b = self.bounds[name]
            if b.high != math.inf:
                implied.append(Fact(f"`{name}`", (name, "number"), "<=", b.high, f"at most {_num(b.high)}", True,
                                    f"the most `{name}` can reach is {_num(b.high)}, the sum of its positive "
                                    "rules; lower the threshold"))
            if b.low != -math.inf:
                implied.append(Fact(f"`{name}`", (name, "number"), ">=", b.low, f"at least {_num(b.low)}", True,
                                    f"the least `{name}` can be is {_num(b.low)}, from its negative rules and "
                                    "floor; raise the threshold"))
        return implied + term

    def _dnf(self, cond: a.Condition, negated: bool, scope: str | None) -> list[list[Fact]] | None:
        """Disjunctive normal form with negations pushed inwards; None when it grows too large."""
        if isinstance(cond, a.Not):
            return self._dnf(cond.item, not negated, scope)
        if isinstance(cond, a.AllOf | a.AnyOf):
            parts = [self._dnf(item, negated, scope) for item in cond.items]
            if any(p is None for p in parts):
                return None
            if isinstance(cond, a.AllOf) != negated:
                return _product(parts)  # type: ignore[arg-type]
            joined = [term for part in parts for term in part]  # type: ignore[union-attr]
            return joined if len(joined) <= MAX_TERMS else None
        fact = self._fact(cond, negated, scope)
        return [[fact] if fact is not None else []]

    def _fact(self, cond: a.Condition, negated: bool, scope: str | None) -> Fact | None:
        match cond:
            case a.Presence(name=name, present=present):
                op = "set" if present != negated else "missing"
                return Fact(f"`{name}`", (name, "presence"), op, None, op)
            case a.StageIs(stage=stage):
                return Fact("the stage", ("", "stage"), "!=" if negated else "=", str(stage),
                            f"other than `{stage}`" if negated else f"`{stage}`")
            case a.Happened():
                return self._happened_fact(cond, negated)
        field_type = self._type(cond, scope)
        if field_type is None:
            return None
        return self._field_fact(cond, negated, field_type, scope)

    def _happened_fact(self, cond: a.Happened, negated: bool) -> Fact | None:
        where = cond.event.where
        if negated or where is None or cond.times == 0 or not self.never(where, str(cond.event.event)):
            return None
        return Fact(f"`{cond.event.event}`", ("", "never"), "never", None,
                    f"the `where` filter of `{cond.event.event}` never matches")

    def _type(self, cond: a.Condition, scope: str | None) -> a.TypeRef | None:
        name = getattr(cond, "name", None)
        if name is None:
            return None
        if scope is None and name in self.bounds and name not in self.fields.get(None, {}):
            return NUMBER
        found = self.fields.get(scope, {}).get(name)
        return None if found is None or found.is_list else found

    def _field_fact(self, cond: a.Condition, negated: bool, t: a.TypeRef, scope: str | None) -> Fact | None:
        total = scope is None and t is NUMBER  # a score always has a value, so `not` flips exactly
        kind = "text" if t.name in TEXT_TYPES else t.name
        match cond:
            case a.Compare(name=name, op=op, value=value) if value.kind == kind:
                if (negated and not (total or op == "=")) or (op in ORDERING and kind not in ORDERED_TYPES):
                    return None
                op = FLIP[op] if negated else op
                return Fact(f"`{name}`", (name, kind), op, value.value, f"`{op} {show_value(value)}`")
            case a.Member(name=name, values=values, negated=out):
                items = values.value  # type: ignore[union-attr]
                if any(v.kind != kind for v in items) or (negated and out):  # type: ignore[union-attr]
                    return None
                op = "not in" if out != negated else "in"
                shown = show_value(values)
                empty = op == "in" and not items
                why = "an empty list matches nothing" if empty else f"`{op} {shown}`"
                return Fact(f"`{name}`", (name, kind), op, tuple(v.value for v in items), why,  # type: ignore[union-attr]
                            help="put at least one value in the list" if empty else None)
            case a.TextTest(name=name, op=op, text=text) if kind == "text" and not negated:
                return Fact(f"`{name}`", (name, kind), op, text, f'`{op} "{text}"`')
            case a.Matches(name=name, literal=literal) if kind == "text" and not negated:
                compiled = compile_regex(cond)
                if isinstance(compiled, re.Pattern):
                    return Fact(f"`{name}`", (name, kind), "matches", compiled, f"`matches {literal}`")
        return None


def _product(parts: list[list[list[Fact]]]) -> list[list[Fact]] | None:
    terms: list[list[Fact]] = [[]]
    for part in parts:
        terms = [left + right for left in terms for right in part]
        if len(terms) > MAX_TERMS:
            return None
    return terms


def compile_regex(cond: a.Matches) -> re.Pattern[str] | re.error:
    flags = 0
    for letter in cond.flags:
        flags |= REGEX_FLAGS.get(letter, 0)
    try:
        return re.compile(cond.pattern, flags)
    except re.error as err:
        return err


def score_bounds(score: a.Score) -> Bounds:
    """The range a score can take: attribute rules add once, event rules without end."""
    rules = [i for i in score.items if isinstance(i, a.AttributeRule)]
    events = [i for i in score.items if isinstance(i, a.EventRule)]
    high = sum(r.points for r in rules if r.points > 0) + (math.inf if any(e.points > 0 for e in events) else 0)
    low = sum(r.points for r in rules if r.points < 0) - (math.inf if any(e.points < 0 for e in events) else 0)
    for item in score.items:
        if isinstance(item, a.Floor):
            low, high = max(low, item.value), max(high, item.value)
    return Bounds(low, high)


# ===== where a condition is written ============================================================


@dataclass(frozen=True, slots=True)
class Place:
    """What a condition may refer to where it is written."""

    #: inside the `where` of this event; None: the condition is about the lead
    event: str | None = None
    journey: str | None = None
    #: every step label of the journey, with the step it names
    steps: Mapping[str, a.Step] = field(default_factory=dict)
    #: labels of steps that may have run by now; None outside the journey's steps
    ran: frozenset[str] | None = None
    #: the step being checked, whose own label is not yet "since"-able
    current: str | None = None
    entering: bool = False

    def about_event(self, event: str) -> Place:
        return Place(event, self.journey, self.steps, self.ran, self.current, self.entering)


@dataclass
class Walk:
    """One journey's labels, threaded through its steps."""

    journey: a.Journey
    labels: dict[int, str]
    steps: dict[str, a.Step]


# ===== the checker =============================================================================


class Checker:
    """Runs every check over the parsed files and collects diagnostics; it never raises."""

    def __init__(self, files: list[a.File], templates: TemplateLibrary) -> None:
        self.files = files
        self.templates = templates
        self.sym: Symbols = collect(files)
        self.diags: list[Diagnostic] = []
        self.bounds = {name: score_bounds(score) for name, score in self.sym.scores.items()}
        scopes: dict[str | None, Mapping[str, a.TypeRef]] = {None: self.sym.attributes}
        scopes.update(self.sym.events)
        self.logic = Logic(scopes, self.bounds)
        self.first: dict[tuple[str, ...], tuple[Span, str]] = {}
        self.score_uses: dict[str, int] = {}
        self.sends: list[a.Name] = []
        self.current_score: str | None = None
        self.score_refs: dict[str, list[a.Name]] = {}

    def run(self) -> list[Diagnostic]:
        for file in self.files:
            for item in file.items:
                self._item(item)
            self._values(file)
        self._score_cycles()
        self._stage_reachability()
        self._templates()
        self._unused_scores()
        return self.diags

    def report(self, code: str, span: Span, **kwargs: object) -> None:
        self.diags.append(Diagnostic.make(code, span, **kwargs))  # type: ignore[arg-type]

    def _item(self, item: a.Item) -> None:
        match item:
            case a.Settings():
                self._settings(item)
            case a.Attributes():
                self._attributes(item)
            case a.Events():
                self._events(item)
            case a.Score():
                self._score(item)
            case a.Stage():
                self._stage(item)
            case a.Journey():
                self._journey(item)

    # ----- duplicates --------------------------------------------------------------------------

    def _declare(self, what: str, name: str, span: Span, scope: tuple[str, ...] = ()) -> None:
        """Remember the first declaration of a name in its namespace; report any later one."""
        key = (*scope, name)
        if key not in self.first:
            self.first[key] = (span, what)
            return
        first, first_what = self.first[key]
        label = "defined again here" if first_what == what else f"already the name of {_article(first_what)}"
        self.report("E201", span, what=what, name=name, label=label, notes=[Label(first, "first defined here")],
                    help="remove one of them, or give this one another name")

    def _builtin(self, what: str, name: a.Name, why: str) -> None:
        self.report("E201", name.span, what=what, name=name, label=why,
                    help="remove this declaration, or choose another name")

    def _lead_field(self, what: str, name: a.Name) -> None:
        """Attributes and scores share one namespace: conditions name them the same way."""
        if name in BUILTIN_ATTRIBUTES:
            self._builtin(what, name, f"every lead has `{name}` built in")
        else:
            self._declare(what, name, name.span, ("lead field",))

    # ----- settings, attributes, events --------------------------------------------------------

    def _settings(self, item: a.Settings) -> None:
        for setting in item.items:
            match setting:
                case a.Setting(key=key, value=value):
                    self._declare("setting", key, setting.span, ("setting",))
                    self._setting_value(setting, key, value)
                case a.QuietHours(start=start, end=end):
                    self._declare("setting", "quiet hours", setting.span, ("setting",))
                    if (start.hour, start.minute) == (end.hour, end.minute):
                        self.report("E304", setting.span, what="quiet hours",
                                    reason="they start and end at the same time",
                                    label="an empty quiet period", help="give the quiet hours a length")
                case a.FrequencyCap(count=count, period=period):
                    self._declare("setting", f"max emails per {period}", setting.span, ("setting",))
                    if count == 0:
                        self.report("E304", setting.span, what="frequency cap",
                                    reason=f"`max 0 emails per {period}` blocks every email",
                                    label="nothing could ever be sent", help="allow at least 1 email")

    def _setting_value(self, setting: a.Setting, key: str, value: str) -> None:
        width = quoted_width(value)
        span = tail(setting.span, width) if width else setting.span
        if key in ("sender address", "reply to", "sales address"):
            self._email(value, span, key)
        elif key == "default timezone" and (problem := zone_problem(value)):
            self.report("E304", span, what="timezone", reason=problem, label="not an IANA time zone",
                        help=zone_help(value))
        elif key == "sender name" and not value.strip():
            self.report("E304", span, what="sender name", reason="it is empty", label="empty",
                        help='give the name people see in their inbox, like "Acme Growth"')

    def _email(self, address: str, span: Span, what: str) -> None:
        if problem := email_problem(address):
            self.report("E304", span, what=what, reason=problem, label="not an email address",
                        help="write a full address, like `sales@example.com`")

    def _attributes(self, item: a.Attributes) -> None:
        for decl in item.decls:
            self._lead_field("attribute", decl.name)
            if decl.default is not None:
                self._default(decl.name, decl.type, decl.default)

    def _default(self, name: a.Name, t: a.TypeRef, default: a.Value) -> None:
        if impossible_date(default):
            return  # reported by the value pass
        found = given_mismatch(t, default)
        if found is not None:
            self.report("E307", default.span, name=name, expected=show_type(t), found=found,
                        label=f"this is {found}", help=_example_help(name, t, "default"))
        elif t.name == "timezone":
            self._zone_values(default)

    def _zone_values(self, value: a.Value) -> None:
        values = value.value if value.kind == "list" else (value,)
        for v in values:  # type: ignore[union-attr]
            if v.kind == "text" and (problem := zone_problem(str(v.value))):
                self.report("E304", v.span, what="timezone", reason=problem, label="not an IANA time zone",
                            help=zone_help(str(v.value)))

    def _events(self, item: a.Events) -> None:
        for decl in item.decls:
            if decl.name in BUILTIN_EVENTS:
                self._builtin("event", decl.name, "the engine records this event itself")
            else:
                self._declare("event", decl.name, decl.name.span, ("event",))
            for prop in decl.props:
                self._declare("property", prop.name, prop.name.span, ("property", decl.name))

    # ----- scores ------------------------------------------------------------------------------

    def _score(self, score: a.Score) -> None:
        self._lead_field("score", score.name)
        self.current_score = str(score.name)
        self.score_refs.setdefault(score.name, [])
        for item in score.items:
            match item:
                case a.AttributeRule(points=points, condition=cond):
                    self._points(points, item.span)
                    self._condition(cond, Place())
                case a.EventRule(points=points, event=event):
                    self._points(points, item.span)
                    self._event_ref(event, Place())
                case a.Decay() | a.Floor():
                    kind = "decay" if isinstance(item, a.Decay) else "floor"
                    self._declare("setting", kind, item.span, ("score setting", score.name))
        self.current_score = None

    def _points(self, points: int, span: Span) -> None:
        if points == 0:
            self.report("E304", span, what="points", reason="a rule worth 0 points changes nothing",
                        label="0 points", help="give the rule a number of points, or delete it")

    def _score_cycles(self) -> None:
        for name in self.sym.scores:
            path = self._cycle(name)
            if path:
                via = " -> ".join(f"`{p}`" for p in path)
                self.report("E408", self.sym.scores[name].name.span, name=name,
                            label=f"its rules read {via}",
                            help="base a score on attributes and events, not on itself")

    def _cycle(self, start: str) -> list[str] | None:
        """Scores read by ``start``'s rules, as a chain that leads back to ``start``."""
        queue: list[list[str]] = [[start]]
        seen: set[str] = set()
        while queue:
            path = queue.pop(0)
            for ref in self.score_refs.get(path[-1], []):
                if ref == start:
                    return [*path, start]
                if ref not in seen:
                    seen.add(ref)
                    queue.append([*path, str(ref)])
        return None

    # ----- stages ------------------------------------------------------------------------------

    def _stage(self, stage: a.Stage) -> None:
        if stage.name == FIRST_STAGE:
            self._builtin("stage", stage.name, "every lead starts in the built-in stage `lead`")
        else:
            self._declare("stage", stage.name, stage.name.span, ("stage",))
        for item in stage.items:
            self._stage_item(stage, item)

    def _stage_item(self, stage: a.Stage, item: a.StageItem) -> None:
        match item:
            case a.Promote(condition=cond):
                self._condition(cond, Place())
            case a.Demote(target=target, condition=cond):
                self._demote_target(stage, target)
                self._condition(cond, Place())
            case a.Notify(recipient=recipient, template=template):
                self._recipient(recipient)
                self.sends.append(template)
            case a.AssignRoundRobin(owners=owners):
                self._owners(owners, item.span)
            case a.AssignWhen(owner=owner, condition=cond):
                self._email(owner, item.span, "owner address")
                self._condition(cond, Place())

    def _demote_target(self, stage: a.Stage, target: a.Name) -> None:
        if not self._known_stage(target):
            return
        stages = self.sym.stages
        if stage.name in stages and stages.index(target) >= stages.index(stage.name):
            self.report("E407", target.span, target=target, name=stage.name,
                        label="a stage cannot send leads back to itself" if target == stage.name
                        else f"`{target}` comes after `{stage.name}` in the ladder",
                        help="`back to` moves leads down the ladder; promote with `when` instead")

    def _known_stage(self, name: a.Name) -> bool:
        if name in self.sym.stages:
            return True
        self.report("E104", name.span, name=name, label="no stage has this name",
                    help=did_you_mean(name, self.sym.stages)
                    or f"declare it: `stage {name} {{ when ... }}`, or use `{FIRST_STAGE}`")
        return False

    def _recipient(self, recipient: a.Recipient) -> None:
        if recipient.address is not None:
            width = quoted_width(recipient.address)
            span = tail(recipient.span, width) if width else recipient.span
            self._email(recipient.address, span, "sales address")

    def _owners(self, owners: tuple[str, ...], span: Span) -> None:
        if not owners:
            self.report("E304", span, what="owner list", reason="it is empty", label="no owners to rotate",
                        help='list at least one owner address: `["ana@example.com"]`')
        for owner in owners:
            self._email(owner, span, "owner address")

    @functools.cached_property
    def reachable(self) -> set[str]:
        return self._reachable_stages()

    def _stage_reachability(self) -> None:
        for name, stage in self.sym.stage_nodes.items():
            if name not in self.reachable:
                promotes = [i for i in stage.items if isinstance(i, a.Promote)]
                label = ("no `when` promotes leads to it and no stage sends them back to it" if not promotes
                         else "its `when` condition can never hold" if len(promotes) == 1
                         else "none of its `when` conditions can ever hold")
                self.report("E404", stage.name.span, name=name, label=label,
                            help=f"add a condition that promotes leads: `when ...` inside `stage {name}`")

    def _reachable_stages(self) -> set[str]:
        """Stages a lead can be in: promoted into by a possible condition, or sent back to from one."""
        reachable = {FIRST_STAGE}
        reachable |= {name for name, stage in self.sym.stage_nodes.items()
                      if any(isinstance(i, a.Promote) and not self.logic.never(i.condition, None)
                             for i in stage.items)}
        changed = True
        while changed:
            changed = False
            for name in list(reachable):
                for item in self._stage_items(name):
                    if (isinstance(item, a.Demote) and item.target not in reachable
                            and not self.logic.never(item.condition, None)):
                        reachable.add(item.target)
                        changed = True
        return reachable

    def _stage_items(self, name: str) -> tuple[a.StageItem, ...]:
        stage = self.sym.stage_nodes.get(name)
        return stage.items if stage is not None else ()

    # ----- journeys ----------------------------------------------------------------------------

    def _journey(self, journey: a.Journey) -> None:
        self._declare("journey", journey.name, journey.name.span, ("journey",))
        labels = step_labels(journey.steps)
        walk = Walk(journey, labels, self._label_steps(journey, labels))
        for item in journey.items:
            self._journey_item(walk, item)
        self._steps(walk, journey.steps, frozenset())
        self._journey_warnings(journey)

    def _label_steps(self, journey: a.Journey, labels: dict[int, str]) -> dict[str, a.Step]:
        """Each label with the step it names; a label used twice is reported here (E202)."""
        steps: dict[str, a.Step] = {}
        for step in _all_steps(journey.steps):
            label = labels[id(step)]
            if label not in steps:
                steps[label] = step
                continue
            first = steps[label]
            span = step.label.span if step.label is not None else step.span
            explicit = first.label is not None and step.label is not None
            self.report("E202", span, name=label, journey=journey.name,
                        label="used again here" if step.label is not None else "this step's derived label",
                        notes=[Label(first.label.span if first.label is not None else first.span,
                                     "first used here" if first.label is not None
                                     else f"labelled `{label}` from what it does")],
                        help="give each step its own label" if explicit else
                        "unlabelled steps get labels from what they do; pick a label that differs")
        return steps

    def _journey_item(self, walk: Walk, item: a.JourneyItem) -> None:
        match item:
            case a.Entry(trigger=trigger):
                self._trigger(trigger, Place(journey=walk.journey.name, steps=walk.steps, entering=True))
            case a.ExitRule(trigger=trigger) | a.Goal(trigger=trigger):
                self._trigger(trigger, Place(journey=walk.journey.name, steps=walk.steps))
            case a.Reentry():
                self._declare("setting", "reentry", item.span, ("journey setting", walk.journey.name))

    def _trigger(self, trigger: a.Trigger, place: Place) -> None:
        if isinstance(trigger, a.StageBecomes):
            self._known_stage(trigger.stage)
        else:
            self._condition(trigger, place)

    def _steps(self, walk: Walk, steps: Sequence[a.Step], ran: frozenset[str]) -> frozenset[str]:
        """Check steps in order; returns the labels that may have run after them."""
        for step in steps:
            label = walk.labels[id(step)]
            place = Place(journey=walk.journey.name, steps=walk.steps, ran=ran, current=label)
            ran = self._action(walk, step.action, place) | {label}
        return ran

    def _action(self, walk: Walk, action: a.Action, place: Place) -> frozenset[str]:
        ran = place.ran or frozenset()
        match action:
            case a.Send(template=template) | a.NotifyAction(template=template):
                self.sends.append(template)
                if isinstance(action, a.NotifyAction):
                    self._recipient(action.recipient)
            case a.WaitEvent(event=event, timeout=timeout):
                self._event_ref(event, place)
                if timeout is None:
                    self.report("W101", event.event.span, event=event.event, label="no timeout",
                                help=f"wait a limited time: `wait up to 7 days for {event.event}`")
            case a.SetAttribute(name=name, value=value):
                self._set_attribute(name, value)
            case a.Branch():
                return self._branch(walk, action, place)
        return ran

    def _branch(self, walk: Walk, branch: a.Branch, place: Place) -> frozenset[str]:
        self._condition(branch.condition, place)
        inside = (place.ran or frozenset()) | {place.current or ""}
        self._unreachable(branch.then, branch.condition, "can never hold",
                          self.logic.never(branch.condition, None))
        self._unreachable(branch.otherwise, branch.condition, "always holds",
                          self.logic.always(branch.condition, None))
        return self._steps(walk, branch.then, inside) | self._steps(walk, branch.otherwise, inside)

    def _unreachable(self, steps: tuple[a.Step, ...], cond: a.Condition, why: str, dead: bool) -> None:
        if dead and steps:
            same_line = cond.span.line == steps[0].span.line
            self.report("E401", steps[0].span, label=f"the condition {why}" if same_line else "never runs",
                        notes=[] if same_line else [Label(cond.span, f"this condition {why}")],
                        help="fix the condition, or remove the steps that cannot run")

    def _set_attribute(self, name: a.Name, value: a.Value) -> None:
        if name in self.sym.scores and name not in self.sym.attributes:
            self.report("E302", name.span, op="set", name=name, type="a score", label="scores are computed",
                        help="scores change through their rules; set an attribute instead")
            return
        t = self.sym.attributes.get(name)
        if t is None:
            self.report("E102", name.span, name=name, label="no attribute has this name",
                        help=did_you_mean(name, self.sym.attributes)
                        or f"declare it in an `attributes` block: `{name}: text`")
            return
        found = None if impossible_date(value) else given_mismatch(t, value)
        if found is not None:
            self.report("E307", value.span, name=name, expected=show_type(t), found=found,
                        label=f"this is {found}", help=_example_help(name, t, "set"))
        elif t.name == "timezone":
            self._zone_values(value)

    def _journey_warnings(self, journey: a.Journey) -> None:
        if not journey.steps:
            self.report("W104", journey.name.span, name=journey.name, label="nothing to do",
                        help='add steps, like `send "welcome"`')
        entries = [i for i in journey.items if isinstance(i, a.Entry)]
        if not entries:
            self.report("W102", journey.name.span, name=journey.name, label="it has no `enter when`",
                        help="add an entry rule, like `enter when stage becomes mql`")
        elif all(self._dead_entry(e.trigger) for e in entries):
            self.report("W102", journey.name.span, name=journey.name,
                        label="no lead can meet its `enter when`",
                        notes=[Label(e.span, "never happens") for e in entries],
                        help="enter on a stage leads can reach, or a condition that can hold")

    def _dead_entry(self, trigger: a.Trigger) -> bool:
        if isinstance(trigger, a.StageBecomes):
            return trigger.stage in self.sym.stages and trigger.stage not in self.reachable
        return self.logic.never(trigger, None)

    # ----- conditions --------------------------------------------------------------------------

    def _condition(self, cond: a.Condition, place: Place) -> None:
        """Names, types and values in a condition, then whether any part of it can never hold."""
        self._names(cond, place)
        self._impossible(cond, place.event)

    def _names(self, cond: a.Condition, place: Place) -> None:
        match cond:
            case a.AllOf(items=items) | a.AnyOf(items=items):
                for item in items:
                    self._names(item, place)
            case a.Not(item=item):
                self._names(item, place)
            case a.Happened():
                self._happened(cond, place)
            case a.StageIs(stage=stage):
                if place.event is not None:
                    self._not_in_filter(cond, place.event)
                else:
                    self._known_stage(stage)
            case _:
                self._field_test(cond, place)

    def _not_in_filter(self, cond: a.Condition, event: str) -> None:
        self.report("E406", cond.span, event=event, label="not about the event",
                    help="move it outside the parentheses of the filter, joined with `and`")

    def _happened(self, cond: a.Happened, place: Place) -> None:
        if place.event is not None:
            self._not_in_filter(cond, place.event)
            return
        self._event_ref(cond.event, place)
        if cond.since is not None:
            self._since(cond.since, place)

    def _event_ref(self, ref: a.EventRef, place: Place) -> None:
        if ref.event not in self.sym.events:
            self.report("E101", ref.event.span, name=ref.event, label="not a declared event",
                        help=did_you_mean(ref.event, self.sym.events)
                        or f"declare it in an `events` block: `events {{ {ref.event} }}`")
            return
        if ref.where is not None:
            self._condition(ref.where, place.about_event(ref.event))

    def _since(self, label: a.Name, place: Place) -> None:
        if place.journey is None or place.entering:
            where = "outside a journey" if place.journey is None else "before the lead enters the journey"
            self.report("E405", label.span, name=label, label=f"no step has run {where}",
                        help="use a time window instead, like `within 7 days`")
        elif label not in place.steps:
            self.report("E106", label.span, name=label, journey=place.journey, label="no step has this label",
                        help=did_you_mean(label, place.steps) or _known_labels(place))
        elif place.ran is not None and label not in place.ran:
            target = _label_span(place.steps[label])
            self.report("E403", label.span, name=label, label=self._not_run_why(label, place),
                        notes=[Label(target, f"`{label}` is here")] if target.line != label.span.line else [],
                        help="refer to a step that runs before this one")

    def _not_run_why(self, label: str, place: Place) -> str:
        if label == place.current:
            return "this is the step being run"
        step = place.steps[label]
        here = place.steps.get(place.current or "")
        if here is not None and (step.span.line, step.span.column) > (here.span.line, here.span.column):
            return f"`{label}` runs later"
        return f"`{label}` is on another branch"

    def _field_test(self, cond: a.Condition, place: Place) -> None:
        name: a.Name = cond.name  # type: ignore[attr-defined]
        t = self._field_type(cond, name, place)
        if t is None:
            return
        match cond:
            case a.Compare():
                self._compare(cond, t)
            case a.Member():
                self._member(cond, t)
            case a.TextTest():
                self._text_test(cond, t)
            case a.Matches():
                self._matches(cond, t)

    def _field_type(self, cond: a.Condition, name: a.Name, place: Place) -> a.TypeRef | None:
        """The type of the field a test reads, or None after reporting why there is none."""
        if place.event is not None:
            return self._property(name, place.event)
        if name in self.sym.attributes:
            return self.sym.attributes[name]
        if name in self.sym.scores:
            self._score_used(name)
            if isinstance(cond, a.Compare):
                return NUMBER
            self.report("E302", cond.span, op=_op(cond), name=name, type="a score",
                        label="scores are only compared with numbers",
                        help=f"compare it with a number, like `{name} >= 20`")
            return None
        self._unknown_field(cond, name)
        return None

    def _unknown_field(self, cond: a.Condition, name: a.Name) -> None:
        candidates = [*self.sym.attributes, *self.sym.scores]
        guess = closest(name, candidates)
        if isinstance(cond, a.Compare) and guess in self.sym.scores:
            self.report("E103", name.span, name=name, label="no score has this name",
                        help=f"did you mean `{guess}`?")
            return
        self.report("E102", name.span, name=name, label="not a declared attribute or score",
                    help=f"did you mean `{guess}`?" if guess else
                    f"declare it in an `attributes` block: `{name}: text`")

    def _property(self, name: a.Name, event: str) -> a.TypeRef | None:
        props = self.sym.events[event]
        if name in props:
            return props[name]
        help_ = did_you_mean(name, props) or (
            f"declare it: `{event} {{ {name}: text }}`" if not props
            else f"`{event}` has " + _and(props))
        self.report("E107", name.span, event=event, name=name, label=f"not a property of `{event}`",
                    help=help_)
        return None

    def _score_used(self, name: str) -> None:
        if self.current_score is None:
            self.score_uses[name] = self.score_uses.get(name, 0) + 1
        else:
            self.score_refs.setdefault(self.current_score, []).append(a.Name(name))
            if name != self.current_score:
                self.score_uses[name] = self.score_uses.get(name, 0) + 1

    def _compare(self, cond: a.Compare, t: a.TypeRef) -> None:
        kind = value_kind(cond.value)
        if t.is_list:
            self._wrong_op(cond, t, "a list holds several values",
                           f'test membership with `{cond.name} contains "..."`')
        elif kind == "list":
            self._mismatch(cond.name, t, cond.value, f"test membership with `{cond.name} in [...]`")
        elif given_mismatch(t, cond.value) is not None:
            self._mismatch(cond.name, t, cond.value, _unquote_help(t, cond.value) or _example_help(
                cond.name, t, "compare", cond.op))
        elif cond.op in ORDERING and t.name not in ORDERED_TYPES:
            self._wrong_op(cond, t, f"{show_type(t)} has no order",
                           "`<`, `<=`, `>` and `>=` compare numbers and dates; use `=` or `!=`")
        elif t.name == "timezone":
            self._zone_values(cond.value)

    def _member(self, cond: a.Member, t: a.TypeRef) -> None:
        if t.is_list:
            self._wrong_op(cond, t, "a list holds several values",
                           f'test one value with `{cond.name} contains "..."`')
            return
        for item in cond.values.value:  # type: ignore[union-attr]
            if given_mismatch(t, item) is not None:
                self._mismatch(cond.name, t, item, _unquote_help(t, item) or "make every value in the list "
                               f"{show_type(t)}")
                return
        if t.name == "timezone":
            self._zone_values(cond.values)

    def _text_test(self, cond: a.TextTest, t: a.TypeRef) -> None:
        if t.is_list and cond.op == "contains":
            if t.name not in TEXT_TYPES:
                width = quoted_width(cond.text)
                text = a.Value("text", cond.text, span=tail(cond.span, width) if width else cond.span)
                self._mismatch(cond.name, t, text, f"`contains` looks for text, and `{cond.name}` holds "
                               f"{PLURALS[t.name]}")
        elif t.is_list or t.name not in TEXT_TYPES:
            self._wrong_op(cond, t, _text_op_label(cond, t), _text_op_help(cond.name, t))

    def _matches(self, cond: a.Matches, t: a.TypeRef) -> None:
        if t.is_list or t.name not in TEXT_TYPES:
            self._wrong_op(cond, t, _text_op_label(cond, t), _text_op_help(cond.name, t))
            return
        compiled = compile_regex(cond)
        if isinstance(compiled, re.error):
            self.report("E303", _regex_span(cond, compiled.pos), reason=compiled.msg, label="here",
                        help="Python `re` syntax: escape special characters like `(` and `[` with `\\`")

    def _wrong_op(self, cond: a.Condition, t: a.TypeRef, label: str, help_: str) -> None:
        self.report("E302", cond.span, op=_op(cond), name=cond.name, type=show_type(t),  # type: ignore[attr-defined]
                    label=label, help=help_)

    def _mismatch(self, name: a.Name, t: a.TypeRef, value: a.Value, help_: str) -> None:
        found = show_kind(value_kind(value))
        self.report("E301", value.span, name=name, expected=show_type(t), found=found,
                    label=f"this is {found}", help=help_)

    def _impossible(self, cond: a.Condition, scope: str | None) -> None:
        """Report the most specific parts of a condition that can never hold (E402)."""
        match cond:
            case a.AnyOf(items=items):
                for item in items:
                    self._impossible(item, scope)
                return
            case a.Happened():
                return  # its filter was checked where it was written
            case a.AllOf(items=items) if any(self.logic.never(i, scope) for i in items):
                for item in items:
                    self._impossible(item, scope)
                return
        reason = self.logic.why_never(cond, scope)
        if reason is not None:
            self.report("E402", cond.span, label=reason.text, help=reason.help)
        elif isinstance(cond, a.AllOf):
            for item in cond.items:
                self._impossible(item, scope)
        elif isinstance(cond, a.Not):
            self._impossible(cond.item, scope)

    # ----- values anywhere ---------------------------------------------------------------------

    def _values(self, file: a.File) -> None:
        """Values that are wrong wherever they appear: times, durations, percentages, dates, counts."""
        for node in file.walk():
            match node:
                case a.TimeOfDay():
                    self._time(node)
                case a.Duration(amount=0):
                    self.report("E304", node.span, what="duration", reason=f"`{node}` is no time at all",
                                label="zero", help="use at least `1 minute`")
                case a.Decay(percent=percent) if not 0 < percent <= 100:
                    self.report("E304", node.span, what="percentage",
                                reason="decay 0% changes nothing" if percent == 0
                                else f"{percent}% is more than 100%",
                                label=f"{percent}%", help="decay by 1% to 100%")
                case a.Cap(points=0):
                    self.report("E304", node.span, what="cap", reason="`max 0` gives no points",
                                label="the rule can never add anything", help="raise the cap, or delete the rule")
                case a.Happened(times=0):
                    self.report("E304", node.span, what="count", reason="`at least 0 times` always holds",
                                label="0 times", help="count at least 1 time, or drop `at least ... times`")
                case a.Value() if impossible_date(node):
                    self.report("E304", node.span, what="date", reason=f"{node.value} does not exist",
                                label="no such day", help="check the month and day")

    def _time(self, time: a.TimeOfDay) -> None:
        if time.hour > 23:
            reason = f"there is no hour {time.hour}"
        elif time.minute > 59:
            reason = f"there is no minute {time.minute}"
        else:
            return
        self.report("E304", time.span, what="time", reason=reason, label="not a time of day",
                    help="hours run from 00 to 23 and minutes from 00 to 59")

    # ----- templates ---------------------------------------------------------------------------

    def _templates(self) -> None:
        """Every sent template must exist; each one's problems are reported once, at its first use."""
        names = set(self.templates.names())
        seen: set[tuple[str, str]] = set()
        for template in self.sends:
            if template not in names:
                self._unknown_template(template)
                continue
            report = self.templates.report(template)
            for problem in report.problems:
                if _first_time(seen, template, f"{problem.path}:{problem.line}"):
                    self._template_problem(template, problem)
            for use in report.uses:
                self._count_score_use(use)
                problem_help = self._variable_help(use)
                if problem_help is not None and _first_time(seen, template, str(use)):
                    self.report("E305", template.span, template=template, variable=str(use),
                                label=f"`{use}` is read at {use.path}:{use.line}", help=problem_help)

    def _unknown_template(self, name: a.Name) -> None:
        root = self.templates.root.as_posix()
        if not self.templates.exists:
            self.report("E105", name.span, name=name, label=f"the template directory `{root}` does not exist",
                        help="create it, or point `nurture check --templates` at yours")
            return
        label = f"no `{name}.html` in `{root}/`"
        if name.endswith((".html", ".txt")) and name.rsplit(".", 1)[0] in self.templates.names():
            help_ = f"leave out the extension: `\"{name.rsplit('.', 1)[0]}\"`"
        elif (self.templates.root / f"{name}.txt").is_file():
            help_ = f"`{name}.txt` is only the plain-text part: add `{root}/{name}.html`"
        elif (self.templates.root / f"{name}.html").is_file():
            label = "layouts and partials (names starting with `_`) are not sent on their own"
            help_ = "send a template that extends or includes it"
        else:
            help_ = did_you_mean(name, self.templates.names()) or f"create `{root}/{name}.html`"
        self.report("E105", name.span, name=name, label=label, help=help_)

    def _count_score_use(self, use: VariableUse) -> None:
        if use.root == "scores" and use.attr in self.sym.scores:
            self.score_uses[use.attr] = self.score_uses.get(use.attr, 0) + 1

    def _template_problem(self, template: a.Name, problem: TemplateProblem) -> None:
        where = f"at {problem.path}:{problem.line}"
        if problem.missing is not None:
            self.report("E308", template.span, template=template, name=problem.missing, label=where,
                        help=did_you_mean(problem.missing, self.templates.files())
                        or f"create `{self.templates.root.as_posix()}/{problem.missing}`")
        else:
            self.report("E306", template.span, template=template, reason=problem.message, label=where,
                        help="fix the template; Jinja syntax is described at https://jinja.palletsprojects.com")

    def _variable_help(self, use: VariableUse) -> str | None:
        """None when a template may read ``use``; otherwise the help for fixing it."""
        attrs, scores = self.sym.attributes, self.sym.scores
        if use.root == "lead" and use.attr is not None and use.attr not in attrs:
            if use.attr in scores:
                return f"`{use.attr}` is a score: use `scores.{use.attr}`"
            guess = closest(use.attr, attrs)
            return (f"did you mean `lead.{guess}`?" if guess
                    else f"declare it in an `attributes` block: `{use.attr}: text`")
        if use.root == "scores" and use.attr is not None and use.attr not in scores:
            if use.attr in attrs:
                return f"`{use.attr}` is an attribute: use `lead.{use.attr}`"
            guess = closest(use.attr, scores)
            return f"did you mean `scores.{guess}`?" if guess else "declare the score, or remove it from the template"
        if use.root == "settings" and use.attr is not None and use.attr not in SETTINGS_KEYS:
            guess = closest(use.attr, SETTINGS_KEYS)
            return f"did you mean `settings.{guess}`?" if guess else "templates can read " + _and(
                f"settings.{k}" for k in sorted(SETTINGS_KEYS))
        if use.root in CONTEXT_NAMES:
            return None
        if use.root in attrs:
            return f"attributes are read through `lead`: use `lead.{use.root}`"
        if use.root in scores:
            return f"scores are read through `scores`: use `scores.{use.root}`"
        return did_you_mean(use.root, CONTEXT_NAMES) or "templates can read " + _and(sorted(CONTEXT_NAMES))

    # ----- unused ------------------------------------------------------------------------------

    def _unused_scores(self) -> None:
        for name, score in self.sym.scores.items():
            if not self.score_uses.get(name):
                self.report("W103", score.name.span, name=name, label="not used anywhere",
                            help=f"use it in a stage or journey condition, like `when {name} >= 20`, "
                            "or delete it")


# ===== small helpers ===========================================================================


def _all_steps(steps: Iterable[a.Step]) -> Iterator[a.Step]:
    """Steps in document order, nested ones included."""
    for step in steps:
        yield step
        if isinstance(step.action, a.Branch):
            yield from _all_steps((*step.action.then, *step.action.otherwise))


def _known_labels(place: Place) -> str:
    labels = list(place.steps)
    if not labels:
        return "the journey has no steps yet"
    shown = labels[:8] + (["..."] if len(labels) > 8 else [])
    return f"steps in `{place.journey}` are labelled " + _and(shown)


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _and(words: Iterable[str]) -> str:
    """`a`, `b` and `c`."""
    quoted = [f"`{w}`" for w in words]
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _first_time(seen: set[tuple[str, str]], template: str, what: str) -> bool:
    if (template, what) in seen:
        return False
    seen.add((template, what))
    return True


def _label_span(step: a.Step) -> Span:
    return step.label.span if step.label is not None else step.span


def _op(cond: a.Condition) -> str:
    match cond:
        case a.Compare(op=op):
            return op
        case a.Member(negated=negated):
            return "not in" if negated else "in"
        case a.TextTest(op=op):
            return op
        case a.Matches():
            return "matches"
        case a.Presence(present=present):
            return "is set" if present else "is missing"
    return "?"


EXAMPLES = {"text": '"text"', "number": "100", "bool": "true", "date": "2026-01-31",
            "timezone": '"Europe/Paris"'}


def _example_help(name: str, t: a.TypeRef, where: str, op: str = "=") -> str:
    """How to write a value of type ``t`` where it went wrong: a default, a `set` or a comparison."""
    example = f"[{EXAMPLES[t.name]}]" if t.is_list else EXAMPLES[t.name]
    if where == "default":
        return f"give it {show_type(t)}, like `{name}: {t} = {example}`"
    if where == "set":
        return f"give it {show_type(t)}, like `set {name} = {example}`"
    op = op if t.name in ORDERED_TYPES else "="
    return f"compare it with {show_type(t)}, like `{name} {op} {example}`"


def _unquote_help(t: a.TypeRef, value: a.Value) -> str | None:
    """When a number, boolean or date was written in quotes, the fix is to drop them."""
    if value.kind != "text" or t.is_list or t.name in TEXT_TYPES:
        return None
    text = str(value.value)
    looks = {"number": re.fullmatch(r"-?\d+(\.\d+)?", text), "bool": text in ("true", "false"),
             "date": DATE_LITERAL.fullmatch(text)}
    return f"remove the quotes: `{text}`" if looks.get(t.name) else None


def _text_op_label(cond: a.Condition, t: a.TypeRef) -> str:
    return "a list holds several values" if t.is_list else f"`{_op(cond)}` needs text"


def _text_op_help(name: str, t: a.TypeRef) -> str:
    if t.is_list:
        return f'lists only support `contains`: `{name} contains "..."`'
    if t.name in ORDERED_TYPES:
        return f"compare {show_type(t)} with `=`, `<`, `>`, `<=` or `>=`"
    return f"compare {show_type(t)} with `=` or `!=`"


def _regex_span(cond: a.Matches, pos: int | None) -> Span:
    """The character of the regex literal where compiling failed, else the whole literal."""
    span = cond.span
    width = len(cond.literal)
    if span.line != span.end_line or width > span.end_column - span.column:
        return span
    start = span.end_column - width
    if pos is None or pos >= len(cond.pattern):
        return Span(span.path, span.line, start, span.line, span.end_column)
    return Span(span.path, span.line, start + 1 + pos, span.line, start + 2 + pos)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
