"""Names: each one declared once in its namespace, and known wherever it is used."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from . import ast as a
from .check_context import Context
from .diagnostics import Label, did_you_mean
from .source import Span
from .symbols import BUILTIN_ATTRIBUTES, BUILTIN_EVENTS, FIRST_STAGE
from .values import NUMBER, show_op


def closest(word: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def name_list(words: Iterable[str]) -> str:
    """`a`, `b` and `c`."""
    quoted = [f"`{w}`" for w in words]
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


# ===== declarations: each name once ============================================================


def declare(ctx: Context, what: str, name: str, span: Span, scope: tuple[str, ...] = ()) -> None:
    """Remember the first declaration of a name in its namespace; report any later one (E201)."""
    key = (*scope, name)
    if key not in ctx.declared:
        ctx.declared[key] = (span, what)
        return
    first, first_what = ctx.declared[key]
    label = "defined again here" if first_what == what else f"already the name of {_article(first_what)}"
    ctx.report("E201", span, what=what, name=name, label=label, notes=[Label(first, "first defined here")],
               help="remove one of them, or give this one another name")


def _builtin(ctx: Context, what: str, name: a.Name, why: str) -> None:
    ctx.report("E201", name.span, what=what, name=name, label=why,
               help="remove this declaration, or choose another name")


def declare_setting(ctx: Context, setting: a.Setting | a.QuietHours | a.FrequencyCap) -> None:
    name: str
    match setting:
        case a.Setting(key=key):
            name = key
        case a.QuietHours():
            name = "quiet hours"
        case a.FrequencyCap(period=period):
            name = f"max emails per {period}"
    declare(ctx, "setting", name, setting.span, ("setting",))


def declare_lead_field(ctx: Context, what: str, name: a.Name) -> None:
    """Attributes and scores share one namespace: conditions name them the same way."""
    if name in BUILTIN_ATTRIBUTES:
        _builtin(ctx, what, name, f"every lead has `{name}` built in")
    else:
        declare(ctx, what, name, name.span, ("lead field",))


def declare_event(ctx: Context, decl: a.EventDecl) -> None:
    if decl.name in BUILTIN_EVENTS:
        _builtin(ctx, "event", decl.name, "the engine records this event itself")
    else:
        declare(ctx, "event", decl.name, decl.name.span, ("event",))
    for prop in decl.props:
        declare(ctx, "property", prop.name, prop.name.span, ("property", decl.name))


def declare_stage(ctx: Context, name: a.Name) -> None:
    if name == FIRST_STAGE:
        _builtin(ctx, "stage", name, "every lead starts in the built-in stage `lead`")
    else:
        declare(ctx, "stage", name, name.span, ("stage",))


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


# ===== uses: each name known ===================================================================


def known_stage(ctx: Context, name: a.Name) -> bool:
    """Whether a stage of this name exists; reports it when not (E104)."""
    if name in ctx.sym.stages:
        return True
    ctx.report("E104", name.span, name=name, label="no stage has this name",
               help=did_you_mean(name, ctx.sym.stages)
               or f"declare it: `stage {name} {{ when ... }}`, or use `{FIRST_STAGE}`")
    return False


def known_event(ctx: Context, name: a.Name) -> bool:
    """Whether an event of this name exists, declared or built in; reports it when not (E101)."""
    if name in ctx.sym.events:
        return True
    ctx.report("E101", name.span, name=name, label="not a declared event",
               help=did_you_mean(name, ctx.sym.events) or f"declare it in an `events` block: `events {{ {name} }}`")
    return False


def lead_field_type(ctx: Context, cond: a.Condition, name: a.Name, reader: str | None) -> a.TypeRef | None:
    """The type of the attribute or score a test reads, or None after reporting why there is none.

    :param reader: the score whose rule holds the test, if any; see `Context.read_score`
    """
    if name in ctx.sym.attributes:
        return ctx.sym.attributes[name]
    if name in ctx.sym.scores and reader is not None and name != reader:
        # Scores are summed side by side, so a rule cannot wait for another score (E414).
        ctx.read_score(name, None)
        ctx.report("E414", cond.span, label=f"`{name}` is another score",
                   help=f"compare the two scores in a stage or journey condition, like `when {name} >= 10 and "
                        f"{reader} >= 10`, or repeat the rules of `{name}` here")
        return None
    if name in ctx.sym.scores:
        ctx.read_score(name, reader)
        if isinstance(cond, a.Compare | a.Between):
            return NUMBER
        ctx.report("E302", cond.span, op=show_op(cond), name=name, type="a score",
                   label="scores are only compared with numbers",
                   help=f"compare it with a number, like `{name} >= 20`")
        return None
    _unknown_field(ctx, cond, name)
    return None


def _unknown_field(ctx: Context, cond: a.Condition, name: a.Name) -> None:
    guess = closest(name, [*ctx.sym.attributes, *ctx.sym.scores])
    if isinstance(cond, a.Compare | a.Between) and guess in ctx.sym.scores:
        ctx.report("E103", name.span, name=name, label="no score has this name", help=f"did you mean `{guess}`?")
        return
    ctx.report("E102", name.span, name=name, label="not a declared attribute or score",
               help=f"did you mean `{guess}`?" if guess else f"declare it in an `attributes` block: `{name}: text`")


def property_type(ctx: Context, name: a.Name, event: str) -> a.TypeRef | None:
    """The type of a property an event filter reads, or None after reporting that the event has none."""
    props = ctx.sym.events[event]
    if name in props:
        return props[name]
    help_ = did_you_mean(name, props) or (
        f"declare it: `{event} {{ {name}: text }}`" if not props else f"`{event}` has " + name_list(props))
    ctx.report("E107", name.span, event=event, name=name, label=f"not a property of `{event}`", help=help_)
    return None


def settable_attribute(ctx: Context, name: a.Name) -> a.TypeRef | None:
    """The type of the attribute a `set` step writes, or None after reporting why it cannot."""
    if name in ctx.sym.scores and name not in ctx.sym.attributes:
        ctx.report("E302", name.span, op="set", name=name, type="a score", label="scores are computed",
                   help="scores change through their rules; set an attribute instead")
        return None
    t = ctx.sym.attributes.get(name)
    if t is None:
        ctx.report("E102", name.span, name=name, label="no attribute has this name",
                   help=did_you_mean(name, ctx.sym.attributes)
                   or f"declare it in an `attributes` block: `{name}: text`")
    return t
