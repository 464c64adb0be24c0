"""Which columns are read, in which role (:class:`ColumnPlan`), and how files are read
(:class:`ReadOptions`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gradfit.data.readers.messages import closest_names
from gradfit.exceptions import InputError

__all__ = ["UNNAMED", "ColumnPlan", "ReadOptions", "is_unnamed"]

UNNAMED = re.compile(r"Unnamed: \d+")
"""How a column without a name is called (pandas' name for it: ``Unnamed: j``, j from 0)."""


@dataclass(frozen=True)
class ColumnPlan:
    """Which columns to read, in which role: the one place that decides, for files streamed
    (:class:`~gradfit.data.files.FileBackend`) and tables read whole
    (:func:`~gradfit.data.tables.read_table`) alike.

    Attributes
    ----------
    features : tuple of str
    targets : tuple of str
    weight : str or None
        The sample-weight column (None: unit weights).
    dropped : tuple of str
        Columns left out by the rules (``drop``, an index column).
    notes : tuple of str
        What the rules did that the user did not ask for (an index column dropped).
    """

    features: tuple[str, ...]
    targets: tuple[str, ...]
    weight: str | None = None
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """All columns read, in the order features, targets, weight."""
        return self.features + self.targets + ((self.weight,) if self.weight else ())

    @classmethod
    def from_header(cls, names: Sequence[str], target, features=None, weight=None, *,
                    drop=None, where: str = "the data", first_values=None,
                    need_target: bool = True) -> ColumnPlan:
        """Resolve the columns' roles against a header (names as
        :func:`~gradfit.data.readers.header.header_names` makes them: stripped, unnamed ones
        called ``Unnamed: j``, no duplicates).

        Parameters
        ----------
        names : sequence of str
        target : str, sequence of str or None
            The target column (a list for several outputs).
        features : None, sequence of str or "a,b,c"
            None: every column but the targets, the weight and the dropped ones.
        weight : str or None
        drop : None, sequence of str or "a,b,c"
            Columns to leave out of the default features.
        where : str
            How messages name the data.
        first_values : callable or None
            ``first_values()`` gives the leading values of the first column (a 1-D array, or
            None when they are not numbers); asked only when that column is unnamed and would
            be a feature.  An unnamed first column that counts the rows 0, 1, 2, ... (the index
            pandas' ``to_csv()`` writes) is dropped, with a note; another unnamed column
            picked by default is an error.
        need_target : bool
            Refuse a plan without a target (False: features only, to apply a model).
        """
        names = list(names)
        targets = _names(target) if target is not None else []
        if need_target and not targets:
            raise InputError("a target column is needed (target='name')")
        dropped = _names(drop, "--drop") if drop is not None else []
        for role, cols in (("target", targets), ("weight", [weight] if weight else []),
                           ("--drop", dropped)):
            for c in cols:
                if c not in names:
                    raise _unknown(c, names, where, role)
        _check_roles(targets, weight, dropped)
        notes = []
        if features is None:
            taken = set(targets) | {weight} | set(dropped)
            feats = [c for c in names if c not in taken]
            if feats and feats[0] == names[0] and is_unnamed(names[0]) and _counts_rows(
                    first_values):
                notes.append(f"dropped the first column of {where}: it has no name and counts "
                             "the rows 0, 1, 2, ... (an index, as pandas' to_csv() writes "
                             "it); name it in the header to fit it as a feature")
                dropped.append(feats.pop(0))
            for c in feats:
                if is_unnamed(c):
                    raise _unnamed(names.index(c), c, where)
        else:
            feats = _names(features, "feature")
            for f in feats:
                if f not in names:
                    raise _unknown(f, names, where, "feature")
            _check_features(feats, targets, weight, dropped)
        if not feats:
            raise InputError(f"{where} has no feature columns besides the target"
                             + (f" {targets[0]!r}" if len(targets) == 1 else "s"))
        return cls(tuple(feats), tuple(targets), weight, tuple(dropped), tuple(notes))


def _names(value, role: str = "target") -> list[str]:
    """Column names given as one name, a list, or "a,b,c" (features, drop)."""
    if isinstance(value, str):
        items = value.split(",") if role != "target" else [value]
    else:
        items = list(value)
    names = [str(v).strip() for v in items]
    if any(not n for n in names):
        raise InputError(f"empty {role.lstrip('-')} name in {','.join(names)!r}: list columns "
                         "as A,B,C")
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if twice:
        raise InputError(f"{role.lstrip('-')} {twice[0]!r} is listed more than once")
    return names


def _check_roles(targets, weight, dropped) -> None:
    if weight and weight in targets:
        raise InputError(f"the weight column {weight!r} is also the target; a column can have "
                         "only one role")
    for c in dropped:
        role = "target" if c in targets else "weight" if c == weight else None
        if role:
            raise InputError(f"column {c!r} is given to --drop but it is the {role}; leave it "
                             "out of --drop")


def _check_features(feats, targets, weight, dropped) -> None:
    for f in feats:
        if f in targets:
            raise InputError(f"the target {f!r} is also listed among the features; a column "
                             "cannot predict itself: remove it from --features")
        if f == weight:
            raise InputError(f"the weight column {f!r} is also listed among the features; "
                             "remove it from --features")
        if f in dropped:
            raise InputError(f"column {f!r} is both listed among the features and given to "
                             "--drop; leave it out of one of them")


def is_unnamed(name: str) -> bool:
    """A column without a name in the header (pandas calls it ``Unnamed: j``)."""
    return name == "" or UNNAMED.fullmatch(name) is not None


def _counts_rows(first_values) -> bool:
    values = None if first_values is None else first_values()
    if values is None or len(values) == 0:
        return False
    values = np.asarray(values)
    return values.dtype.kind in "iuf" and bool(
        (values == np.arange(len(values), dtype=np.float64)).all())


def _unnamed(j: int, name: str, where: str) -> InputError:
    which = "the first column" if j == 0 else f"column {j + 1}"
    counts = " and does not count the rows 0, 1, 2, ... like an index" if j == 0 else ""
    return InputError(f"{which} of {where} has no name ({name!r}){counts}: name it in the "
                      f"header, pick the features with --features, or leave it out with "
                      f"--drop {name!r}")


def _unknown(name, names, where, role) -> InputError:
    close = closest_names(name, names)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    what = f"column {name!r} given to {role}" if role.startswith("-") else \
        f"{role} column {name!r}"
    return InputError(f"{what} not found in {where}{hint} (columns: {listed})")


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
    sep : str or None
        The CSV field separator (None: from the file; see
        :func:`~gradfit.data.readers.header.separator`).
    """

    batch_rows: int = 65536
    block_size: int = 1 << 20
    skip_bad_rows: bool = False
    drop_missing: bool = False
    sep: str | None = None
