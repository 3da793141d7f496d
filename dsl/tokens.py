"""What a token holds: the keyword, typed as the AST's literal choice for it, or a string's text."""

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


def unquote(token: Token) -> str:
    # Strings allow \" and \\ escapes only; keep everything else as written.
    body = str(token)[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)
