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

from sqlalchemy.engine import Engine

from engine.core.rules import Rules
from engine.delivery.tokens import secret_key
from engine.errors import ConfigError
from engine.http.metrics import Counters
from engine.http.writer import EventWriter
from engine.ingest.processor import Processor
from engine.service import Nurture

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
        self._rules_checked = 0.0
        self._key: str | None = None
        self.writer = EventWriter(self.processor, self.write_gate)

    @property
    def db(self) -> Engine:
        with self._lock:  # the first use opens and upgrades the store: once, not once per thread
            return self.nurture.db

    @property
    def clock(self):
        return self.nurture.clock

    def rules(self) -> tuple[int, Rules]:
        """The applied campaign's rules; a version applied meanwhile is picked up within seconds."""
        _ = self.db
        with self._lock:
            stale = time.monotonic() - self._rules_checked > RULES_TTL
            result = self.nurture.rules(refresh=stale)
            if stale:
                self._rules_checked = time.monotonic()
            return result

    def processor(self) -> Processor:
        version_id, rules = self.rules()
        return Processor(self.nurture.store, rules, version_id, self.clock, self.nurture.config.batch_size)

    def write_gate(self) -> contextlib.AbstractContextManager:
        """One writer at a time in this process on SQLite (its lock waits sleep); PostgreSQL needs no gate."""
        if self.db.dialect.name == "sqlite":
            return self._sqlite_writes
        return contextlib.nullcontext()

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = secret_key(self.db, self.nurture.config.secret_key)
        return self._key
