"""Email templates as the checker sees them: which ones exist and which variables each one uses."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
from jinja2 import meta, nodes

HTML = ".html"
TEXT = ".txt"

#: Top-level names the renderer gives every template.
CONTEXT_NAMES: frozenset[str] = frozenset({
    "lead", "scores", "stage", "owner", "settings", "unsubscribe_url", "journey", "reasons", "activity", "now",
    "preferences_url",
})

#: Keys of the ``settings`` mapping a template can read.
SETTINGS_KEYS: frozenset[str] = frozenset({"sender_name", "sender_address", "reply_to", "sales_address"})


@dataclass(frozen=True, slots=True)
class VariableUse:
    """A context variable read by a template: ``root`` alone, or ``root.attr``."""

    path: str
    line: int
    root: str
    attr: str | None = None
    #: the template says what to show when the value is missing: `| default(...)`, `or ...`, or an `if` around it
    fallback: bool = False

    def __str__(self) -> str:
        return self.root if self.attr is None else f"{self.root}.{self.attr}"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template file that cannot be used: a syntax error, or a reference to a missing file."""

    path: str
    line: int
    message: str
    #: the template file it refers to when that file is missing, else None
    missing: str | None = None
    #: the problem keeps the template from ever rendering (a file outside the folder, a cycle, no subject)
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class FileReport:
    uses: tuple[VariableUse, ...] = ()
    problems: tuple[TemplateProblem, ...] = ()
    references: tuple[tuple[str, int], ...] = ()
    #: the file fills in `{% block subject %}`
    subject: bool = False


@dataclass(frozen=True, slots=True)
class TemplateReport:
    """Everything one sendable template (its parts and the files they pull in) uses."""

    uses: tuple[VariableUse, ...]
    problems: tuple[TemplateProblem, ...]
    #: parts (`welcome.html`, `welcome.txt`) that show no `unsubscribe_url`, even through their layout
    no_unsubscribe: tuple[str, ...] = ()


def is_sendable(relative: str) -> bool:
    """Layouts and partials start with ``_`` (in any path part); they are never sent on their own."""
    return relative.endswith(HTML) and not any(part.startswith("_") for part in relative.split("/"))


class TemplateLibrary:
    """The templates in one directory; each file is parsed at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, FileReport] = {}

    @property
    def exists(self) -> bool:
        return self.root.is_dir()

    def display(self, relative: str) -> str:
        """How a template file is named in messages: its path as the user gave the directory."""
        return (self.root / relative).as_posix()

    def files(self) -> list[str]:
        """Every file under the directory, relative and with forward slashes."""
        if not self.exists:
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def names(self) -> list[str]:
        """The names a campaign can send: ``welcome`` for ``welcome.html``."""
        return [f[: -len(HTML)] for f in self.files() if is_sendable(f)]

    def parts(self, name: str) -> list[str]:
        """The files of one template: the HTML part and, when present, the plain-text part."""
        candidates = (name + HTML, name + TEXT)
        return [c for c in candidates if (self.root / c).is_file()]

    def report(self, name: str) -> TemplateReport:
        """Uses and problems of a template, following `extends`, `include` and `import`."""
        uses: list[VariableUse] = []
        problems: list[TemplateProblem] = []
        no_unsubscribe: list[str] = []
        for part in self.parts(name):
            closure = list(self._closure([part]))
            if any(self._file(f).problems for f in closure):
                continue  # a file that does not parse or cannot be found says nothing of what it would show
            if not any(u.root == "unsubscribe_url" for f in closure for u in self._file(f).uses):
                no_unsubscribe.append(part)
            if part.endswith(HTML) and not any(self._file(f).subject for f in closure):
                problems.append(TemplateProblem(self.display(part), 1, "it has no subject", fatal=True))
            if (cycle := self._cycle(part)) is not None:
                problems.append(cycle)
        for relative in self._closure(self.parts(name)):
            found = self._file(relative)
            uses += found.uses
            problems += found.problems
        return TemplateReport(tuple(uses), tuple(problems), tuple(no_unsubscribe))

    def _closure(self, start: list[str]) -> Iterator[str]:
        seen: set[str] = set()
        pending = list(start)
        while pending:
            relative = pending.pop(0)
            if relative in seen:
                continue
            seen.add(relative)
            yield relative
            pending += [ref for ref, _ in self._file(relative).references if self._loadable(ref)]

    def _cycle(self, start: str) -> TemplateProblem | None:
        """A chain of `extends` or `include` that comes back to a file already on it: rendering never ends."""
        def visit(relative: str, chain: list[str]) -> TemplateProblem | None:
            for ref, line in self._file(relative).references:
                if ref in chain:
                    loop = " -> ".join(f"`{f}`" for f in [*chain[chain.index(ref):], ref])
                    what = f"`{ref}` extends or includes itself" if ref == relative \
                        else f"{loop} goes round in a circle"
                    return TemplateProblem(self.display(relative), line, what, fatal=True)
                if self._loadable(ref) and (found := visit(ref, [*chain, ref])) is not None:
                    return found
            return None
        return visit(start, [start])

    def _loadable(self, relative: str) -> bool:
        """Whether Jinja's loader would find this name: it never leaves the directory."""
        return not _outside(relative) and (self.root / relative).is_file()

    def _file(self, relative: str) -> FileReport:
        if relative not in self._files:
            self._files[relative] = self._analyse(relative)
        return self._files[relative]

    def _analyse(self, relative: str) -> FileReport:
        path = self.display(relative)
        try:
            source = (self.root / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            return FileReport(problems=(TemplateProblem(path, 1, f"cannot be read ({err})"),))
        read = _read(relative, path, source)
        if read.problems:
            return read
        # whether a referenced file exists can change while the text does not, so it is asked every time
        problems = tuple(
            TemplateProblem(path, line, f"`{ref}` is outside the template folder", fatal=True) if _outside(ref)
            else TemplateProblem(path, line, f"refers to `{ref}`, which does not exist", missing=ref)
            for ref, line in read.references if not self._loadable(ref))
        return replace(read, problems=problems)


#: parses templates only; loading (and so the directory) is the library's business
_PARSER = jinja2.Environment(autoescape=True)


@functools.lru_cache(maxsize=1024)
def _read(relative: str, path: str, source: str) -> FileReport:
    """What one template's text says: its variables, references and subject, or why it does not parse.

    Kept per text, because an editor checks the whole campaign on every change and parsing the templates
    again was most of that time.
    """
    try:
        tree = _PARSER.parse(source, name=relative)
    except jinja2.TemplateSyntaxError as err:
        return FileReport(problems=(TemplateProblem(path, err.lineno or 1, err.message or "invalid"),))
    subject = any(block.name == "subject" and _shows_something(block.body) for block in tree.find_all(nodes.Block))
    return FileReport(tuple(_variable_uses(tree, path)), (), tuple(_references(tree)), subject)


def _outside(relative: str) -> bool:
    """A name Jinja's loader refuses: it climbs out of the template folder or names an absolute path."""
    return ".." in relative.replace("\\", "/").split("/") or relative.startswith(("/", "\\"))


def _shows_something(body: list[nodes.Node]) -> bool:
    """A block's body prints something besides white space."""
    for node in body:
        if not isinstance(node, nodes.Output):
            return True
        for part in node.nodes:
            if not isinstance(part, nodes.TemplateData) or part.data.strip():
                return True
    return False


def _references(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    """Templates pulled in by name; names computed at render time cannot be followed."""
    imports = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
    for node in tree.find_all(imports):
        assert isinstance(node, imports)  # find_all yields only the kinds asked for; its type says just "Stmt"
        target = node.template
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            yield target.value, node.lineno


def _variable_uses(tree: nodes.Template, path: str) -> list[VariableUse]:
    """Context variables the template reads, with ``lead.x`` and ``scores["x"]`` resolved to their key."""
    context = meta.find_undeclared_variables(tree)
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    covered = _with_fallback(tree)
    uses: list[VariableUse] = []
    keyed: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)  # as above: find_all's type says just "Expr"
        key = _key(node)
        # ``lead.items()`` is a method of the mapping, not a field: the bare name is what counts
        if key is None or id(node) in called or not isinstance(node.node, nodes.Name):
            continue
        if node.node.name in context:
            keyed.add(id(node.node))
            uses.append(VariableUse(path, node.lineno, node.node.name, key, id(node) in covered))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name in context and id(name) not in keyed:
            uses.append(VariableUse(path, name.lineno, name.name))
    return sorted(uses, key=lambda u: (u.line, str(u)))


def _key(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _fields(node: nodes.Node) -> Iterator[nodes.Getattr | nodes.Getitem]:
    for found in node.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(found, nodes.Getattr | nodes.Getitem)
        yield found
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        yield node


def _with_fallback(tree: nodes.Template) -> set[int]:
    """Fields read where the template says what to show without them: `x | default("...")`, `x or "..."`,
    an `if` that tests `x` (its test and the body it guards), `a if x else b`, or the list a `for` loops over."""
    covered: set[int] = set()
    for node in tree.find_all((nodes.Filter, nodes.Or, nodes.If, nodes.CondExpr, nodes.For)):
        if isinstance(node, nodes.For):  # a missing list is an empty loop
            covered |= {id(f) for f in _fields(node.iter)}
        elif isinstance(node, nodes.Filter) and node.name in ("default", "d") and node.node is not None:
            covered |= {id(f) for f in _fields(node.node)}
        elif isinstance(node, nodes.Or):
            covered |= {id(f) for f in _fields(node.left)}
        elif isinstance(node, nodes.If | nodes.CondExpr):
            tested = list(_fields(node.test))
            keys = {(_root(f), _key(f)) for f in tested}
            guarded = node.body if isinstance(node, nodes.If) else [node.expr1]
            covered |= {id(f) for f in tested}
            covered |= {id(f) for part in guarded for f in _fields(part) if (_root(f), _key(f)) in keys}
    return covered


def _root(node: nodes.Getattr | nodes.Getitem) -> str | None:
    return node.node.name if isinstance(node.node, nodes.Name) else None
