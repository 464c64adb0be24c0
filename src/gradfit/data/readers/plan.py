"""Which columns are read, in which role (:class:`ColumnPlan`), and how files are read
(:class:`ReadOptions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradfit.exceptions import InputError

__all__ = ["ColumnPlan", "ReadOptions"]


@dataclass(frozen=True)
class ColumnPlan:
    """Which columns to read, in which role.

    Attributes
    ----------
    features : tuple of str
    targets : tuple of str
    weight : str or None
        The sample-weight column (None: unit weights).
    """

    features: tuple[str, ...]
    targets: tuple[str, ...]
    weight: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns read, in the order features, targets, weight."""
        return self.features + self.targets + ((self.weight,) if self.weight else ())

    @classmethod
    def from_header(cls, names: Sequence[str], target, features=None, weight=None,
                    where: str = "the data") -> ColumnPlan:
        """Resolve ``target`` (a name or a list), ``features`` (None: every other column but
        the weight; or names, a list or "a,b,c") and ``weight`` against a header."""
        names = list(names)
        targets = [target] if isinstance(target, str) else list(target or [])
        if not targets:
            raise InputError("a target column is needed (target='name')")
        for role, cols in (("target", targets), ("weight", [weight] if weight else [])):
            for c in cols:
                if c not in names:
                    raise _unknown(c, names, where, role)
        if features is None:
            feats = [c for c in names if c not in targets and c != weight]
        else:
            feats = [f.strip() for f in features.split(",")] if isinstance(features, str) \
                else [str(f) for f in features]
            for f in feats:
                if f not in names:
                    raise _unknown(f, names, where, "feature")
        if not feats:
            raise InputError(f"{where} has no feature columns besides the target")
        every = feats + targets + ([weight] if weight else [])
        twice = sorted({c for c in every if every.count(c) > 1})
        if twice:
            raise InputError(f"column {twice[0]!r} is given more than one role (feature, target "
                             "or weight); each column can have only one")
        return cls(tuple(feats), tuple(targets), weight)


def _unknown(name, names, where, role) -> InputError:
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return InputError(f"{role} column {name!r} not found in {where}{hint} (columns: {listed})")


@dataclass(frozen=True)
class ReadOptions:
    """How files are read.

    Attributes
    ----------
    batch_rows : int
        Rows per Parquet record batch (and the unit of the backend's blocks).
    block_size : int
        Bytes per CSV read block (pyarrow's ``block_size``); at least one row must fit.
    skip_bad_rows : bool
        Skip (and count) rows with the wrong number of fields, a value that is not a number or
        an infinite value, instead of raising.
    drop_missing : bool
        Drop rows with an empty cell (or NA, NaN ...) in a column read, instead of raising.
    """

    batch_rows: int = 65536
    block_size: int = 1 << 20
    skip_bad_rows: bool = False
    drop_missing: bool = False
