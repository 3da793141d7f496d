"""What every check shares: the campaign's declarations and logic, and what has been found so far."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import ast as a
from .diagnostics import Diagnostic, Label
from .logic import Logic
from .source import Span
from .symbols import Symbols


@dataclass
class Context:
    """The state the checks build up while they walk a campaign; checks report here and never raise."""

    sym: Symbols
    logic: Logic
    #: stages a lead can be in
    reachable: set[str]
    #: in the order found; the caller sorts them by place
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: the first declaration of each name, by namespace, with what it declared
    declared: dict[tuple[str, ...], tuple[Span, str]] = field(default_factory=dict)
    #: every template the campaign sends or notifies with, checked once every file has been read
    sends: list[a.Name] = field(default_factory=list)
    #: templates a journey's `send` step emails to a lead, at their first `send`: marketing email, which must let
    #: the lead unsubscribe
    marketing: dict[str, a.Name] = field(default_factory=dict)
    #: how often each score is read by a stage, a journey, a template or another score
    score_uses: Counter[str] = field(default_factory=Counter)
    #: the scores each score's rules read, in the order written
    score_reads: dict[str, list[str]] = field(default_factory=dict)
    #: what scenarios look up in the campaign, gathered on first use (see `check_scenarios.Facts`)
    scenario_facts: Any = None

    def report(self, code: str, span: Span, *, label: str = "", help: str | None = None,
               notes: Iterable[Label] = (), **args: object) -> None:
        """Add a diagnostic; ``args`` fill in the title from the code table."""
        self.diagnostics.append(Diagnostic.make(code, span, label=label, help=help, notes=notes, **args))

    def read_score(self, name: str, reader: str | None) -> None:
        """Record that ``name`` is read, by the rules of score ``reader`` or (None) by anything else.

        A score reading itself is a cycle to report, not a use that keeps it from being unused.
        """
        if reader is not None:
            self.score_reads.setdefault(reader, []).append(name)
        if name != reader:
            self.score_uses[name] += 1
