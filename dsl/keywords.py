"""The keyword a token holds, typed as the AST's literal choice for it."""

from __future__ import annotations

from typing import TypeVar

from lark import Token

Word = TypeVar("Word", bound=str)


def keyword(token: Token | str, choices: tuple[Word, ...]) -> Word:
    """The keyword written, as the AST's literal type; the grammar lets no other word through."""
    text = str(token)
    for choice in choices:
        if choice == text:
            return choice
    raise ValueError(f"the grammar let {text!r} through, which is none of {choices}")
