"""Files streamed through a design: a formula or categorical columns on CSV / Parquet files
larger than memory (:class:`DesignBackend`).

The first pass reads the files batch by batch to find the levels of every categorical column
(or checks them against declared ones), count the rows and the rows with missing values;
the design (:class:`gradfit.data.design.DesignSpec`) is then learnt from the first batch with
those levels, and every later pass builds the design matrix batch by batch with it.  Memory
holds one batch of ``batch_rows`` rows of the columns read (and the shuffling buffer of
``minibatches``), never the data.  The blocks handed to ``map_reduce`` are the partition of
:class:`~gradfit.data.files.FileBackend` (``min(batch_rows, 8192)`` rows), so a fit streamed
through a design does the arithmetic of the same fit in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gradfit.data.design import DesignSpec, merge_levels, missing_rows, sorted_levels
from gradfit.data.files import BUFFER_BYTES, ShuffleBuffer, concat_parts, rechunk
from gradfit.data.readers import ColumnPlan, expand_paths, file_kind, read_column_names
from gradfit.data.readers.header import check_same_header, leading_values, separator
from gradfit.data.readers.messages import one_line
from gradfit.data.readers.state import file_digest, stat_file
from gradfit.exceptions import InputError
from gradfit.model import kernels
from gradfit.model.backend import Capabilities, add

__all__ = ["DesignBackend"]


class _Lines:
    """Positions in one batch as messages show them: CSV lines (the header is line 1; exact
    for files without blank lines or quoted line breaks) or Parquet rows, from 1."""

    def __init__(self, kind: str, offset: int):
        self.kind, self.offset = kind, offset

    def __call__(self, pos: int) -> str:
        if self.kind == "csv":
            return f"line {self.offset + pos + 2}"
        return f"row {self.offset + pos + 1}"

    def many(self, positions) -> str:
        positions = [int(p) for p in positions]
        word = "line" if self.kind == "csv" else "row"
        base = 2 if self.kind == "csv" else 1
        shown = ", ".join(str(self.offset + p + base) for p in positions[:5])
        more = ", ..." if len(positions) > 5 else ""
        return f"{word}{'s' if len(positions) > 1 else ''} {shown}{more}"


class DesignBackend:
    """CSV / Parquet files read in batches, each made into the design matrix of a formula or
    of columns with categorical ones one-hot encoded (the backend contract of
    :mod:`gradfit.model.backend`).

    Parameters
    ----------
    paths : str, path-like or a sequence of them
        Files, folders or globs (:func:`gradfit.data.readers.expand_paths`).
    target : str or None
        The target column (without a formula; the formula's left-hand side otherwise).
    features : sequence of str, "a,b,c" or None
        The feature columns (without a formula; None: every column but the target, the
        weight and the ``drop`` ones, as :class:`~gradfit.data.readers.ColumnPlan` decides).
    formula : str, optional
        ``"y ~ x1 + C(region) + np.log(x2)"``.  Transforms that learn from all rows
        (``center``, ``scale``) are refused: a batch is not all rows.
    categorical : "auto", sequence of str, "a,b" or None
        Feature columns to one-hot encode (without a formula); "auto": the features that do
        not hold numbers in the first batch.
    levels : dict, optional
        ``{column: levels}`` declared: the first pass then checks the data against them
        instead of collecting them (a level outside is an error).
    weight : str or None
        A column of non-negative sample weights.
    batch_rows : int, default 65536
        Rows read at a time.
    buffer_rows : int or None
        Rows of the shuffling buffer of ``minibatches`` (default: 64 MiB of rows).
    drop_missing : bool
        Drop rows with a missing value in a column read instead of refusing them.
    sep : str or None
        The CSV separator (None: from the header line).
    drop : sequence of str or None
        Columns left out of the default features.

    Attributes
    ----------
    n, d, k, S, dtype
        Rows kept, design columns, targets (1), sum of the weights, float64.
    design : DesignSpec
    feature_names, target_names, weight_name, notes, files
    n_dropped, n_skipped, skipped_examples, passes
        As :class:`~gradfit.data.files.FileBackend` has them (no row is skipped: malformed
        rows are errors here).
    largest_batch : int
        The most rows read at once (at most ``batch_rows``): what memory held.
    """

    capabilities = Capabilities(sequential=True, fingerprint=True)

    def __init__(self, paths, target=None, features=None, *, formula=None, categorical=None,
                 levels=None, weight=None, batch_rows=65536, buffer_rows=None,
                 drop_missing=False, sep=None, drop=None):
        self.batch_rows = int(batch_rows)
        if self.batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
        self.block_rows = min(self.batch_rows, kernels.BLOCK_ROWS)
        self.files = expand_paths(paths)
        self.drop_missing, self.sep = bool(drop_missing), sep
        first = self.files[0]
        self.columns = read_column_names(first, file_kind(first), sep)
        for path in self.files[1:]:
            check_same_header(first, self.columns, path,
                              read_column_names(path, file_kind(path), sep))
        self.where = str(first) if len(self.files) == 1 else f"{first} and the other files"
        self.passes, self.largest_batch, self.notes = 0, 0, []
        self._text: set[str] = set()  # categorical columns read as text (see _first_pass)
        self.weight_name = weight
        if formula is not None:
            if target is not None or features is not None or categorical is not None or drop:
                raise InputError("the formula names the target and the terms: leave out "
                                 "target, features, categorical and drop")
            head = self._head(None)
            probe = DesignSpec.from_frame(head, formula, source=str(first),
                                          drop_missing=True, levels={}, streamed=False)
            self._read = [c for c in self.columns
                          if c in probe.variables() or c == weight]
            cats = list(probe.levels)
        else:
            plan = ColumnPlan.from_header(
                self.columns, target, features, weight, drop=drop, where=str(first),
                first_values=lambda: leading_values(first, file_kind(first), 0, sep))
            self.notes = list(plan.notes)
            self._read = list(plan.columns)
            head = self._head(self._read)
            probe = DesignSpec.from_frame(head, target=target, features=list(plan.features),
                                          categorical=categorical, source=str(first),
                                          drop_missing=True)
            cats = list(probe.levels)
        found = self._first_pass(cats, probe.variables(), levels)
        self.design = DesignSpec.from_frame(
            self._head(self._read), formula, target=target,
            features=None if formula else list(probe.inputs),
            categorical=None if formula else cats, levels=found, source=str(first),
            drop_missing=True, streamed=formula is not None)
        self.d, self.k = len(self.design.names), 1
        self.dtype = np.dtype(np.float64)
        self.feature_names = list(self.design.names)
        self.target_names = [self.design.target]
        self.n_skipped, self.skipped_examples = 0, []
        width = 8 * (self.d + 2)
        self.buffer_rows = int(buffer_rows) if buffer_rows else max(self.batch_rows,
                                                                     BUFFER_BYTES // width)

    # ------------------------------------------------------------------ reading
    def _frames(self, columns, paths=None) -> Iterator[tuple]:
        """(batch frame, path, locator) of every batch of the files, in order."""
        import pandas as pd

        for path in paths or self.files:
            kind, offset = file_kind(path), 0
            try:
                with self._reader(path, kind, columns) as batches:
                    for frame in batches:
                        frame.columns = [str(c).strip() for c in frame.columns]
                        _as_text(frame, self._text)
                        self.largest_batch = max(self.largest_batch, len(frame))
                        yield frame, path, _Lines(kind, offset)
                        offset += len(frame)
            except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"cannot read {path}: {one_line(exc)}") from None

    @contextmanager
    def _reader(self, path, kind: str, columns):
        """The batches of one file as DataFrames (the file closed afterwards)."""
        if kind == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as pf:
                yield (b.to_pandas() for b in pf.iter_batches(batch_size=self.batch_rows,
                                                              columns=columns))
            return
        import pandas as pd

        with pd.read_csv(path, sep=separator(Path(path), self.sep), chunksize=self.batch_rows,
                         skipinitialspace=True, usecols=_wanted(columns)) as reader:
            yield reader

    def _head(self, columns):
        """The first batch of the first file."""
        gen = self._frames(columns, self.files[:1])
        try:
            frame, _, _ = next(gen)
        except StopIteration:
            raise InputError(f"{self.files[0]} has a header but no data rows") from None
        finally:
            gen.close()
        return frame

    def _first_pass(self, cats, variables, declared) -> dict:
        """Levels of the categorical columns, rows kept, the sum of the weights."""
        found = {c: [] for c in cats}
        text = set()
        self.n = self.n_dropped = 0
        self.S = 0.0
        for frame, path, lines in self._frames(self._read):
            holes = frame[variables].isna().to_numpy()
            kept = missing_rows(holes, variables, self.drop_missing, str(path), lines)
            rows = frame.loc[kept]
            self.n += int(kept.sum())
            self.n_dropped += int((~kept).sum())
            self.S += float(self._weights(frame, kept, path, lines).sum()) \
                if self.weight_name else float(kept.sum())
            batch = {c: sorted_levels(rows[c].unique()) for c in cats}
            text |= {c for c in cats if not _numeric(frame[c])}
            if declared is not None:
                _check_declared(batch, declared, path)
            else:
                found = merge_levels(found, batch)
        self.passes += 1
        if self.n == 0:
            raise InputError(f"no data rows to fit in {self.where}")
        if self.weight_name and not self.S > 0:
            raise InputError(f"the weight column {self.weight_name!r} is zero for every row of "
                             f"{self.where}: at least one row needs a positive weight")
        if declared is not None:
            return {c: list(declared[c]) for c in cats}
        # A column that holds text in some batch is text in all of them, as pandas reads it
        # when it reads the whole file: its numbers are levels by their text too.
        self._text = text
        return {c: sorted_levels(str(v) for v in found[c]) if c in text else found[c]
                for c in cats}

    def _weights(self, frame, kept, path, lines) -> np.ndarray:
        """The weights of the rows kept of a batch (finite and >= 0, else an error)."""
        import pandas as pd

        column = frame[self.weight_name]
        s = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero((~np.isfinite(s) | (s < 0)) & kept)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"weight {column.iloc[i]!r} in column {self.weight_name!r} at "
                             f"{lines(i)} of {path}; sample weights must be finite numbers "
                             ">= 0")
        return s[kept]

    def _batches(self, paths=None) -> Iterator[tuple]:
        """(X, Y, s) of every batch: the design of its rows."""
        for frame, path, lines in self._frames(self._read, paths):
            X, y, kept = self.design.transform(frame, drop_missing=self.drop_missing,
                                               source=str(path), locate=lines, batch=True)
            s = self._weights(frame, kept, path, lines) if self.weight_name else None
            if len(X):
                yield X, y[:, None], s

    # ------------------------------------------------------------------ the contract
    def blocks(self, rows: int | None = None, any_layout: bool = False) -> Iterator[tuple]:
        """One pass: consecutive blocks ``(X, Y, s)`` of ``rows`` rows (default
        ``block_rows``), the same partition on every pass."""
        yield from rechunk(self._batches(), rows or self.block_rows)
        self.passes += 1

    def map_reduce(self, fn, combine=add, any_layout=False):
        """``fn(X, Y, s)`` on every block, combined in block order (one pass)."""
        acc = None
        for X, Y, s in self.blocks():
            out = fn(X, Y, s)
            acc = out if acc is None else combine(acc, out)
        return acc

    def minibatches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of shuffled mini-batches (as ``FileBackend.minibatches``: one
        permutation of all rows when they fit in the buffer, else a shuffling buffer over
        the files in a permuted order)."""
        B = int(batch_size)
        cap = max(self.buffer_rows, B)
        if self.n <= cap:
            X, Y, s = concat_parts(list(self._batches()))
            self.passes += 1
            order = rng.permutation(self.n)
            for start in range(0, self.n, B):
                idx = np.sort(order[start:start + B])
                yield X[idx], Y[idx], None if s is None else s[idx]
            return
        buf = ShuffleBuffer(cap, self.d, self.k, self.weight_name is not None)
        paths = [self.files[j] for j in rng.permutation(len(self.files))]
        yield from buf.shuffle(self._batches(paths), B, rng)
        self.passes += 1

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> dict:
        """What identifies the data of a fit (for checkpoints): the files' names, sizes and
        digests of their first and last 64 KiB, the design, the rows kept."""
        files = []
        for path in self.files:
            size = stat_file(Path(path)).st_size
            files.append({"name": Path(path).name, "size": size,
                          "digest": file_digest(Path(path), size)})
        body = {"files": files, "design": self.design.to_json(),
                "weight": self.weight_name, "drop_missing": self.drop_missing, "n": self.n,
                "S": self.S}
        body["id"] = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(),
                                     digest_size=16).hexdigest()
        return body

    def summary(self) -> dict:
        """Counts for a fit's ``info``: files, rows, dropped rows, passes."""
        return {"n_files": len(self.files), "n_rows": self.n, "skipped_rows": 0,
                "skipped_examples": [], "dropped_rows": self.n_dropped,
                "passes": self.passes, "notes": list(self.notes)}

    def __repr__(self) -> str:
        return (f"DesignBackend({len(self.files)} file(s), n={self.n}, d={self.d}, "
                f"design={self.design.kind})")


def _numeric(series) -> bool:
    from pandas.api import types as ptypes

    return ptypes.is_numeric_dtype(series.dtype)


def _as_text(frame, columns) -> None:
    """The ``columns`` of a batch as text (missing values kept missing), in place."""
    for c in columns:
        if c in frame.columns and _numeric(frame[c]):
            values = frame[c].astype(object)
            present = values.notna()
            values[present] = [str(v) for v in frame[c][present].tolist()]
            frame[c] = values


def _wanted(columns):
    """pandas' ``usecols`` for the columns read (names as the header has them, stripped)."""
    if columns is None:
        return None
    wanted = set(columns)
    return lambda c: c.strip() in wanted


def _check_declared(batch: dict, declared: dict, path) -> None:
    for c, levels in batch.items():
        if c not in declared:
            raise InputError(f"levels=... declares no levels for the categorical column {c!r}: "
                             "declare them all, or leave levels out to find them")
        known = set(sorted_levels(declared[c]))
        extra = [v for v in levels if v not in known]
        if extra:
            listed = ", ".join(map(repr, declared[c]))
            raise InputError(f"column {c!r} of {path} has the level {extra[0]!r}, which is not "
                             f"among the levels declared for it ({listed}); declare it too, or "
                             "leave levels out to find them")
