"""Stream CSV and Parquet files as float64 numpy blocks, with clear errors for bad input.

This module reads; :class:`gradfit.data.files.FileBackend` turns what it reads into a
backend.  The pieces:

- :func:`expand_paths` -- a file, a folder or a glob (or a list of them) into a sorted list
  of data files (CSV by default, Parquet by extension or by its magic bytes).
- :func:`read_column_names` -- the header of a CSV file or the schema of a Parquet file.
- :class:`ColumnPlan` -- which columns are features, targets and the weight.
- :class:`ReadOptions` -- batch size, CSV block size, ``skip_bad_rows``, ``drop_missing``.
- :func:`scan_file` -- the first pass over one file: validates every value, counts the rows
  kept, the bad rows skipped and the rows with missing values, and records the file's size
  and modification time.
- :func:`read_file` -- a later pass: the same rows as float64 arrays ``(X, Y, s)``, after
  checking that the file did not change since the scan.

CSV files are read with ``pyarrow.csv.open_csv`` (a streaming reader, single-threaded so that
pyarrow reports the line of a bad value), only the needed columns, converted to float64 by
pyarrow.  When ``skip_bad_rows=True`` and a file holds a value that is not a number, that file
is read in *text mode* from then on: its columns come as strings and are converted here, row
by row, so that bad rows can be skipped.  Parquet files are read with
``ParquetFile.iter_batches(columns=...)``, one row group at a time.

Every problem is an :class:`~gradfit.exceptions.InputError` naming the file, the line (CSV,
counting the header as line 1; exact for files without blank lines or quoted line breaks) or
the row (Parquet, from 1), the column and the value.
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradfit.data.tables import PARQUET_MAGIC, PARQUET_SUFFIXES, read_magic
from gradfit.exceptions import InputError
from gradfit.model.columns import Columns

__all__ = [
    "ColumnPlan",
    "FileState",
    "ReadOptions",
    "expand_paths",
    "file_kind",
    "read_column_names",
    "read_file",
    "scan_file",
]

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".txt"})
COMPRESSED_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".zst", ".lz4"})
SHOW = 5  # how many offending rows a message lists
_GLOB_CHARS = re.compile(r"[*?\[]")
_CONVERSION = re.compile(r"In CSV column #(\d+): Row #(\d+): CSV conversion error to \w+: "
                         r"invalid value '(.*)'", re.S)


# --------------------------------------------------------------------------- files


def _is_data_file(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        return False
    last = suffixes[-1]
    if last in COMPRESSED_SUFFIXES and len(suffixes) > 1:
        last = suffixes[-2]
    return last in PARQUET_SUFFIXES or last in CSV_SUFFIXES


def expand_paths(paths) -> list[Path]:
    """Data files named by ``paths``, in a fixed (sorted) order.

    Parameters
    ----------
    paths : str, path-like, or a sequence of them
        Each entry is a file, a folder (its CSV and Parquet files, not recursive: names ending
        in .csv, .tsv, .tab, .txt, .parquet, .pq or .parq, optionally compressed, e.g.
        .csv.gz) or a glob pattern (``data/*.parquet``, ``data/**/*.csv``).

    Returns
    -------
    list of Path
        Without duplicates; entries keep their order, each folder or glob sorted by name.

    Raises
    ------
    InputError
        When an entry names nothing, or nothing at all is found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for entry in paths:
        text = os.fspath(entry)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _is_data_file(p))
            if not found:
                raise InputError(f"folder {text} holds no CSV or Parquet files")
        elif path.exists():
            found = [path]
        elif _GLOB_CHARS.search(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise InputError(f"no files match {text!r}")
        else:
            raise InputError(f"{text}: no such file")
        out.extend(p for p in found if p not in out)
    if not out:
        raise InputError("no data files given")
    return out


def file_kind(path: Path) -> str:
    """'parquet' by extension or magic bytes, else 'csv'."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    return "parquet" if read_magic(path, str(path)) == PARQUET_MAGIC else "csv"


def _delimiter(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    return "\t" if ".tsv" in suffixes or ".tab" in suffixes else ","


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_column_names(path: Path, kind: str) -> list[str]:
    """The column names of a file, as written (CSV header names stripped of spaces)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [name.strip() for name in _raw_names(path)]
    except (pa.ArrowException, OSError) as exc:
        what = "Parquet" if kind == "parquet" else "CSV"
        raise InputError(f"cannot read the header of {path} as {what}: {_one_line(exc)}") from None


# --------------------------------------------------------------------------- plans


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


@dataclass
class FileState:
    """What the first pass learned about one file; later passes check the file against it.

    Attributes
    ----------
    path : Path
    kind : {"csv", "parquet"}
    size, mtime_ns : int
        ``os.stat`` at the scan; a later pass refuses a file whose size or time changed.
    n_records : int
        Data rows read (CSV: rows with the right number of fields).
    n_rows : int
        Rows kept (what the fit uses).
    n_bad : int
        Rows skipped as malformed (``skip_bad_rows``).
    n_missing : int
        Rows with a missing value (dropped with ``drop_missing``, else an error).
    text_mode : bool
        CSV read as text and converted here (a file with values that are not numbers).
    units : list of (int or None, int)
        Parquet: (row group, rows kept in it); CSV: [(None, rows kept)].
    digest : str
        Hash of the file's size and its first and last 64 KiB (a fingerprint that survives
        a copy, unlike the modification time).
    """

    path: Path
    kind: str
    size: int = 0
    mtime_ns: int = 0
    n_records: int = 0
    n_rows: int = 0
    n_bad: int = 0
    n_missing: int = 0
    text_mode: bool = False
    units: list = field(default_factory=list)
    digest: str = ""
    bad_examples: list = field(default_factory=list)
    missing_examples: list = field(default_factory=list)
    raw_names: list = field(default_factory=list)


def _digest(path: Path, size: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 16))
        if size > 1 << 17:
            fh.seek(size - (1 << 16))
            h.update(fh.read())
    return h.hexdigest()


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path} vanished during the fit: the data of a fit must stay in place "
                         "until it ends (the last checkpoint, if any, is kept; restore the file "
                         "and resume)") from None


def check_unchanged(fs: FileState) -> None:
    """Raise InputError when the file vanished or changed since its scan."""
    st = _stat(fs.path)
    if st.st_size != fs.size or st.st_mtime_ns != fs.mtime_ns:
        change = (f"its size went from {fs.size} to {st.st_size} bytes" if st.st_size != fs.size
                  else "it was modified")
        raise InputError(f"{fs.path} changed during the fit ({change}): the data of a fit must "
                         "not change until it ends (the last checkpoint, if any, is kept; "
                         "restore the file and resume)")


# --------------------------------------------------------------------------- reading


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


def _shown(value) -> str:
    text = repr(str(value))
    return text if len(text) <= 40 else text[:37] + "...'"


def _csv_reader(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
                text_mode: bool, on_invalid):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not fs.raw_names:
        fs.raw_names = _raw_names(fs.path)
    wanted = [fs.raw_names[names.index(c)] for c in plan.columns]
    typ = pa.string() if text_mode else pa.float64()
    return pcsv.open_csv(
        fs.path,
        read_options=pcsv.ReadOptions(use_threads=False, block_size=opts.block_size),
        parse_options=pcsv.ParseOptions(delimiter=_delimiter(fs.path),
                                        invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(wanted, typ),
                                            include_columns=wanted,
                                            strings_can_be_null=True),
    ), wanted


def _raw_names(path: Path) -> list[str]:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(  # reads (and skims) the first block only
        path, read_options=pcsv.ReadOptions(use_threads=False),
        parse_options=pcsv.ParseOptions(delimiter=_delimiter(path),
                                        invalid_row_handler=lambda row: "skip"),
        convert_options=pcsv.ConvertOptions(include_columns=[], auto_dict_encode=False))
    names = list(reader.schema.names)
    reader.close()
    return names


def _column_to_float(arr, name: str, fs: FileState, locate, first: int, opts, bad_rows):
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
            raise _non_numeric(text.iloc[i], name, fs, locate(first + i))
        bad_rows |= bad
        return values
    if not _numeric_type(arr.type):
        raise InputError(f"column {name!r} of {fs.path} holds {arr.type} values, not numbers; "
                         "every feature, target and weight column must be numeric")
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    return arr.to_numpy(zero_copy_only=False)


def _numeric_type(t) -> bool:
    import pyarrow as pa

    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t) or pa.types.is_null(t))


def _non_numeric(value, column, fs: FileState, where: str) -> InputError:
    first = where in ("line 2", "row 1")
    why = ("the column holds text, not numbers" if first
           else "the column's type changes there: it held numbers before")
    return InputError(
        f"value {_shown(value)} in column {column!r} at {where} of {fs.path} is not a number "
        f"({why}); fix or remove that row, or pass skip_bad_rows=True to skip such rows")


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
    X, Y, s = _to_arrays(
        (_column_to_float(batch.column(j), name, fs, locate, first, opts, bad)
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
    import pyarrow as pa

    if fs.kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(fs.path)
        groups = range(pf.metadata.num_row_groups) if units is None else units
        starts = np.concatenate([[0], np.cumsum([pf.metadata.row_group(g).num_rows
                                                 for g in range(pf.metadata.num_row_groups)])])
        for u, g in enumerate(groups):
            first = int(starts[g])
            for batch in pf.iter_batches(batch_size=opts.batch_rows, row_groups=[g],
                                         columns=list(plan.columns), use_threads=False):
                yield batch, first, u
                first += batch.num_rows
        return

    invalid = []

    def on_invalid(row):
        if opts.skip_bad_rows:
            locate.skipped(row.number)
            return "skip"
        invalid.append(row)
        return "error"

    first = 0
    try:
        reader, wanted = _csv_reader(fs, plan, opts, names, fs.text_mode, on_invalid)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            yield batch.select(wanted) if batch.schema.names != wanted else batch, first, 0
            first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, invalid, names, fs) from None


def _csv_error(exc, invalid: list, names: list[str], fs: FileState) -> Exception:
    """The InputError (or _BadValue) for a failed CSV read: a malformed row, a value that is
    not a number, or anything else pyarrow refuses."""
    if invalid:
        row = invalid[0]
        missing = names[row.actual_columns] if row.actual_columns < len(names) else None
        what = (f"no value for column {missing!r}" if missing
                else f"{row.actual_columns - row.expected_columns} field(s) too many")
        return InputError(
            f"line {row.number} of {fs.path} has {row.actual_columns} fields but the header "
            f"has {row.expected_columns} ({what}): {_shown(row.text)}; fix the row, or pass "
            "skip_bad_rows=True to skip malformed rows")
    hit = _CONVERSION.search(str(exc))
    if hit is None:
        return InputError(f"cannot parse {fs.path} as CSV: {_one_line(exc)}")
    return _BadValue(names[int(hit.group(1))], int(hit.group(2)), hit.group(3))


class _BadValue(Exception):
    """A typed CSV read met a value that is not a number (column, line, value)."""

    def __init__(self, column, line, value):
        super().__init__(column, line, value)
        self.column, self.line, self.value = column, line, value


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
    st = _stat(path)
    fs = FileState(path, file_kind(path), st.st_size, st.st_mtime_ns)
    fs.digest = _digest(path, st.st_size)
    if fs.kind == "parquet":
        _check_parquet_types(fs, plan)
    if sink is not None:
        sink.mark()
    try:
        _scan_pass(fs, plan, opts, names, sink)
    except _BadValue as bad:
        if not opts.skip_bad_rows:
            raise _non_numeric(bad.value, bad.column, fs, f"line {bad.line}") from None
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
        raise InputError(f"cannot read {fs.path}: {_one_line(exc)}") from None
    fs.n_bad += locate.n_skipped
    for line in locate.skipped_lines[: max(0, SHOW - len(fs.bad_examples))]:
        fs.bad_examples.append(f"line {line} of {fs.path} (wrong number of fields)")
    if fs.kind == "parquet":
        import pyarrow.parquet as pq

        groups = pq.ParquetFile(fs.path).metadata.num_row_groups
        fs.units = [(g, kept_by_unit.get(g, 0)) for g in range(groups)]
    else:
        fs.units = [(None, fs.n_rows)]


def _check_parquet_types(fs: FileState, plan: ColumnPlan) -> None:
    import pyarrow.parquet as pq

    schema = pq.read_schema(fs.path)
    for name in plan.columns:
        t = schema.field(name).type
        if not _numeric_type(t):
            raise InputError(f"column {name!r} of {fs.path} has type {t}, not a number; every "
                             "feature, target and weight column must be numeric (the column's "
                             "type may change between files: check how they were written)")


CSV_RANGE_BYTES = 4 << 20
"""The fast CSV reader of later passes parses a file in ranges of about this many bytes
(cut at line ends), several at once (:func:`_fast_csv`).  4, 8 and 16 MB gave the same
speed on 2 cores; the smaller ranges hold less memory (peak RSS of a fit of a 1 GB CSV:
395 MiB against 548 MiB with 16 MB ranges)."""

_EXACT_FLOATS: dict | None = None


def _clean(fs: FileState) -> bool:
    """The scan found nothing to skip, drop or convert as text in this file: a later pass
    can read it without the per-row checks (and CSV with the fast reader)."""
    return fs.n_bad == 0 and fs.n_missing == 0 and not fs.text_mode and fs.n_rows == fs.n_records


def _exact_floats() -> dict:
    """pandas' option for correctly rounded floats (the default from pandas 3 on)."""
    import pandas as pd

    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _consecutive(rows) -> slice | None:
    """``rows`` as a slice when they are consecutive and ascending, else None."""
    rows = np.asarray(rows, dtype=np.intp)
    if len(rows) and (rows == np.arange(rows[0], rows[0] + len(rows))).all():
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return None


def _columns(T: np.ndarray, rows) -> np.ndarray:
    """The (m, len(rows)) matrix of the rows ``rows`` of the C-order (c, m) array ``T`` (a
    batch's columns stored one after the other), column-major: a view of ``T`` when the rows
    are consecutive, else one copy of whole rows (memcpy-fast).

    Column-major on purpose: a transposition to row-major cost more than the gradient pass
    itself (``np.take(T.T, rows, axis=1)``: 0.36 s per 2e6 x 21 values).  The backend makes
    the blocks it serves row-major one cache-sized block at a time, on the consumer's
    thread, or hands them on as they are to a kernel that reads any layout."""
    run = _consecutive(rows)
    return T[run].T if run is not None else T[np.asarray(rows, dtype=np.intp)].T


def _split(T: np.ndarray, where, d: int, k: int, weight) -> tuple:
    """(X (m, d), Y (m, k), s (m,) or None) from the C-order (c, m) array ``T`` of a batch's
    columns: ``where`` gives the row of ``T`` of each feature, target, then the weight."""
    return (_columns(T, where[:d]), _columns(T, where[d:d + k]),
            T[where[d + k]] if weight else None)


def _feature_columns(T: np.ndarray, rows) -> Columns:
    """The features, rows ``rows`` of ``T``, as :class:`Columns` (no copy)."""
    run = _consecutive(rows)
    return Columns(T[run] if run is not None else [T[i] for i in rows])


def _to_arrays(columns, m: int, d: int, k: int, weight) -> tuple:
    """(X (m, d), Y (m, k), s (m,) or None) filled from the batch's float columns, in the
    plan's order: features, targets, then the weight."""
    columns = list(columns)
    T = np.empty((len(columns), m))
    for j, col in enumerate(columns):
        T[j] = col
    return _split(T, range(len(columns)), d, k, weight)


def _fast_csv(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
              state: list) -> Iterator[tuple]:
    """Rows of a clean CSV file parsed by pandas' C reader (correctly rounded, as pyarrow's).
    It stops (leaving ``state[0]``, the rows handed on, and ``state[1] = True``) at anything
    unexpected -- a parse error, a column not read as numbers, a value that is not finite --
    for the caller to go on with pyarrow's reader from that row (which gives the exact
    message, or the same numbers).

    The file is cut into ranges of about :data:`CSV_RANGE_BYTES` at line ends, parsed by up
    to 4 threads at once (pandas' parser releases the GIL: 1.5x the rows per second of one
    reader on 2 cores) one range ahead of the threads, and handed on in file order: the
    same rows and numbers whatever the threads.  The column types are inferred, not
    forced: pandas parses about 25% faster so than with ``dtype=float64``, and gives the
    same numbers (integer columns come as int64 or uint64 and are rounded to float64
    exactly as a float parser rounds their text)."""
    import pandas as pd

    global _EXACT_FLOATS
    if _EXACT_FLOATS is None:
        _EXACT_FLOATS = _exact_floats()
    idx = [names.index(c) for c in plan.columns]
    used = sorted(set(idx))
    where = [used.index(i) for i in idx]
    d, k = len(plan.features), len(plan.targets)
    sep = _delimiter(fs.path)

    def parse(bounds):
        start, stop = bounds
        with io.BufferedReader(_ByteRange(fs.path, start, stop), 1 << 20) as fh:
            return pd.read_csv(fh, sep=sep, header=0 if start == 0 else None, usecols=used,
                               engine="c", na_filter=False, encoding="utf-8",
                               **_EXACT_FLOATS)

    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        for frame in _in_order(parse, _csv_ranges(fs), workers, ahead=workers + 1):
            if frame.shape[1] != len(used) or not all(
                    t.kind in "fiu" and t.itemsize == 8 for t in frame.dtypes):
                break
            T = np.ascontiguousarray(frame.to_numpy(dtype=np.float64, copy=False).T)
            del frame
            with np.errstate(invalid="ignore", over="ignore"):
                total = T.sum()
            w = T[where[-1]] if plan.weight else None
            if not np.isfinite(total) or (w is not None and not (w >= 0).all()):
                break
            if T.shape[1]:
                yield _feature_columns(T, where[:d]), _columns(T, where[d:d + k]), w
            state[0] += T.shape[1]
        else:
            return
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError):
        pass
    state[1] = True


class _ByteRange(io.RawIOBase):
    """Bytes ``start:stop`` of a file, as a readable binary stream."""

    def __init__(self, path: Path, start: int, stop: int):
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._fh.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:want])
        self._left -= got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


def _csv_ranges(fs: FileState) -> list[tuple[int, int]]:
    """Byte ranges ``(start, stop)`` covering the file, each of about CSV_RANGE_BYTES and
    ending at a line end (the first holds the header).  One range when a header name spans
    lines (a quoted line break), where a cut could land inside the header."""
    if any("\n" in name or "\r" in name for name in fs.raw_names):
        return [(0, fs.size)]
    starts = [0]
    with open(fs.path, "rb") as fh:
        while starts[-1] + CSV_RANGE_BYTES < fs.size:
            fh.seek(starts[-1] + CSV_RANGE_BYTES)
            start = fh.tell()
            while True:
                chunk = fh.read(1 << 16)
                cut = chunk.find(b"\n")
                if cut >= 0 or not chunk:
                    break
                start += len(chunk)
            if cut < 0 or start + cut + 1 >= fs.size:
                break
            starts.append(start + cut + 1)
    return list(zip(starts, starts[1:] + [fs.size]))


def _in_order(fn, items, workers: int, ahead: int) -> Iterator:
    """``fn(item)`` for each item, computed by ``workers`` threads up to ``ahead`` items
    ahead of the caller, yielded in the items' order (a worker's error is raised at its
    item); closing the generator cancels what has not started and waits for the rest."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    items = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="gradfit-csv")
    pending: deque = deque()
    end = object()

    def submit_next() -> None:
        item = next(items, end)
        if item is not end:
            pending.append(pool.submit(fn, item))

    try:
        for _ in range(ahead):
            submit_next()
        while pending:
            result = pending.popleft().result()
            submit_next()
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


PARQUET_GROUP_BYTES = 64 << 20
"""A clean Parquet row group whose float64 values take at most this is decoded in one call
(pyarrow decodes its columns in parallel: 1.5x the speed of batch iteration); a bigger one
in batches of this size, so memory stays bounded whatever the writer chose."""


def _fast_parquet(fs: FileState, plan: ColumnPlan, opts: ReadOptions,
                  units=None) -> Iterator[tuple]:
    """Rows of a clean Parquet file (or of its row groups ``units``, in that order): each
    row group (or slice of :data:`PARQUET_GROUP_BYTES`) decoded in one call with pyarrow's
    threads, and handed on as decoded -- the features as :class:`~gradfit.model.columns.Columns`
    over pyarrow's own buffers, no copy (see :mod:`gradfit.model.columns`).

    The file is read, not memory-mapped, although ``memory_map=True`` decodes about 1.5x
    as fast from the page cache: a mapped file cut short by another process kills the
    reader with SIGBUS when it touches a page past the new end, where reads give a clean
    error (the issue's "file truncated during the fit")."""
    import pyarrow.parquet as pq

    d, k = len(plan.features), len(plan.targets)
    columns = list(plan.columns)
    budget = max(1, PARQUET_GROUP_BYTES // (8 * len(columns)))  # rows decoded at once
    with pq.ParquetFile(fs.path) as pf:
        for g in range(pf.metadata.num_row_groups) if units is None else units:
            if pf.metadata.row_group(g).num_rows <= budget:
                batches = [pf.read_row_group(g, columns=columns, use_threads=True)]
            else:
                batches = _scan_row_group(fs.path, g, columns, budget)
            for batch in batches:
                yield _decoded(batch, d, k, plan.weight)


def _scan_row_group(path: Path, group: int, columns: list, rows: int):
    """Batches of ``rows`` rows of one (big) row group, decoded by pyarrow's dataset scanner
    one batch ahead on its threads: 10% faster than ``ParquetFile.iter_batches`` on
    pyarrow's default 1M-row groups.  One scanner per row group, ``pre_buffer`` off: a
    scanner over a whole file with it on read the 10 GB file into memory, and with it off
    still held more the bigger the file."""
    import pyarrow.dataset as ds

    fragment = next(ds.dataset(path, format="parquet").get_fragments())
    scanner = ds.Scanner.from_fragment(
        fragment.subset(row_group_ids=[group]), columns=columns, batch_size=rows,
        batch_readahead=1, use_threads=True,
        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
    return scanner.to_batches()


def _decoded(batch, d: int, k: int, weight) -> tuple:
    """(X as Columns, Y (m, k), s or None) of a decoded Parquet table or batch, whose
    columns are the plan's (features, targets, weight), without copying the features."""
    arrays = [_float_array(col) for col in batch.columns]
    Y = arrays[d][:, None] if k == 1 else np.stack(arrays[d:d + k], axis=1)
    return Columns(arrays[:d]), Y, arrays[d + k] if weight else None


def _float_array(col) -> np.ndarray:
    """A Parquet column (array or chunked array) as a 1-D float64 numpy array: pyarrow's
    buffer itself where it is one float64 chunk (read-only), else a copy."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_float64(col.type):
        col = pc.cast(col, pa.float64())
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks != 1:
            return col.to_numpy()
        col = col.chunk(0)
    return col.to_numpy(zero_copy_only=False)


def read_ahead(parts: Iterator[tuple]) -> Iterator[tuple]:
    """``parts`` produced one item ahead by a thread (pyarrow and pandas parse, and file
    reads copy, without the GIL, so reading the next part overlaps with the caller's work
    on this one).  Errors are raised here, in order; closing this generator stops the
    thread."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in parts:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            put((done, exc))
            return
        finally:
            if stop.is_set():
                parts.close()
        put((done, None))

    thread = threading.Thread(target=work, name="gradfit-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


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
        if _clean(fs) and fs.path.suffix.lower() not in COMPRESSED_SUFFIXES:  # (CSV ranges
            # are byte ranges of the file: pyarrow's reader decompresses .csv.gz & co.)
            state = [0, False]
            fast = (_fast_parquet(fs, plan, opts, units) if fs.kind == "parquet"
                    else _fast_csv(fs, plan, opts, names, state))
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
    except (pa.ArrowException, OSError, _BadValue) as exc:
        check_unchanged(fs)
        raise InputError(f"cannot read {fs.path} any more ({_one_line(exc)}); was it changed "
                         "or truncated during the fit? (the last checkpoint, if any, is "
                         "kept)") from None
    if seen != expected:
        raise InputError(f"{fs.path} now gives {seen} rows where it gave {expected} when the "
                         "fit started: was it truncated or rewritten during the fit? (the last "
                         "checkpoint, if any, is kept)")
