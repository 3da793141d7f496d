"""Email addresses as leads are keyed by: checked once, in the form every mail server delivers to."""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email

#: the everyday address: an ASCII dot-atom local part (no leading, trailing or doubled dot) and a domain of
#: letters, digits and inner hyphens. The full validator spends most of its time on the domain's Unicode
#: rules, and an address of this shape is valid exactly when its domain is, so the domain is checked once.
_PLAIN = re.compile(r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
                    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63})")
#: the longest local part mail allows
_LOCAL_MAX = 64


class InvalidAddress(ValueError):
    """An address no lead can have; the message says why."""


def normalise_address(value: object) -> str:
    """The address as leads are keyed by: lower case, its domain in ASCII (IDNA); InvalidAddress otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress("missing `lead` email")
    return _normalise(value.strip())


@functools.lru_cache(maxsize=65536)
def _normalise(text: str) -> str:
    plain = _PLAIN.fullmatch(text)
    if plain is not None and len(plain[1]) <= _LOCAL_MAX and len(text) <= 254 and _plain_domain_ok(plain[2].lower()):
        return text.lower()
    return _checked(text)


@functools.lru_cache(maxsize=4096)
def _plain_domain_ok(domain: str) -> bool:
    """Whether the validator takes a plain address at this domain (it refuses special-use names, for one)."""
    try:
        validate_email(f"x@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


def _checked(text: str) -> str:
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
