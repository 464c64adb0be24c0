"""Read a data table (CSV, Parquet, or CSV on stdin) into a float64 design matrix.

Every problem with the data is raised as :class:`gradfit.exceptions.InputError` with a
one-line message that names the file, the column, the line (for CSV, counting the header
as line 1) and the value, and says what to do.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradfit.data.design import DesignSpec, missing_rows
from gradfit.data.readers.header import INDEX_ROWS, header_names, leading_values, separator
from gradfit.data.readers.messages import closest_names
from gradfit.data.readers.paths import PARQUET_MAGIC, PARQUET_SUFFIXES, read_magic
from gradfit.data.readers.plan import ColumnPlan
from gradfit.exceptions import InputError

__all__ = ["PARQUET_MAGIC", "PARQUET_SUFFIXES", "Table", "closest_names", "frame_to_matrix",
           "read_frame", "read_magic", "read_matrix", "read_table"]

_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SHOW_ROWS = 5  # how many offending rows a message lists


@dataclass(frozen=True, eq=False)
class Table:
    """A numeric table ready to fit.

    Attributes
    ----------
    X : ndarray of float64, shape (n, d)
        The feature columns, in ``feature_names`` order, C-contiguous.
    y : ndarray of float64, shape (n,), or None
        The target column (None for a table read without a target).
    feature_names : list of str
    target_name : str or None
    n_dropped : int
        Rows dropped because they had missing values (``drop_missing=True``).
    source : str
        Where the data came from, as shown in messages (a path or ``<stdin>``).
    notes : tuple of str
        What the column rules did unasked (an index column left out).
    design : DesignSpec or None
        How ``X`` was built from the table's columns (a formula, or categorical columns
        one-hot encoded; see :mod:`gradfit.data.design`); None: the columns as they are.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None
    n_dropped: int = 0
    source: str = "<data>"
    notes: tuple = ()
    design: object = None

    @property
    def n_rows(self) -> int:
        """Number of rows kept."""
        return int(self.X.shape[0])

    def to_frame(self):
        """The table as a pandas DataFrame (features, then the target when present)."""
        import pandas as pd

        frame = pd.DataFrame(self.X, columns=list(self.feature_names))
        if self.y is not None:
            frame[self.target_name] = self.y
        return frame


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    """An opened data source: a path, or the bytes read from stdin."""

    description: str
    kind: str  # "csv" or "parquet"
    path: Path | None = None
    data: bytes | None = None
    given_sep: str | None = None

    @property
    def raw(self):
        """The path, or the bytes (what the header readers take)."""
        return self.path if self.path is not None else self.data

    @property
    def sep(self) -> str:
        return separator(self.raw, self.given_sep)

    def header(self) -> list[str]:
        """The column names (stripped, unnamed ones ``Unnamed: j``); duplicates refused."""
        frame = _read_columns(self, None, header_only=True)
        return header_names(frame.iloc[0].tolist() if len(frame) else [], self.description)

    def first_values(self):
        """The leading values of the first column (see ``ColumnPlan.from_header``)."""
        return leading_values(self.raw, self.kind, 0, self.given_sep)

    def handle(self):
        """What pandas / pyarrow should read: the path, or a fresh buffer of the bytes."""
        return self.path if self.path is not None else io.BytesIO(self.data)


def _open_source(source, sep: str | None = None) -> _Source:
    if isinstance(source, str) and source == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode()
        if not data.strip():
            raise InputError("no data on standard input (<stdin> is empty)")
        kind = "parquet" if data[:4] == PARQUET_MAGIC else "csv"
        return _Source("<stdin>", kind, data=data, given_sep=sep)
    path = Path(os.fspath(source))
    desc = str(source)
    if not path.exists():
        raise InputError(f"{desc}: no such file")
    if path.is_dir():
        raise InputError(f"{desc} is a directory, not a data file (CSV or Parquet)")
    head = read_magic(path, desc)
    is_parquet = path.suffix.lower() in PARQUET_SUFFIXES or head == PARQUET_MAGIC
    return _Source(desc, "parquet" if is_parquet else "csv", path=path, given_sep=sep)


def _read_columns(src: _Source, wanted: set[str] | None, *, header_only: bool = False):
    """Read the source into a DataFrame (only the ``wanted`` columns when given)."""
    import pandas as pd

    if src.kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if header_only:
                names = pq.read_schema(src.handle()).names
                return pd.DataFrame(columns=range(len(names)), data=[names])
            table = pq.read_table(src.handle(), columns=sorted(wanted) if wanted else None)
            return table.to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"cannot read {src.description} as Parquet: {_one_line(exc)}"
            ) from None
    usecols = None if wanted is None else (lambda c: c.strip() in wanted)
    try:
        if header_only:  # the header's cells as written (pandas renames a duplicate x.1)
            return pd.read_csv(src.handle(), sep=src.sep, header=None, nrows=1, dtype=str,
                               keep_default_na=False, skipinitialspace=True)
        frame = pd.read_csv(
            src.handle(),
            sep=src.sep,
            usecols=usecols,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{src.description} is empty (expected a CSV header line)") from None
    except UnicodeDecodeError:
        raise InputError(
            f"cannot read {src.description}: it is neither UTF-8 text (CSV) nor Parquet"
        ) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse {src.description} as CSV: {_one_line(exc)}") from None
    except OSError as exc:
        raise InputError(f"cannot read {src.description}: {_one_line(exc)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


# --------------------------------------------------------------------------- line numbers


class _Locator:
    """Turns 0-based data-row positions into what the user sees: "line N" (CSV, the
    header is line 1, blank lines and quoted line breaks counted) or "row N" otherwise."""

    def __init__(self, src: _Source | None, n_rows: int):
        self.src = src
        self.n_rows = n_rows
        self._lines: list[int] | None = None

    def __call__(self, pos: int) -> str:
        if self.src is None or self.src.kind != "csv":
            return f"row {pos + 1}"
        return f"line {self._line_numbers()[pos]}"

    def many(self, positions) -> str:
        positions = list(positions)
        shown = [self(p) for p in positions[:_SHOW_ROWS]]
        if self.src is not None and self.src.kind == "csv":
            shown = [shown[0]] + [s.removeprefix("line ") for s in shown[1:]]
            shown[0] = shown[0].replace("line", "lines" if len(positions) > 1 else "line")
        else:
            shown = [shown[0]] + [s.removeprefix("row ") for s in shown[1:]]
            shown[0] = shown[0].replace("row", "rows" if len(positions) > 1 else "row")
        more = ", ..." if len(positions) > _SHOW_ROWS else ""
        return ", ".join(shown) + more

    def _line_numbers(self) -> list[int]:
        if self._lines is None:
            lines = self._scan()
            # Fall back to "header on line 1, one row a line" if the scan disagrees.
            if lines is None or len(lines) != self.n_rows:
                lines = [i + 2 for i in range(self.n_rows)]
            self._lines = lines
        return self._lines

    def _scan(self) -> list[int] | None:
        try:
            if self.src.path is not None:
                opener = _OPENERS.get(self.src.path.suffix.lower(), open)
                fh = opener(self.src.path, "rt", encoding="utf-8-sig", newline="")
            else:
                fh = io.TextIOWrapper(io.BytesIO(self.src.data), "utf-8-sig", newline="")
            with fh:
                reader = csv.reader(fh, delimiter=self.src.sep, skipinitialspace=True)
                starts, seen_header, previous = [], False, 0
                for record in reader:
                    start, previous = previous + 1, reader.line_num
                    if len(record) <= 1 and not "".join(record).strip():
                        continue  # a blank line: pandas skips it too
                    if seen_header:
                        starts.append(start)
                    seen_header = True
                return starts
        except (OSError, UnicodeDecodeError, csv.Error):
            return None


# --------------------------------------------------------------------------- columns


def _unknown_column(name: str, columns: Sequence[str], desc: str, role: str) -> InputError:
    close = closest_names(name, columns)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    what = f"{role} column" if role else "column"
    return InputError(f"{what} {name!r} not found in {desc}{hint} (columns: {listed})")


# --------------------------------------------------------------------------- conversion


def _shown(value) -> str:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return repr(float(value))
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= 40 else text[:37] + "...'"


def _column_values(frame, name: str, locate: _Locator, desc: str, hint: str) -> np.ndarray:
    """One column as float64 (NaN where missing); non-numbers and infinities refused."""
    import pandas as pd
    from pandas.api import types as ptypes

    series = frame[name]
    if ptypes.is_bool_dtype(series.dtype) and not series.isna().any():
        values = series.to_numpy(dtype=np.float64)
    elif ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        bad = np.flatnonzero(numeric.isna().to_numpy() & series.notna().to_numpy())
        if bad.size:
            pos = int(bad[0])
            where = locate(pos)
            more = f" ({bad.size} such values in all)" if bad.size > 1 else ""
            raise InputError(
                f"non-numeric value {_shown(series.iloc[pos])} in column {name!r} at {where} "
                f"of {desc}{more}; {hint}"
            )
        values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        pos = int(infinite[0])
        raise InputError(
            f"infinite value {_shown(series.iloc[pos])} in column {name!r} at {locate(pos)} "
            f"of {desc}; "
            "replace it with a finite number"
        )
    return values


def frame_to_matrix(frame, columns: Sequence[str], *, source: str = "<DataFrame>",
                    drop_missing: bool = False, _locate: _Locator | None = None,
                    _hint: str = "every feature and the target must be numbers",
                    _auto: frozenset = frozenset(), _features: frozenset = frozenset()):
    """Convert columns of a DataFrame to a float64 matrix with gradfit's checks.

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : sequence of str
        The columns to take, in order; every one must be present.
    source : str
        How to name the data in messages.
    drop_missing : bool
        Drop rows with a missing value in any of ``columns`` instead of refusing them.

    Returns
    -------
    matrix : ndarray of float64, shape (n_kept, len(columns))
    kept : ndarray of bool, shape (n,)
        Which rows were kept.

    Raises
    ------
    InputError
        A column is missing, holds a non-number or an infinity, or (without
        ``drop_missing``) a value is missing.
    """
    locate = _locate or _Locator(None, len(frame))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _unknown_column(missing[0], [str(c) for c in frame.columns], source, "")
    n = len(frame)
    matrix = np.empty((n, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        hint = _hint
        if name in _features:  # a text feature: it may be categorical
            hint += f"; --categorical {name} (categorical=[{name!r}]) one-hot encodes it"
        if name in _auto:  # picked by default, not by the user: say how to leave it out
            hint += " (pick numeric feature columns with --features)"
        matrix[:, j] = _column_values(frame, name, locate, source, hint)
    kept = missing_rows(np.isnan(matrix), columns, drop_missing, source, locate)
    if not kept.all():
        matrix = matrix[kept]
    return np.ascontiguousarray(matrix), kept


# --------------------------------------------------------------------------- public


def read_frame(source, columns: Sequence[str] | None = None, *, sep: str | None = None):
    """Read a CSV / Parquet file (or ``"-"`` for CSV on stdin) into a DataFrame.

    Parameters
    ----------
    source : str or path-like or pandas.DataFrame
    columns : sequence of str, optional
        Read only these columns (all when None); unknown names are an InputError.

    Returns
    -------
    frame : pandas.DataFrame
    description : str
        The source as shown in messages.
    """
    frame, src = _load(source, columns, sep)
    return frame, (src.description if src else "<DataFrame>")


def read_matrix(source, columns: Sequence[str], *, drop_missing: bool = False,
                required_by: str | None = None, sep: str | None = None, design=None):
    """Read a whole table and convert the named columns to a float64 matrix.

    For applying a model: every column of the file is kept (to pass through to the
    output) and ``columns`` are matched by name, in any order.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        As for :func:`read_table`.
    columns : sequence of str
        The columns to convert, in the order wanted.
    drop_missing : bool
        Drop rows with a missing value in ``columns`` instead of refusing them.
    required_by : str, optional
        Who needs the columns, for the message when some are absent (e.g.
        ``"the model m.json"``).
    design : DesignSpec, optional
        A model's design (formula or categorical columns): ``X`` is its transform of the
        frame (``columns`` are then the columns it reads).

    Returns
    -------
    frame : pandas.DataFrame
        All columns, all rows as read.
    X : ndarray of float64, shape (n_kept, len(columns))
    kept : ndarray of bool, shape (len(frame),)
    description : str
    """
    frame, src = _load(source, None, sep)
    desc = src.description if src else "<DataFrame>"
    have = [str(c) for c in frame.columns]
    absent = [c for c in columns if c not in have]
    if absent:
        close = closest_names(absent[0], have) if len(absent) == 1 else []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        who = f" needed by {required_by}" if required_by else ""
        raise InputError(
            f"{desc} lacks column{'s' if len(absent) > 1 else ''} {', '.join(absent)}{who}"
            f"{hint} (data columns: {', '.join(have[:12])}{', ...' if len(have) > 12 else ''})"
        )
    if len(frame) == 0:
        raise InputError(f"{desc} has a header but no data rows")
    locate = _Locator(src, len(frame))
    if design is not None:
        X, _, kept = design.transform(frame, target=False, drop_missing=drop_missing,
                                      source=desc, locate=locate)
        return frame, X, kept, desc
    X, kept = frame_to_matrix(frame, list(columns), source=desc, drop_missing=drop_missing,
                              _locate=locate,
                              _hint="the model's feature columns must be numbers")
    return frame, X, kept, desc


def _load(source, columns, sep=None):
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = header_names([str(c) for c in frame.columns], "<DataFrame>")
        if columns is not None:
            for c in columns:
                if c not in frame.columns:
                    raise _unknown_column(c, list(frame.columns), "<DataFrame>", "")
        return frame, None
    src = _open_source(source, sep)
    header = src.header()
    if columns is not None:
        for c in columns:
            if c not in header:
                raise _unknown_column(c, header, src.description, "")
    frame = _read_columns(src, set(columns) if columns is not None else None)
    return frame, src


def _frame_first_values(frame):
    from pandas.api import types as ptypes

    column = frame.iloc[:INDEX_ROWS, 0]
    if not ptypes.is_numeric_dtype(column.dtype) or ptypes.is_bool_dtype(column.dtype):
        return None
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def read_table(source, *, target: str | None = None, features=None,
               drop_missing: bool = False, sep: str | None = None, drop=None, formula=None,
               categorical=None) -> Table:
    """Read a table and pick out the target and the feature columns.

    The columns' roles are decided by :meth:`gradfit.data.readers.ColumnPlan.from_header`,
    as for files streamed by :class:`~gradfit.data.files.FileBackend`: duplicate column names
    are refused, an unnamed first column counting the rows 0, 1, 2, ... (the index pandas'
    ``to_csv()`` writes) is left out with a note (``Table.notes``), another unnamed column
    is refused unless ``features`` or ``drop`` leave it out.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A CSV file (``.tsv`` is tab-separated; ``.gz``/``.bz2``/``.xz`` are decompressed),
        a Parquet file (recognised by its extension or its ``PAR1`` magic bytes), ``"-"``
        for CSV on standard input, or a DataFrame.
    target : str or None
        The column to predict (None reads only the features, ``y`` is then None).
    features : sequence of str or str, optional
        The predictor columns, in order (a comma-separated string is split).  Default:
        every column except the target and the ``drop`` ones.
    drop_missing : bool, default False
        Drop rows with a missing value in the target or a feature; the count is
        reported as ``Table.n_dropped``.  Without it such rows are an error.
    sep : str or None
        The CSV field separator (None: a tab for .tsv/.tab, else the most frequent of ``,``
        ``;`` and tab in the header line).
    drop : sequence of str, "a,b,c" or None
        Columns left out of the default features.
    formula : str, optional
        ``"y ~ x1 + C(region) + np.log(x2)"``: ``X`` is the formula's design (see
        :mod:`gradfit.data.design`; the target is its left-hand side), instead of
        ``target``/``features``/``drop``.
    categorical : "auto", sequence of str, "a,b" or None
        Feature columns to one-hot encode (treatment coding, levels sorted, the first the
        reference): "auto" every feature that does not hold numbers.  Without it a text
        feature is an error that says so.

    Returns
    -------
    Table
        With a formula or categorical columns, ``design`` says how ``X`` was built and
        ``feature_names`` are its columns (``region[T.b]``, ``C(region)[T.b]`` ...).

    Raises
    ------
    InputError
        Missing, unreadable or empty file; duplicate or missing column names; unknown
        column (the closest names are suggested); target among the features; a
        non-numeric or infinite value (column, line and value named); missing values
        (count and first rows named).
    """
    import pandas as pd

    if formula is not None:
        return _formula_table(source, formula, target, features, drop, drop_missing, sep,
                              categorical)
    if isinstance(source, pd.DataFrame):
        frame, src, desc = source.copy(), None, "<DataFrame>"
        frame.columns = header_names([str(c) for c in frame.columns], desc)
        header = list(frame.columns)
        first_values = lambda: _frame_first_values(frame)  # noqa: E731
    else:
        src = _open_source(source, sep)
        desc = src.description
        header = src.header()
        first_values = src.first_values
    plan = ColumnPlan.from_header(header, target, features, drop=drop, where=desc,
                                  first_values=first_values, need_target=target is not None)
    names = list(plan.features)
    if src is not None:
        frame = _read_columns(src, set(plan.columns))
    if len(frame) == 0:
        raise InputError(f"{desc} has a header but no data rows")
    columns = list(plan.columns)
    locate = _Locator(src, len(frame))
    if categorical is not None:
        return _design_table(frame, DesignSpec.from_frame(
            frame, target=target, features=names, categorical=categorical, source=desc),
            desc, locate, drop_missing, plan.notes)
    auto = frozenset(names if features is None else ())
    matrix, kept = frame_to_matrix(frame, columns, source=desc, drop_missing=drop_missing,
                                   _locate=locate, _auto=auto, _features=frozenset(names))
    n_dropped = int((~kept).sum())
    if matrix.shape[0] == 0:
        raise InputError(f"no rows left in {desc} after dropping {n_dropped} with missing values")
    d = len(names)
    X = np.ascontiguousarray(matrix[:, :d])
    y = np.ascontiguousarray(matrix[:, d]) if target is not None else None
    return Table(X=X, y=y, feature_names=list(names), target_name=target,
                 n_dropped=n_dropped, source=desc, notes=plan.notes)


def _design_table(frame, design, desc, locate, drop_missing, notes=()) -> Table:
    """The Table of a design (formula or categorical columns) applied to ``frame``."""
    X, y, kept = design.transform(frame, drop_missing=drop_missing, source=desc,
                                  locate=locate)
    n_dropped = int((~kept).sum())
    if X.shape[0] == 0:
        raise InputError(f"no rows left in {desc} after dropping {n_dropped} with missing values")
    return Table(X=X, y=y, feature_names=list(design.names), target_name=design.target,
                 n_dropped=n_dropped, source=desc, notes=tuple(notes), design=design)


def _formula_table(source, formula, target, features, drop, drop_missing, sep,
                   categorical) -> Table:
    """read_table with a formula: the formula names the target and the columns."""
    given = [name for name, value in (("target", target), ("features", features),
                                      ("drop", drop), ("categorical", categorical))
             if value is not None]
    if given:
        flag = {"target": "-t/--target", "features": "--features", "drop": "--drop",
                "categorical": "--categorical"}[given[0]]
        raise InputError(f"the formula names the target and the terms: leave out {flag} "
                         f"({given[0]}=), or leave out the formula")
    frame, src = _load(source, None, sep)
    desc = src.description if src else "<DataFrame>"
    if len(frame) == 0:
        raise InputError(f"{desc} has a header but no data rows")
    design = DesignSpec.from_frame(frame, formula, source=desc, drop_missing=drop_missing)
    return _design_table(frame, design, desc, _Locator(src, len(frame)), drop_missing)
