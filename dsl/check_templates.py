"""Sent templates: each one exists, parses, finds the files it pulls in, and reads only what a lead has."""

from __future__ import annotations

from . import ast as a
from .check_context import Context
from .check_names import closest, name_list
from .diagnostics import did_you_mean
from .symbols import Symbols
from .templates import CONTEXT_NAMES, SETTINGS_KEYS, TemplateLibrary, TemplateProblem, TemplateReport, VariableUse


def check_templates(ctx: Context, library: TemplateLibrary) -> None:
    """Every sent template must exist; each one's problems are reported once, at its first use."""
    names = library.names()
    sendable = set(names)
    seen: set[tuple[str, str]] = set()
    # A campaign sends the same few templates from thousands of steps: each template's report is worked out
    # (and its problems reported) at its first use; later uses only count the scores it reads.
    reports: dict[str, TemplateReport] = {}
    for template in ctx.sends:
        if template not in sendable:
            _unknown_template(ctx, library, names, template)
            continue
        if template in reports:
            for use in reports[template].uses:
                if use.root == "scores" and use.attr in ctx.sym.scores:
                    ctx.read_score(use.attr, None)
            continue
        report = reports[template] = library.report(template)
        for problem in report.problems:
            if _first_time(seen, template, f"{problem.path}:{problem.line}:{problem.message}"):
                _template_problem(ctx, library, template, problem)
        if template in ctx.marketing and not any(p.fatal for p in report.problems):
            for part in report.no_unsubscribe:
                if _first_time(seen, template, f"unsubscribe {part}"):
                    ctx.report("E309", ctx.marketing[template].span, template=template,
                               label=f"`{library.display(part)}` and its layout never show `unsubscribe_url`",
                               help='add `<a href="{{ unsubscribe_url }}">Unsubscribe</a>`, or extend a layout '
                                    "that has it")
        for use in report.uses:
            if use.root == "scores" and use.attr in ctx.sym.scores:
                ctx.read_score(use.attr, None)
            problem_help = _variable_help(ctx.sym, use)
            if problem_help is not None and _first_time(seen, template, str(use)):
                ctx.report("E305", template.span, template=template, variable=str(use),
                           label=f"`{use}` is read at {use.path}:{use.line}", help=problem_help)
            elif problem_help is None and _optional(ctx.sym, use) and _first_time(seen, template, f"{use}?"):
                ctx.report("W107", template.span, template=template, variable=str(use),
                           label=f"`{use}` is shown at {use.path}:{use.line}",
                           help=f'give it a fallback, like `{{{{ {use} | default("...") }}}}`, show it inside '
                                f"`{{% if {use} %}}`, or give `{use.attr}` a default in the `attributes` block")


def _optional(sym: Symbols, use: VariableUse) -> bool:
    """A declared attribute without a default, shown with nothing in its place when a lead lacks it."""
    return (use.root == "lead" and use.attr is not None and use.attr in sym.attributes
            and use.attr not in sym.defaults and use.attr != "email" and not use.fallback)


def _first_time(seen: set[tuple[str, str]], template: str, what: str) -> bool:
    if (template, what) in seen:
        return False
    seen.add((template, what))
    return True


def _unknown_template(ctx: Context, library: TemplateLibrary, names: list[str], name: a.Name) -> None:
    root = library.root.as_posix()
    if not library.exists:
        ctx.report("E105", name.span, name=name, label=f"the template directory `{root}` does not exist",
                   help="create it, or point `nurture check --templates` at yours")
        return
    label = f"no `{name}.html` in `{root}/`"
    stem = name.rsplit(".", 1)[0]
    if name.endswith((".html", ".txt")) and stem in names:
        help_ = f'leave out the extension: `"{stem}"`'
    elif (library.root / f"{name}.txt").is_file():
        help_ = f"`{name}.txt` is only the plain-text part: add `{root}/{name}.html`"
    elif (library.root / f"{name}.html").is_file():
        label = "layouts and partials (names starting with `_`) are not sent on their own"
        help_ = "send a template that extends or includes it"
    else:
        help_ = did_you_mean(name, names) or f"create `{root}/{name}.html`"
    ctx.report("E105", name.span, name=name, label=label, help=help_)


def _template_problem(ctx: Context, library: TemplateLibrary, template: a.Name, problem: TemplateProblem) -> None:
    where = f"at {problem.path}:{problem.line}"
    if problem.fatal:
        ctx.report("E310", template.span, template=template, reason=problem.message, label=where,
                   help=_fatal_help(problem.message))
    elif problem.missing is not None:
        ctx.report("E308", template.span, template=template, name=problem.missing, label=where,
                   help=did_you_mean(problem.missing, library.files())
                   or f"create `{library.root.as_posix()}/{problem.missing}`")
    else:
        ctx.report("E306", template.span, template=template, reason=problem.message, label=where,
                   help="fix the template; Jinja syntax is described at https://jinja.palletsprojects.com")


def _fatal_help(reason: str) -> str:
    if reason == "it has no subject":
        return "add `{% block subject %}...{% endblock %}` to it or to the layout it extends"
    if "outside" in reason:
        return "keep layouts and partials in the template folder and name them from there, like `_layout.html`"
    return "extend or include a file that does not lead back to this one"


def _variable_help(sym: Symbols, use: VariableUse) -> str | None:
    """None when a template may read ``use``; otherwise the help for fixing it."""
    attrs, scores = sym.attributes, sym.scores
    if use.root == "lead" and use.attr is not None and use.attr not in attrs:
        if use.attr in scores:
            return f"`{use.attr}` is a score: use `scores.{use.attr}`"
        guess = closest(use.attr, attrs)
        return f"did you mean `lead.{guess}`?" if guess else f"declare it in an `attributes` block: `{use.attr}: text`"
    if use.root == "scores" and use.attr is not None and use.attr not in scores:
        if use.attr in attrs:
            return f"`{use.attr}` is an attribute: use `lead.{use.attr}`"
        guess = closest(use.attr, scores)
        return f"did you mean `scores.{guess}`?" if guess else "declare the score, or remove it from the template"
    if use.root == "settings" and use.attr is not None and use.attr not in SETTINGS_KEYS:
        guess = closest(use.attr, SETTINGS_KEYS)
        return f"did you mean `settings.{guess}`?" if guess else "templates can read " + name_list(
            f"settings.{k}" for k in sorted(SETTINGS_KEYS))
    if use.root in CONTEXT_NAMES:
        return None
    if use.root in attrs:
        return f"attributes are read through `lead`: use `lead.{use.root}`"
    if use.root in scores:
        return f"scores are read through `scores`: use `scores.{use.root}`"
    return did_you_mean(use.root, CONTEXT_NAMES) or "templates can read " + name_list(sorted(CONTEXT_NAMES))
