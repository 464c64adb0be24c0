"""The passes over one file: :func:`scan_file` (the first, validating pass: every value
checked, rows counted) and :func:`read_file` (a later pass: the same rows as float64
``(X, Y, s)``, after checking that the file did not change).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gradfit.data.readers import csv, parquet
from gradfit.data.readers.ahead import read_ahead
from gradfit.data.readers.batches import to_arrays
from gradfit.data.readers.header import separator
from gradfit.data.readers.messages import SHOW, one_line, shown
from gradfit.data.readers.paths import file_kind, is_compressed
from gradfit.data.readers.plan import ColumnPlan, ReadOptions
from gradfit.data.readers.state import FileState, check_unchanged, file_digest, stat_file
from gradfit.exceptions import InputError

__all__ = ["read_file", "scan_file"]


class _Locator:
    """Line (CSV) or row (Parquet) of a record, for messages."""

    MAX_LINES = 100_000  # lines of skipped rows remembered (later lines are approximate)

    def __init__(self, fs: FileState):
        self.fs = fs
        self.skipped_lines: list[int] = []  # CSV rows skipped by the parser (their lines)
        self.n_skipped = 0

    def skipped(self, line) -> None:
        self.n_skipped += 1
        if line is not None and len(self.skipped_lines) < self.MAX_LINES:
            self.skipped_lines.append(line)

    def __call__(self, record: int) -> str:
        if self.fs.kind == "parquet":
            return f"row {record + 1}"
        line = record + 2  # header is line 1; skipped rows before this one shift it
        for skipped in self.skipped_lines:
            if skipped > line:
                break
            line += 1
        return f"line {line}"


def _column_to_float(arr, name: str, fs: FileState, locate, first: int, opts, bad_rows,
                     feature: bool = False):
    """One arrow column as float64 numpy (NaN where missing); in text mode the rows holding
    something that is not a number are marked in ``bad_rows`` (or raise)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        import pandas as pd

        text = arr.to_pandas()
        values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & text.notna().to_numpy()
        if bad.any() and not opts.skip_bad_rows:
            i = int(np.flatnonzero(bad)[0])
            raise _non_numeric(text.iloc[i], name, fs, locate(first + i), feature)
        bad_rows |= bad
        return values
    if not parquet.is_numeric_type(arr.type):
        raise InputError(f"column {name!r} of {fs.path} holds {arr.type} values, not numbers; "
                         "every feature, target and weight column must be numeric")
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    return arr.to_numpy(zero_copy_only=False)


def _non_numeric(value, column, fs: FileState, where: str, feature: bool) -> InputError:
    first = where in ("line 2", "row 1")
    why = ("the column holds text, not numbers" if first
           else "the column's type changes there: it held numbers before")
    text = (f"; --categorical {column} (categorical=[{column!r}]) one-hot encodes a text "
            "feature" if feature and first else "")
    return InputError(
        f"value {shown(value)} in column {column!r} at {where} of {fs.path} is not a number "
        f"({why}){text}; fix or remove that row, or pass skip_bad_rows=True to skip such rows")


def _batch_arrays(batch, plan: ColumnPlan, fs: FileState, opts: ReadOptions, locate,
                  first: int, scan: bool):
    """Float64 (X, Y, s) of the rows of one record batch that are kept, plus counts.

    Returns
    -------
    X, Y, s, n_bad, n_missing
    """
    m = batch.num_rows
    d, k = len(plan.features), len(plan.targets)
    bad = np.zeros(m, dtype=bool)
    X, Y, s = to_arrays(
        (_column_to_float(batch.column(j), name, fs, locate, first, opts, bad,
                          name in plan.features)
         for j, name in enumerate(plan.columns)), m, d, k, plan.weight)
    with np.errstate(invalid="ignore"):
        xs, ys = X.sum(axis=1), Y.sum(axis=1)
        ss = ys if s is None else ys + s
        fine = np.isfinite(xs) & np.isfinite(ss)
    if fine.all() and not bad.any() and (s is None or not scan or (s >= 0).all()):
        return X, Y, s, 0, 0
    nan = np.isnan(X).any(axis=1) | np.isnan(Y).any(axis=1)
    inf = np.isinf(X).any(axis=1) | np.isinf(Y).any(axis=1)
    if s is not None:
        nan |= np.isnan(s)
        inf |= np.isinf(s)
    bad |= inf & ~nan
    missing = nan & ~bad
    if scan:
        _check_rows(X, Y, s, plan, fs, opts, locate, first, bad, inf, missing)
    drop = (bad if opts.skip_bad_rows else np.zeros(m, dtype=bool)) | (
        missing if opts.drop_missing else np.zeros(m, dtype=bool))
    if drop.any():
        keep = ~drop
        X, Y = X[keep], Y[keep]
        s = None if s is None else s[keep]
    return X, Y, s, int(bad.sum()), int(missing.sum())


def _check_rows(X, Y, s, plan, fs, opts, locate, first, bad, inf, missing):
    """Scan-time checks: infinities and negative weights raise (or are skipped), missing
    values are recorded for the message."""
    columns = plan.columns
    every = np.hstack([X, Y] + ([s[:, None]] if s is not None else []))
    if inf.any() and not opts.skip_bad_rows:
        i = int(np.flatnonzero(inf & ~np.isnan(every).any(axis=1))[0])
        j = int(np.flatnonzero(np.isinf(every[i]))[0])
        raise InputError(f"infinite value {float(every[i, j])!r} in column {columns[j]!r} at "
                         f"{locate(first + i)} of {fs.path}; replace it with a finite number, "
                         "or pass skip_bad_rows=True to skip such rows")
    if s is not None:
        neg = (s < 0) & ~bad & ~missing
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise InputError(f"negative weight {float(s[i])!r} in column {plan.weight!r} at "
                             f"{locate(first + i)} of {fs.path}; sample weights must be >= 0")
    for i in np.flatnonzero(bad)[: max(0, SHOW - len(fs.bad_examples))]:
        fs.bad_examples.append(f"{locate(first + int(i))} of {fs.path}")
    for i in np.flatnonzero(missing)[: max(0, SHOW - len(fs.missing_examples))]:
        j = int(np.flatnonzero(np.isnan(every[i]))[0])
        fs.missing_examples.append(f"{locate(first + int(i))} of {fs.path} "
                                   f"(column {columns[j]!r})")


def _record_batches(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
                    locate: _Locator, units=None) -> Iterator:
    """(record batch, index of its first record, unit index) of a file."""
    if fs.kind == "parquet":
        return parquet.record_batches(fs, plan, opts, units)
    return csv.record_batches(fs, plan, opts, names, locate)


def scan_file(path: Path, plan: ColumnPlan, opts: ReadOptions, names: list[str],
              sink=None) -> FileState:
    """First pass over one file: validate it and count its rows.

    Parameters
    ----------
    path : Path
    plan : ColumnPlan
    opts : ReadOptions
    names : list of str
        The file's column names (checked against the other files by the caller).
    sink : callable, optional
        Called with the ``(X, Y, s)`` of the rows kept, as they are read (to total the
        weights, say).  It needs ``mark()`` and ``rollback()`` methods too: a file read again
        in text mode is fed again, after ``rollback()`` to the ``mark()`` made at its start.

    Returns
    -------
    FileState

    Raises
    ------
    InputError
        For a malformed row, a value that is not a number, an infinite value or a negative
        weight (unless ``skip_bad_rows``).  Missing values are only counted here (the caller
        raises with the total over all files unless ``drop_missing``).
    """
    st = stat_file(path)
    fs = FileState(path, file_kind(path), st.st_size, st.st_mtime_ns)
    fs.digest = file_digest(path, st.st_size)
    if fs.kind == "csv":
        fs.sep = separator(path, opts.sep)
    if fs.kind == "parquet":
        parquet.check_types(fs, plan)
    if sink is not None:
        sink.mark()
    try:
        _scan_pass(fs, plan, opts, names, sink)
    except csv.BadValue as bad:
        if not opts.skip_bad_rows:
            raise _non_numeric(bad.value, bad.column, fs, f"line {bad.line}",
                               bad.column in plan.features) from None
        fs.text_mode = True  # read this file as text: bad values are then skipped row by row
        if sink is not None:
            sink.rollback()
        _scan_pass(fs, plan, opts, names, sink)
    return fs


def _scan_pass(fs: FileState, plan, opts, names, sink) -> None:
    import pyarrow as pa

    fs.n_records = fs.n_rows = fs.n_bad = fs.n_missing = 0
    fs.units, fs.bad_examples, fs.missing_examples = [], [], []
    locate = _Locator(fs)
    kept_by_unit: dict[int, int] = {}
    try:
        for batch, first, unit in _record_batches(fs, plan, opts, names, locate):
            X, Y, s, n_bad, n_missing = _batch_arrays(batch, plan, fs, opts, locate, first, True)
            fs.n_records += batch.num_rows
            fs.n_bad += n_bad
            fs.n_missing += n_missing
            fs.n_rows += len(X)
            kept_by_unit[unit] = kept_by_unit.get(unit, 0) + len(X)
            if sink is not None and len(X):
                sink(X, Y, s)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read {fs.path}: {one_line(exc)}") from None
    fs.n_bad += locate.n_skipped
    for line in locate.skipped_lines[: max(0, SHOW - len(fs.bad_examples))]:
        fs.bad_examples.append(f"line {line} of {fs.path} (wrong number of fields)")
    if fs.kind == "parquet":
        import pyarrow.parquet as pq

        groups = pq.ParquetFile(fs.path).metadata.num_row_groups
        fs.units = [(g, kept_by_unit.get(g, 0)) for g in range(groups)]
    else:
        fs.units = [(None, fs.n_rows)]


def _clean(fs: FileState) -> bool:
    """The scan found nothing to skip, drop or convert as text in this file: a later pass
    can read it without the per-row checks (and CSV with the fast reader)."""
    return fs.n_bad == 0 and fs.n_missing == 0 and not fs.text_mode and fs.n_rows == fs.n_records


def read_file(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
              units=None) -> Iterator[tuple]:
    """A later pass over a scanned file: float64 ``(X, Y, s)`` of the rows kept.

    Parameters
    ----------
    fs : FileState
        From :func:`scan_file`.
    plan, opts, names
        As given to :func:`scan_file`.
    units : sequence of int or None
        Parquet row groups to read, in this order (None: all, in file order).

    Raises
    ------
    InputError
        When the file vanished, changed (size or modification time) or holds fewer or more
        rows than at the scan.
    """
    return read_ahead(_read_file(fs, plan, opts, names, units))


def _read_file(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
               units=None) -> Iterator[tuple]:
    import pyarrow as pa

    check_unchanged(fs)
    locate = _Locator(fs)
    expected = fs.n_rows if units is None else sum(fs.units[u][1] for u in units)
    seen = skip = 0
    finished = False
    try:
        if _clean(fs) and not is_compressed(fs.path):  # (CSV ranges are byte
            # ranges of the file: pyarrow's reader decompresses .csv.gz & co.)
            state = [0, False]
            fast = (parquet.fast_parquet(fs, plan, opts, units) if fs.kind == "parquet"
                    else csv.fast_csv(fs, plan, opts, names, state))
            for X, Y, s in fast:
                seen += len(X)
                if len(X):
                    yield X, Y, s
            finished = not state[1]
            skip = seen
        if not finished:
            for batch, first, _ in _record_batches(fs, plan, opts, names, locate, units):
                if skip:
                    if batch.num_rows <= skip:
                        skip -= batch.num_rows
                        continue
                    batch, first, skip = batch.slice(skip), first + skip, 0
                X, Y, s, _, _ = _batch_arrays(batch, plan, fs, opts, locate, first, False)
                seen += len(X)
                if len(X):
                    yield X, Y, s
    except (pa.ArrowException, OSError, csv.BadValue) as exc:
        check_unchanged(fs)
        raise InputError(f"cannot read {fs.path} any more ({one_line(exc)}); was it changed "
                         "or truncated during the fit? (the last checkpoint, if any, is "
                         "kept)") from None
    if seen != expected:
        raise InputError(f"{fs.path} now gives {seen} rows where it gave {expected} when the "
                         "fit started: was it truncated or rewritten during the fit? (the last "
                         "checkpoint, if any, is kept)")
