"""Console passwords, hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.errors import EngineError

_HASHER = PasswordHasher()
#: the shortest password `nurture users add` accepts
MIN_LENGTH = 10
ROLES = ("viewer", "sales", "admin")


class PasswordRefused(EngineError):
    """A password or role that cannot be used; the message says why."""


def check_new(password: str, role: str) -> None:
    if role not in ROLES:
        raise PasswordRefused(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"the password has {len(password)} characters; use at least {MIN_LENGTH}")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


#: verifying against this when the email is unknown takes as long as for a known one
DUMMY_HASH = _HASHER.hash("not a password anyone has")
