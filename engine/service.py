"""The engine as one object: configuration, store, clock and the rules of the applied campaign."""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dsl.campaign import Campaign, load_campaign, parse_sources
from dsl.diagnostics import render
from engine.config import Config
from engine.core.clock import Clock, SystemClock
from engine.core.rules import Rules, compile_rules
from engine.errors import CampaignError
from engine.ingest.processor import Processor, Progress, Report
from engine.store import Store
from engine.store.versions import Version
from engine.versions import Migration, describe_changes, migrate_enrollments


def applied_by() -> str | None:
    """Who applies a version: NURTURE_AUTHOR when set (CI sets it to the commit's author), else the user name."""
    try:
        return os.environ.get("NURTURE_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return None


@dataclass
class Applied:
    version_id: int
    created: bool
    rules_changed: bool
    rescored: Report | None = None
    changes: list[str] = field(default_factory=list)
    migration: Migration = field(default_factory=Migration)


class Nurture:
    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._store: Store | None = None
        self._rules: tuple[int, Rules] | None = None
        self._files: dict[str, str] = {}

    @property
    def store(self) -> Store:
        """The store, opened (and created or upgraded) on first use."""
        if self._store is None:
            self._store = Store.open(self.config.database_url)
        return self._store

    # ----- campaign versions -----------------------------------------------------------------

    def load_campaign(self, checked: Campaign | None = None) -> Campaign:
        """The campaign on disk, parsed and checked (``checked``: one the caller has just loaded itself)."""
        campaign = checked or load_campaign([self.config.campaign_dir], self.config.template_dir)
        if campaign.has_errors:
            shown = "\n\n".join(render(d, campaign.sources) for d in campaign.diagnostics
                                if d.severity.value == "error")
            raise CampaignError(f"the campaign in {self.config.campaign_dir} has errors:\n\n{shown}\n\n"
                                "fix them (see `nurture check`) and try again")
        return campaign

    def campaign_files(self, campaign: Campaign) -> dict[str, str]:
        """Every file a version is made of: the campaign's sources and its templates."""
        files = {path: source.text for path, source in campaign.sources.items()}
        template_dir = Path(self.config.template_dir)
        if template_dir.is_dir():
            for path in sorted(template_dir.rglob("*")):
                if path.is_file():
                    files[f"templates/{path.relative_to(template_dir).as_posix()}"] = \
                        path.read_text(encoding="utf-8", errors="replace")
        return files

    def latest_version(self) -> Version | None:
        """The version applied last, if any."""
        with self.store.transaction() as tx:
            return tx.versions.latest()

    def apply(self, progress: Progress | None = None, before_rescore: Callable[[int], None] | None = None,
              dry_run: bool = False, checked: Campaign | None = None) -> Applied:
        """Store the campaign on disk as a new version: rescore leads when rules changed, and move
        in-flight journeys to it. With ``dry_run`` nothing is kept: the result says what would change.
        ``checked`` is the campaign on disk when the caller has loaded it already (scenario runs do, often)."""
        campaign = self.load_campaign(checked)
        files = self.campaign_files(campaign)
        digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()
        latest = self.latest_version()
        if latest is not None and latest.hash == digest:
            return Applied(latest.id, created=False, rules_changed=False)
        old_campaign = parse_sources(latest.files) if latest else None
        new_rules = compile_rules(campaign)
        applied = Applied(0, created=True, rules_changed=latest is None or latest.rules_hash != new_rules.rules_hash,
                          changes=describe_changes(old_campaign, campaign))
        with self.store.transaction(dry_run=dry_run) as tx:
            applied.version_id = tx.versions.insert(digest, new_rules.rules_hash, files, self.clock.now(),
                                                     author=applied_by())
            applied.migration = migrate_enrollments(tx, compile_rules(old_campaign) if old_campaign else None,
                                                    new_rules, applied.version_id, self.clock.now())
            if dry_run and applied.rules_changed and latest is not None:
                processor = Processor(self.store, new_rules, applied.version_id, self.clock, self.config.batch_size)
                applied.rescored = processor.rescore(tx=tx)
        self._rules = None
        if not dry_run and applied.rules_changed and latest is not None:
            if before_rescore:
                before_rescore(self.lead_count())
            applied.rescored = self.processor().rescore(progress)
        return applied

    def rules(self, refresh: bool = False) -> tuple[int, Rules]:
        """The rules of the latest applied version (the campaign on disk is applied first if none is).

        Compiled once and kept; ``refresh`` looks for a newer version (the daemon does at each tick).
        """
        if self._rules is not None and not refresh:
            return self._rules
        latest = self.latest_version()
        if latest is None:
            self.apply()
            latest = self.latest_version()
            assert latest is not None
        if self._rules is None or self._rules[0] != latest.id:
            self._rules = (latest.id, compile_rules(parse_sources(latest.files)))
            self._files = latest.files
        return self._rules

    @property
    def version_files(self) -> dict[str, str]:
        """The files of the version whose rules are in use (templates included)."""
        self.rules()
        return self._files

    def processor(self) -> Processor:
        version_id, rules = self.rules()
        return Processor(self.store, rules, version_id, self.clock, self.config.batch_size)

    def lead_count(self) -> int:
        with self.store.transaction() as tx:
            return tx.leads.count()
