"""Signed session cookies, CSRF tokens and the limit on failed sign-ins.

The cookie holds the user's id, when the session began, the user's last change (a new password or role ends
older sessions) and a CSRF token; it is signed with a key derived from the store's signing key (or
NURTURE_SECRET_KEY), so restarts keep sessions and every server on one store accepts them. It is HttpOnly,
SameSite=Lax, and Secure when the console is reached over https.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "nurture_console"
#: a session lasts this long after signing in
MAX_AGE = 12 * 3600
SALT = "nurture-console-session"


@dataclass(frozen=True)
class Session:
    csrf: str
    user_id: int | None = None
    #: the user's updated_at (epoch seconds) when the session began
    user_version: float = 0.0


class Sessions:
    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key
        self._serializer: URLSafeTimedSerializer | None = None

    @property
    def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            self._serializer = URLSafeTimedSerializer(self._key(), salt=SALT)
        return self._serializer

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=MAX_AGE)
            return Session(str(data["c"]), data.get("u"), float(data.get("v", 0.0)))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def dump(self, session: Session) -> str:
        return self.serializer.dumps({"c": session.csrf, "u": session.user_id, "v": session.user_version})


def new_session(user_id: int | None = None, user_version: float = 0.0) -> Session:
    return Session(secrets.token_urlsafe(24), user_id, user_version)


def csrf_ok(session: Session | None, given: str | None) -> bool:
    return session is not None and bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())


@dataclass
class FailedSignIns:
    """At most ``limit`` failed sign-ins per ``window`` seconds for one name (an address, or a client); beyond
    that, sign-in is refused until the oldest failure leaves the window. Kept in the process."""

    limit: int = 5
    window: float = 900.0
    now: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, *names: str) -> float:
        """Seconds until any of ``names`` may try again (0: they may now)."""
        with self._lock:
            now = self.now()
            longest = 0.0
            for name in names:
                failures = self._trim(name, now)
                if len(failures) >= self.limit:
                    longest = max(longest, failures[0] + self.window - now)
            return longest

    def failed(self, *names: str) -> None:
        with self._lock:
            now = self.now()
            for name in names:
                self._trim(name, now).append(now)
            if len(self._seen) > 10_000:
                for name in [n for n, q in self._seen.items() if not q]:
                    del self._seen[name]

    def _trim(self, name: str, now: float) -> deque[float]:
        failures = self._seen.setdefault(name, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures
