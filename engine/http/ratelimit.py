"""Token buckets for the tracking endpoint: per publishable key and per client address.

They live in the process: each `nurture serve` process limits on its own, so behind a load balancer
with N processes a client may send up to N times the rate.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.errors import ConfigError

#: beyond this many tracked names, full buckets (idle clients) are forgotten
MAX_NAMES = 10_000


@dataclass
class Buckets:
    """``rate`` tokens a second up to ``burst``, one bucket per name; ``take`` spends one."""

    rate: float
    burst: float
    now: Callable[[], float] = time.monotonic
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> float:
        """0 when a token was spent; otherwise the seconds until one will be there."""
        with self._lock:
            now = self.now()
            tokens, since = self._levels.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.rate)
            if tokens >= 1:
                self._levels[name] = (tokens - 1, now)
                if len(self._levels) > MAX_NAMES:
                    self._forget_full(now)
                return 0.0
            self._levels[name] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else math.inf

    def _forget_full(self, now: float) -> None:
        for name, (tokens, since) in list(self._levels.items()):
            if tokens + (now - since) * self.rate >= self.burst:
                del self._levels[name]


@dataclass
class TrackLimits:
    per_key: Buckets
    per_client: Buckets

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrackLimits:
        """NURTURE_TRACK_KEY_RATE / _BURST (default 50 a second, 500 at once) and NURTURE_TRACK_CLIENT_RATE /
        _BURST (default 2 a second, 20 at once)."""
        env = os.environ if env is None else env
        try:
            return cls(Buckets(float(env.get("NURTURE_TRACK_KEY_RATE", 50)),
                               float(env.get("NURTURE_TRACK_KEY_BURST", 500))),
                       Buckets(float(env.get("NURTURE_TRACK_CLIENT_RATE", 2)),
                               float(env.get("NURTURE_TRACK_CLIENT_BURST", 20))))
        except ValueError:
            raise ConfigError("the NURTURE_TRACK_*_RATE and _BURST settings must be numbers") from None
