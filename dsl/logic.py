"""Which conditions can never hold, or must always hold, given what the campaign declares.

A condition is expanded into its disjunctive normal form; each conjunction is a list of facts
(`Fact`) about one field each. A conjunction is impossible when the facts about one field
contradict. Only certain contradictions count: missing values, case-insensitive text and
engine details must never turn a possible condition into a reported one.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from . import ast as a
from .values import NUMBER, ORDERED_TYPES, ORDERING, TEXT_TYPES, compile_regex, show_sum, show_value

T = TypeVar("T")
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
    """The lowest and highest value a score can take (infinite when event rules have no end)."""

    low: float
    high: float


def _interval_ok(facts: Sequence[Fact]) -> tuple[tuple[object, bool] | None, tuple[object, bool] | None, bool]:
    low: tuple[object, bool] | None = None
    high: tuple[object, bool] | None = None
    # The ignore[operator]s below and in `_inside`: facts meet only in their (field, kind) bucket, and only
    # numbers and dates get ordering facts, so these compare a number with a number or a date with a date.
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
    # ignore[operator]: bounds exist only for numbers and dates, and `value` is of the bounds' kind
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
        # ignore[call-overload]: an `in` fact holds the tuple of the list's values (see `_field_fact`)
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
    # ignore[attr-defined]: a `not in` fact holds the tuple of the list's values (see `_field_fact`)
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
        # ignore[arg-type]: a `matches` fact holds the compiled pattern (see `_field_fact`)
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
        #: the range of each sum of scores met so far, by its canonical text (see `_sum_key`)
        self.sum_bounds: dict[str, Bounds] = {}
        #: answers so far, by (id of the condition, negated, scope), each with its condition: keeping the condition
        #: keeps its id from being reused. A condition is asked about several times (a branch's own check, then
        #: whether its sides can run; an `and` and then each of its parts), and the answer never changes.
        self._answers: dict[tuple[int, bool, str | None], tuple[a.Condition, Reason | None]] = {}
        #: each condition's normal form so far, kept as `_answers` are
        self._normal_forms: dict[tuple[int, bool, str | None], tuple[a.Condition, list[list[Fact]] | None]] = {}
        #: the facts each score's range implies (see `_implied`)
        self._implied_facts: dict[tuple[str, str, Bounds, bool], tuple[Fact, ...]] = {}

    def why_never(self, cond: a.Condition, scope: str | None) -> Reason | None:
        return self._why_never(cond, False, scope)

    def never(self, cond: a.Condition, scope: str | None) -> bool:
        return self._why_never(cond, False, scope) is not None

    def always(self, cond: a.Condition, scope: str | None) -> bool:
        return self._why_never(cond, True, scope) is not None  # its negation never holds

    def _why_never(self, cond: a.Condition, negated: bool, scope: str | None) -> Reason | None:
        return _remembered(self._answers, cond, negated, scope, self._work_out)

    def _work_out(self, cond: a.Condition, negated: bool, scope: str | None) -> Reason | None:
        terms = self._dnf(cond, negated, scope)
        if not terms:
            return None
        reasons = []
        for term in terms:
            reason = conflict(self._with_bounds(term))
            if reason is None:
                return None
            reasons.append(reason)
        return reasons[0] if len(set(reasons)) == 1 else Reason("no combination of these conditions can hold")

    def _with_bounds(self, term: list[Fact]) -> list[Fact]:
        # looked up in both rather than merged: a campaign has many scores, and this runs for every conjunction
        bounds, sums = self.bounds, self.sum_bounds
        subjects = {f.bucket[0]: f.subject for f in term
                    if f.bucket[1] == "number" and (f.bucket[0] in sums or f.bucket[0] in bounds)}
        implied: list[Fact] = []
        for name in sorted(subjects):
            summed = name in sums
            implied += self._implied(name, subjects[name], sums[name] if summed else bounds[name], summed)
        return implied + term

    def _implied(self, name: str, subject: str, b: Bounds, summed: bool) -> tuple[Fact, ...]:
        """The facts a score's (or a sum's) own range adds to a conjunction; the same few scores are tested in
        thousands of conditions, so each score's facts are made once."""
        key = (name, subject, b, summed)
        found = self._implied_facts.get(key)
        if found is not None:
            return found
        implied: list[Fact] = []
        if b.high != math.inf:
            why = "from the rules of its scores" if summed else "the sum of its positive rules"
            implied.append(Fact(subject, (name, "number"), "<=", b.high, f"at most {_num(b.high)}", True,
                                f"the most {subject} can reach is {_num(b.high)}, {why}; lower the threshold"))
        if b.low != -math.inf:
            why = "from the rules and floors of its scores" if summed else "from its negative rules and floor"
            implied.append(Fact(subject, (name, "number"), ">=", b.low, f"at least {_num(b.low)}", True,
                                f"the least {subject} can be is {_num(b.low)}, {why}; raise the threshold"))
        found = self._implied_facts[key] = tuple(implied)
        return found

    def _dnf(self, cond: a.Condition, negated: bool, scope: str | None) -> list[list[Fact]] | None:
        """Disjunctive normal form with negations pushed inwards; None when it grows too large.

        Kept as `_answers` are: an `and`'s parts are expanded on their own, then again within the whole. The
        lists are shared, so no caller changes them."""
        return _remembered(self._normal_forms, cond, negated, scope, self._expand)

    def _expand(self, cond: a.Condition, negated: bool, scope: str | None) -> list[list[Fact]] | None:
        if isinstance(cond, a.Not):
            return self._dnf(cond.item, not negated, scope)
        if isinstance(cond, a.AllOf | a.AnyOf):
            parts: list[list[list[Fact]]] = []
            for item in cond.items:
                part = self._dnf(item, negated, scope)
                if part is None:
                    return None
                parts.append(part)
            if isinstance(cond, a.AllOf) != negated:
                return _product(parts)
            joined = [term for part in parts for term in part]
            return joined if len(joined) <= MAX_TERMS else None
        if isinstance(cond, a.Between | a.SumBetween):
            return self._range(cond, negated, scope)
        fact = self._fact(cond, negated, scope)
        return [[fact] if fact is not None else []]

    def _range(self, cond: a.Between | a.SumBetween, negated: bool, scope: str | None) -> list[list[Fact]] | None:
        """`between` is `>=` its first end and `<=` its second; an empty range never holds."""
        low, high = cond.low, cond.high
        if low.kind == high.kind and low.kind in ORDERED_TYPES and low.value > high.value:  # type: ignore[operator]
            if negated:
                return [[]]
            shown = f"`between {show_value(low)} and {show_value(high)}`"
            return [[Fact(shown, ("", "never"), "never", None, f"{shown} is an empty range: its first end is "
                          f"above its second", help=f"write the lower end first: `between {show_value(high)} and "
                                                    f"{show_value(low)}`")]]
        parts: tuple[a.Condition, ...]
        if isinstance(cond, a.Between):
            parts = (a.Compare(cond.name, ">=", low, span=cond.span), a.Compare(cond.name, "<=", high, span=cond.span))
        else:
            parts = (a.SumCompare(cond.total, ">=", low, span=cond.span),
                     a.SumCompare(cond.total, "<=", high, span=cond.span))
        return self._dnf(a.AllOf(parts, span=cond.span), negated, scope)

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
            case a.SumCompare():
                return self._sum_fact(cond, negated) if scope is None else None
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

    def _sum_fact(self, cond: a.SumCompare, negated: bool) -> Fact | None:
        """A sum of scores always has a value, so `not` flips its comparison exactly."""
        if cond.value.kind != "number" or any(n not in self.bounds for n in cond.total.names):
            return None
        key = _sum_key(cond.total)
        low, high = 0.0, 0.0
        for term in cond.total.terms:
            if term.name is not None:
                b = self.bounds[term.name]
                low, high = (low - b.high, high - b.low) if term.negative else (low + b.low, high + b.high)
            elif term.value is not None and isinstance(term.value.value, int | float):
                amount = -term.value.value if term.negative else term.value.value
                low, high = low + amount, high + amount
        self.sum_bounds[key] = Bounds(low, high)
        op = FLIP[cond.op] if negated else cond.op
        return Fact(f"`{show_sum(cond.total)}`", (key, "number"), op, cond.value.value,
                    f"`{op} {show_value(cond.value)}`")

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
                fact_op = FLIP[op] if negated else op
                return Fact(f"`{name}`", (name, kind), fact_op, value.value, f"`{fact_op} {show_value(value)}`")
            case a.Member(name=name, values=values, negated=out):
                items = values.items
                if any(v.kind != kind for v in items) or (negated and out):
                    return None
                member_op = "not in" if out != negated else "in"
                shown = show_value(values)
                empty = member_op == "in" and not items
                why = "an empty list matches nothing" if empty else f"`{member_op} {shown}`"
                return Fact(f"`{name}`", (name, kind), member_op, tuple(v.value for v in items), why,
                            help="put at least one value in the list" if empty else None)
            case a.TextTest(name=name, op=op, text=text) if kind == "text" and not negated:
                return Fact(f"`{name}`", (name, kind), op, text, f'`{op} "{text}"`')
            case a.Matches(name=name, literal=literal) if kind == "text" and not negated:
                compiled = compile_regex(cond)
                if isinstance(compiled, re.Pattern):
                    return Fact(f"`{name}`", (name, kind), "matches", compiled, f"`matches {literal}`")
        return None


def _remembered(table: dict[tuple[int, bool, str | None], tuple[a.Condition, T]], cond: a.Condition, negated: bool,
                scope: str | None, work: Callable[[a.Condition, bool, str | None], T]) -> T:
    """``work``'s answer about ``cond``, worked out once: kept by the condition's id, with the condition itself
    so that a reused id is never taken for it."""
    key = (id(cond), negated, scope)
    known = table.get(key)
    if known is not None and known[0] is cond:
        return known[1]
    answer = work(cond, negated, scope)
    table[key] = (cond, answer)
    return answer


def _product(parts: list[list[list[Fact]]]) -> list[list[Fact]] | None:
    terms: list[list[Fact]] = [[]]
    for part in parts:
        terms = [left + right for left in terms for right in part]
        if len(terms) > MAX_TERMS:
            return None
    return terms


def _sum_key(total: a.Sum) -> str:
    """The same sum however its terms are ordered: `fit + engagement` is `engagement + fit`."""
    counts: dict[str, float] = {}
    for term in total.terms:
        part = str(term.name) if term.name is not None else "#"
        amount = 1.0 if term.name is not None else float(term.value.value) if term.value else 0.0  # type: ignore[arg-type]
        counts[part] = counts.get(part, 0.0) + (-amount if term.negative else amount)
    return "+" + " ".join(f"{v:g}*{k}" for k, v in sorted(counts.items()) if v)


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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
