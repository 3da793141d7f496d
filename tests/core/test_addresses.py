"""Addresses as leads are keyed by: the quick path for everyday addresses gives exactly what the full
validator gives, for valid and invalid input alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.addresses import InvalidAddress, _checked, normalise_address

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
atom = st.text(alphabet=ATEXT, min_size=1, max_size=12)
local = st.one_of(st.lists(atom, min_size=1, max_size=4).map(".".join),
                  st.text(alphabet=ATEXT + ". ", min_size=0, max_size=70))
label = st.text(alphabet="abcXYZ019-", min_size=1, max_size=70)
domain = st.one_of(
    st.lists(label, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["acme.example", "gmail.com", "localhost", "x.local", "mail.test", "b\u00fccher.de",
                     "xn--bcher-kva.de", "xn--zz.com", "1.2.3.4", "a-.com", "-a.com", "a.b-c.co", "ex.invalid"]),
)


def outcome(text: str) -> str:
    try:
        return normalise_address(text)
    except InvalidAddress as err:
        return f"refused: {err}"


def validator(text: str) -> str:
    try:
        return _checked(text.strip())
    except InvalidAddress as err:
        return f"refused: {err}"


@settings(max_examples=3000, deadline=None)
@given(local, domain)
def test_the_quick_path_agrees_with_the_validator(local_part: str, domain_name: str) -> None:
    text = f"{local_part}@{domain_name}"
    assert outcome(text) == validator(text)


@pytest.mark.parametrize("text", [
    "Ann.Lee+promo@Acme.Example",
    "a" * 64 + "@acme.example",
    "a" * 65 + "@acme.example",
    "x@" + "d" * 64 + ".com",
    "a..b@acme.example",
    ".a@acme.example",
    "a.@acme.example",
    "ann@localhost",
    "ann@shop.local",
    "ann@b\u00fccher.de",
    "a" * 60 + "@" + ".".join(["d" * 60] * 4) + ".com",
])
def test_edges_agree_with_the_validator(text: str) -> None:
    assert outcome(text) == validator(text)


def test_everyday_addresses_are_lower_cased() -> None:
    assert normalise_address("  Ann.Lee@Acme.Example ") == "ann.lee@acme.example"
