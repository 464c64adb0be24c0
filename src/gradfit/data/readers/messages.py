"""How the readers' messages show things: at most :data:`SHOW` examples, a value quoted and cut
to 40 characters, an exception's first line."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["SHOW", "closest_names", "one_line", "shown"]

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


def closest_names(name: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The names in ``names`` most like ``name`` (case-insensitive matches first)."""
    exact = [c for c in names if c.lower() == name.lower()]
    lowered = {c.lower(): c for c in names}
    fuzzy = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=n, cutoff=0.5)]
    out: list[str] = []
    for c in exact + fuzzy:
        if c not in out:
            out.append(c)
    return out[:n]
