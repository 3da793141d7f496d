"""Email addresses as leads are keyed by: checked once, in the form every mail server delivers to."""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """An address no lead can have; the message says why."""


def normalise_address(value: object) -> str:
    """The address as leads are keyed by: lower case, its domain in ASCII (IDNA); InvalidAddress otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("missing `lead` email")
    return _normalise(value.strip())


@functools.lru_cache(maxsize=65536)
def _normalise(text: str) -> str:
    try:
        # allow_smtputf8=False: an address the sender can deliver through any mail server. A
        # non-ASCII local part needs SMTPUTF8 of every server on the way and is refused here; an
        # international domain is kept in its ASCII form (xn--...), which every server delivers to.
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise InvalidAddress(f"invalid email {text!r}: {_sentence(str(err))}") from None
    email = (checked.ascii_email or checked.normalized).lower()
    if len(email) > 254:
        raise InvalidAddress(f"invalid email {text!r}: longer than the 254 characters mail allows")
    return email


def _sentence(text: str) -> str:
    return text[:1].lower() + text[1:].rstrip(".")
