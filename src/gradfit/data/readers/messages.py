"""How the readers' messages show things: at most :data:`SHOW` examples, a value quoted and cut
to 40 characters, an exception's first line."""

from __future__ import annotations

__all__ = ["SHOW", "one_line", "shown"]

SHOW = 5
"""How many offending rows a message lists."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def shown(value) -> str:
    """A value as quoted in a message: ``repr`` of its text, cut to 40 characters."""
    text = repr(str(value))
    return text if len(text) <= 40 else text[:37] + "...'"
