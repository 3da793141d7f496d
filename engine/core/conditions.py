"""Compiles DSL conditions into Python functions (generated source, compiled once per version).

A compiled condition is a plain function; evaluating it never walks the syntax tree.
Text comparisons ignore case, as marketers expect ("US" = "us"); missing values never match,
except in `is missing` and `not ...`. An attribute's placeholder values (`missing when "Select"`)
read as its default, or as missing without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dsl import ast as a

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_OPS = {"=": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


@dataclass(frozen=True)
class HappenedAtom:
    """An event condition whose recent occurrence times the lead state keeps."""

    event: str
    filter: Callable[[dict], bool] | None
    times: int = 1
    within: float | None = None  # seconds
    #: journeys only: count events since the named step ran
    since: str | None = None


@dataclass
class Scope:
    """How names resolve while compiling: attributes, scores or event properties."""

    #: name -> TypeRef for the names a condition may use
    types: dict[str, a.TypeRef]
    #: Python expression template for reading a name: "A.get({name!r})" etc.
    reader: Callable[[str], str]
    scores: frozenset[str] = frozenset()
    #: registers an event atom and returns its index (stage/journey conditions only)
    register_atom: Callable[[HappenedAtom], int] | None = None
    compile_filter: Callable[[a.EventRef], Callable[[dict], bool] | None] | None = None
    #: functions the reader's Python may call, by name
    helpers: dict[str, object] = field(default_factory=dict)


@dataclass
class Compiler:
    """Turns one condition into Python source, collecting the constants it refers to."""

    scope: Scope
    constants: list[object] = field(default_factory=list)
    _names: int = 0

    def const(self, value: object) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def fresh(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def expr(self, node: a.Condition) -> str:
        match node:
            case a.AnyOf(items=items):
                return "(" + " or ".join(self.expr(i) for i in items) + ")"
            case a.AllOf(items=items):
                return "(" + " and ".join(self.expr(i) for i in items) + ")"
            case a.Not(item=item):
                return f"(not {self.expr(item)})"
            case a.Compare():
                return self._compare(node)
            case a.Between(name=name, low=low, high=high):
                # both ends included: `>=` the first and `<=` the second, each as a comparison reads it
                return (f"({self._compare(a.Compare(name, '>=', low))} and "
                        f"{self._compare(a.Compare(name, '<=', high))})")
            case a.SumCompare(total=total, op=op, value=value):
                return f"({self._sum(total)} {_OPS[op]} {value.python()!r})"
            case a.SumBetween(total=total, low=low, high=high):
                return f"({low.python()!r} <= {self._sum(total)} <= {high.python()!r})"
            case a.Member(name=name, values=values, negated=negated):
                wanted = self.const(frozenset(_fold(v.python()) for v in values.items))
                v = self.fresh()
                if self._is_list(name):
                    test = f"any(_fold(x) in {wanted} for x in {v})"
                else:
                    test = f"_fold({v}) in {wanted}"
                test = f"(({v} := {self.scope.reader(name)}) is not None and {test})"
                return f"(not {test})" if negated else test
            case a.TextTest(name=name, op=op, text=text):
                method = {"contains": "__contains__", "starts with": "startswith",
                          "ends with": "endswith"}[op]
                needle = self.const(text.lower())
                v = self.fresh()
                if self._is_list(name):
                    if op == "contains":
                        return f"(({v} := {self.scope.reader(name)}) is not None and " \
                               f"any(str(x).lower() == {needle} for x in {v}))"
                    test = f"any(str(x).lower().{method}({needle}) for x in {v})"
                else:
                    test = f"str({v}).lower().{method}({needle})"
                return f"(({v} := {self.scope.reader(name)}) is not None and {test})"
            case a.Matches(name=name, pattern=pattern, flags=flags):
                flag_bits = 0
                for f in flags:
                    flag_bits |= _FLAGS[f]
                rx = self.const(re.compile(pattern, flag_bits))
                v = self.fresh()
                return f"(({v} := {self.scope.reader(name)}) is not None and " \
                       f"{rx}.search(str({v})) is not None)"
            case a.Presence(name=name, present=present):
                test = f"({self.scope.reader(name)} not in (None, '', []))"
                return test if present else f"(not {test})"
            case a.StageIs(stage=stage):
                return f"(stage == {str(stage)!r})"
            case a.Happened():
                return self._happened(node)
            case a.AccountCompare(name=name, op=op, value=value):
                # read beside the lead's scores; missing for a lead with no account, and then never true
                v = self.fresh()
                return f"(({v} := S.get({str(name)!r})) is not None and {v} {_OPS[op]} {value.python()!r})"
        raise TypeError(f"cannot compile {type(node).__name__}")

    def _sum(self, total: a.Sum) -> str:
        """Python adding up the whole-number scores (and numbers) of a sum; the checker lets only scores in."""
        parts = []
        for term in total.terms:
            if term.name is not None:
                if term.name not in self.scope.scores:
                    raise TypeError(f"only scores add up, and `{term.name}` is not one here")
                part = self.scope.reader(term.name)
            elif term.value is not None:
                part = repr(term.value.python())
            else:
                continue
            parts.append(f"- {part}" if term.negative else f"+ {part}")
        return "(0 " + " ".join(parts) + ")"

    def _is_list(self, name: str) -> bool:
        ref = self.scope.types.get(name)
        return bool(ref and ref.is_list)

    def _compare(self, node: a.Compare) -> str:
        value = node.value.python()
        op = _OPS[node.op]
        v = self.fresh()
        read = self.scope.reader(node.name)
        if node.name in self.scope.scores:
            return f"({read} {op} {value!r})"
        if isinstance(value, bool):
            return f"(({v} := {read}) is not None and {v} {op} {value!r})"
        if isinstance(value, int | float):
            # numbers imported as text still compare as numbers
            return f"(({v} := _number({read})) is not None and {v} {op} {value!r})"
        if hasattr(value, "isoformat"):
            return f"(({v} := {read}) is not None and str({v})[:10] {op} {value.isoformat()!r})"
        return f"(({v} := {read}) is not None and _fold({v}) {op} {self.const(_fold(value))})"

    def _happened(self, node: a.Happened) -> str:
        if self.scope.register_atom is None:
            raise TypeError("event conditions are not available here")
        flt = self.scope.compile_filter(node.event) if self.scope.compile_filter else None
        atom = HappenedAtom(str(node.event.event), flt, node.times or 1,
                            float(node.within.seconds) if node.within else None,
                            str(node.since) if node.since else None)
        index = self.scope.register_atom(atom)
        return f"H({index})"


def _fold(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value))  # text that reads as a number (an attribute imported from CSV)
    except (TypeError, ValueError):
        return None


def compile_function(condition: a.Condition, scope: Scope, params: str) -> Callable[..., bool]:
    """Compile ``condition`` to ``lambda <params>: <expr>``."""
    compiler = Compiler(scope)
    body = compiler.expr(condition)
    namespace = {**scope.helpers, "K": tuple(compiler.constants), "_fold": _fold, "_number": _number}
    return eval(f"lambda {params}: {body}", namespace)  # noqa: S307 - source generated above


def attribute_scope(types: dict[str, a.TypeRef], placeholders: Placeholders | None = None) -> Scope:
    if placeholders is None or not placeholders.keys:
        return Scope(types, lambda name: f"A.get({str(name)!r})")
    return Scope(types, placeholders.reader("A.get"), helpers={"_real": placeholders.real})


def placeholder_key(value: object) -> tuple[str, object] | None:
    """What a stored value is matched against placeholders by: text ignoring case and surrounding spaces,
    dates as ISO text, numbers and booleans as such (the checker's `dsl.values.placeholder_key` agrees)."""
    if isinstance(value, str):
        return "text", value.strip().casefold()
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int | float):
        return "number", float(value)
    if hasattr(value, "isoformat"):
        return "text", value.isoformat()
    return None


class Placeholders:
    """Attribute values that mean "never given" (`missing when "Select"`): read as the default, or as missing."""

    def __init__(self, placeholders: dict[str, tuple[object, ...]], defaults: dict[str, object]) -> None:
        self.keys = {name: frozenset(placeholder_key(v) for v in values) for name, values in placeholders.items()}
        self.defaults = defaults

    def reader(self, get: str) -> Callable[[str], str]:
        """A reader of attributes (``get`` is "A.get") that passes those with placeholders through `real`."""
        def read(name: str) -> str:
            plain = f"{get}({str(name)!r})"
            return f"_real({str(name)!r}, {plain})" if name in self.keys else plain
        return read

    def clean(self, attributes: dict[str, object]) -> dict[str, object]:
        """A lead's stored attributes with each placeholder replaced as `real` reads it (for showing them)."""
        return {name: self.real(name, value) if name in self.keys else value for name, value in attributes.items()}

    def real(self, name: str, value: object) -> object:
        """``value`` of attribute ``name``, with a placeholder read as the default (None without one); a list
        loses its placeholder items."""
        keys = self.keys[name]
        if isinstance(value, list):
            return [item for item in value if placeholder_key(item) not in keys]
        if placeholder_key(value) in keys:
            return self.defaults.get(name)
        return value


def property_scope(props: dict[str, a.TypeRef]) -> Scope:
    return Scope(props, lambda name: f"P.get({str(name)!r})")


def names_in(condition: a.Condition) -> set[str]:
    """Attribute or score names a condition reads."""
    return {str(n.name) for n in condition.walk() if isinstance(n, a.Compare | a.Between | a.Member | a.TextTest
                                                                  | a.Matches | a.Presence | a.Term)
            and n.name is not None}
