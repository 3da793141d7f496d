"""What every request shares: the engine, limits, the event writer, counters and the signing key.

Nothing here is state a request depends on between calls: leads, events and consent live in the
store, so any number of `nurture serve` processes can stand behind one load balancer.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from dsl.campaign import parse_sources
from engine.core.clock import Clock
from engine.core.rules import Rules, compile_rules
from engine.delivery.tokens import secret_key
from engine.errors import CampaignError, ConfigError
from engine.http.metrics import Counters
from engine.http.writer import EventWriter
from engine.ingest.processor import Processor
from engine.service import Nurture
from engine.store import Store
from engine.store.existing import location, open_existing

#: how often a request may look for a newly applied campaign version
RULES_TTL = 5.0


@dataclass(frozen=True)
class Limits:
    #: request bodies beyond this are refused with 413 before they are read
    max_body_bytes: int = 1 << 20
    #: events or leads in one request
    max_batch: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """NURTURE_HTTP_MAX_BODY_BYTES and NURTURE_HTTP_MAX_BATCH, where set."""
        env = os.environ if env is None else env
        try:
            return cls(int(env.get("NURTURE_HTTP_MAX_BODY_BYTES", cls.max_body_bytes)),
                       int(env.get("NURTURE_HTTP_MAX_BATCH", cls.max_batch)))
        except ValueError:
            raise ConfigError("NURTURE_HTTP_MAX_BODY_BYTES and NURTURE_HTTP_MAX_BATCH must be whole numbers") from None


class AppContext:
    def __init__(self, nurture: Nurture, limits: Limits) -> None:
        self.nurture = nurture
        self.limits = limits
        self.counters = Counters()
        self._lock = threading.Lock()
        self._sqlite_writes = threading.Lock()
        self._store: Store | None = None
        self._rules: tuple[int, Rules] | None = None
        self._rules_checked = 0.0
        self._key: str | None = None
        self.writer = EventWriter(self.processor, self.write_gate)

    @property
    def store(self) -> Store:
        """The store as `nurture apply` (or `nurture serve`) left it: the HTTP side never creates or upgrades it.

        Until there is one, every request that needs it raises StoreNotReady (503), and tries again.
        """
        with self._lock:  # opened once, not once per thread
            if self._store is None:
                self._store = open_existing(self.nurture.config.database_url)
            return self._store

    @property
    def clock(self) -> Clock:
        return self.nurture.clock

    def rules(self) -> tuple[int, Rules]:
        """The applied campaign's rules; a version applied meanwhile is picked up within seconds.

        Reading them applies nothing: with no version applied yet this is a CampaignError.
        """
        store = self.store
        with self._lock:
            if self._rules is not None and time.monotonic() - self._rules_checked <= RULES_TTL:
                return self._rules
            with store.transaction() as tx:
                version_id = tx.reports.applied_version()
                if version_id is None:
                    raise CampaignError(f"no campaign version has been applied to the store at {location(store)}"
                                        " - run `nurture apply` first")
                if self._rules is None or self._rules[0] != version_id:
                    self._rules = (version_id, compile_rules(parse_sources(tx.reports.campaign_files(version_id))))
            self._rules_checked = time.monotonic()
            return self._rules

    def processor(self) -> Processor:
        version_id, rules = self.rules()
        return Processor(self.nurture.store, rules, version_id, self.clock, self.nurture.config.batch_size)

    def write_gate(self) -> contextlib.AbstractContextManager[object]:
        """One writer at a time in this process on SQLite (its lock waits sleep); PostgreSQL needs no gate."""
        if self.store.dialect == "sqlite":
            return self._sqlite_writes
        return contextlib.nullcontext()

    @property
    def key(self) -> str:
        if self._key is None:  # a configured key needs no store: links are checked even while it is down
            configured = self.nurture.config.secret_key
            self._key = configured or secret_key(self.store, None)
        return self._key
