"""CSV and Parquet files as a backend: data larger than memory, read in blocks.

:class:`FileBackend` offers the backend contract (``gradfit.backends``): ``n``, ``d``, ``k``,
``S``, ``dtype``, ``map_reduce(fn, combine)`` (one pass over the files) and
``minibatches(batch_size, rng)`` (one epoch of shuffled mini-batches).  Memory holds one block
of rows, or the shuffling buffer, never the data.

Blocks.  ``map_reduce`` hands ``fn`` consecutive row blocks ``(X, Y, s)`` (C-contiguous
float64, ``X`` of shape (m, d), ``Y`` (m, k), ``s`` (m,) or None) of ``block_rows`` rows each
(the last smaller), the same partition on every pass and independent of how the rows are
split into files, and combines the results in that order.  ``block_rows`` is
``min(batch_rows, kernels.BLOCK_ROWS)``: with ``batch_rows >= 8192`` the partition is exactly
the kernel's cache blocking of in-memory data, so a full-batch fit on files does the same
arithmetic, in the same order, as ``gradfit.fit`` on the same rows in memory.

Shuffling.  ``minibatches`` fills a buffer of ``buffer_rows`` rows, permutes it with the fit's
generator and serves mini-batches from it; rows left over (fewer than a batch) stay for the
next fill.  The order of the files (and of Parquet row groups) is permuted every epoch too.
When all rows fit in the buffer, the epoch is exactly ``InMemory.minibatches``: one
permutation of all rows, so results equal the in-memory fit.  Otherwise rows mix only within
the buffer; data sorted by something that matters should be shuffled once beforehand (or
given a larger buffer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import numpy as np

from gradfit import kernels
from gradfit.backends import add
from gradfit.exceptions import InputError
from gradfit.io.streaming import (
    SHOW,
    ColumnPlan,
    FileState,
    ReadOptions,
    expand_paths,
    file_kind,
    read_column_names,
    read_file,
    scan_file,
)

__all__ = ["BUFFER_BYTES", "FileBackend"]

BUFFER_BYTES = 64 << 20
"""Default size of the shuffling buffer of ``FileBackend.minibatches``."""


class FileBackend:
    """CSV and Parquet files read in blocks (the backend contract of ``gradfit.backends``).

    Construction makes one pass over every file: it checks that all headers are equal, that
    the columns exist and hold numbers, and counts the rows and the sum of the weights.

    Parameters
    ----------
    paths : str, path-like or a sequence of them
        Files, folders or globs (see :func:`gradfit.io.streaming.expand_paths`); CSV, or
        Parquet by extension (.parquet, .pq, .parq) or content.
    target : str or sequence of str
        The target column (a list for several outputs).
    features : sequence of str, str "a,b,c" or None
        Feature columns, in this order (None: every column but the target and the weight).
    weight : str or None
        A column of non-negative sample weights.
    batch_rows : int, default 65536
        Rows read at a time from Parquet; blocks handed to ``map_reduce`` have
        ``min(batch_rows, 8192)`` rows.
    buffer_rows : int or None
        Rows in the shuffling buffer of ``minibatches`` (default: as many as 64 MiB of
        float64 rows hold, at least ``batch_rows``; always at least the batch size).
    block_size : int, default 1 MiB
        Bytes read at a time from CSV.
    skip_bad_rows : bool, default False
        Skip malformed rows (wrong number of fields, a value that is not a number, an infinite
        value) and count them (``n_skipped``) instead of raising.
    drop_missing : bool, default False
        Drop rows with a missing value (empty cell, NA, NaN) instead of raising.

    Attributes
    ----------
    n, d, k : int
        Rows kept, features, targets.
    S : float
        Sum of the sample weights (``n`` without a weight column).
    dtype : numpy dtype (float64)
    files : list of FileState
    feature_names, target_names : list of str
    weight_name : str or None
    n_skipped, n_dropped : int
        Rows skipped as malformed, rows dropped for missing values.
    passes : int
        Full passes made over the files so far (the construction pass included).
    """

    def __init__(self, paths, target, features=None, *, weight=None, batch_rows=65536,
                 buffer_rows=None, block_size=1 << 20, skip_bad_rows=False,
                 drop_missing=False):
        batch_rows = int(batch_rows)
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
        self.options = ReadOptions(batch_rows, int(block_size), bool(skip_bad_rows),
                                   bool(drop_missing))
        self.block_rows = min(batch_rows, kernels.BLOCK_ROWS)
        self._buffer_rows = int(buffer_rows) if buffer_rows else None
        paths = expand_paths(paths)
        first = paths[0]
        self.columns = read_column_names(first, file_kind(first))
        self.plan = ColumnPlan.from_header(self.columns, target, features, weight,
                                           where=str(first))
        self.files: list[FileState] = []
        totals = _Totals(self.block_rows, len(self.plan.targets))
        for path in paths:
            names = self.columns if path == first else read_column_names(path, file_kind(path))
            if names != self.columns:
                raise InputError(_header_difference(first, self.columns, path, names))
            self.files.append(scan_file(path, self.plan, self.options, self.columns, totals))
        self.passes = 1
        self._finish_scan(*totals.finish())

    # ------------------------------------------------------------------ construction
    def _finish_scan(self, S: float, target_sum: np.ndarray) -> None:
        missing = sum(f.n_missing for f in self.files)
        if missing and not self.options.drop_missing:
            examples = [e for f in self.files for e in f.missing_examples][:SHOW]
            raise InputError(
                f"{missing} row(s) have a missing value (an empty cell, NA or NaN), the first "
                f"at {'; '.join(examples)}; fill them in, or pass drop_missing=True to drop "
                "those rows")
        self.n = sum(f.n_rows for f in self.files)
        where = ", ".join(str(f.path) for f in self.files[:3]) + (
            ", ..." if len(self.files) > 3 else "")
        if self.n == 0:
            raise InputError(f"no data rows to fit in {where}")
        self.S = float(S)
        if self.plan.weight and not self.S > 0:
            raise InputError(f"the weight column {self.plan.weight!r} is zero for every row of "
                             f"{where}: at least one row needs a positive weight")
        self.d = len(self.plan.features)
        self.k = len(self.plan.targets)
        self.dtype = np.dtype(np.float64)
        self.feature_names = list(self.plan.features)
        self.target_names = list(self.plan.targets)
        self.weight_name = self.plan.weight
        self.n_skipped = sum(f.n_bad for f in self.files)
        self.n_dropped = sum(f.n_missing for f in self.files) if self.options.drop_missing else 0
        self.skipped_examples = [e for f in self.files for e in f.bad_examples][:SHOW]
        self.target_mean = target_sum / self.S
        width = 8 * (self.d + self.k + (1 if self.plan.weight else 0))
        self.buffer_rows = self._buffer_rows or max(self.options.batch_rows,
                                                    BUFFER_BYTES // width)

    # ------------------------------------------------------------------ reading
    def _parts(self, order=None) -> Iterator[tuple]:
        """Filtered row arrays of every file (or of the (file, row group) units in
        ``order``), as read."""
        if order is None:
            for fs in self.files:
                yield from read_file(fs, self.plan, self.options, self.columns)
            return
        for i, unit in order:
            yield from read_file(self.files[i], self.plan, self.options, self.columns,
                                 units=None if unit is None else [unit])

    def blocks(self, rows: int | None = None) -> Iterator[tuple]:
        """One pass: consecutive blocks ``(X, Y, s)`` of ``rows`` rows (default
        ``block_rows``; the last block smaller), the same partition on every pass."""
        yield from _rechunk(self._parts(), rows or self.block_rows)
        self.passes += 1

    def map_reduce(self, fn, combine=add):
        """``fn(X, Y, s)`` on every block, results combined in block order (one pass)."""
        acc = None
        for X, Y, s in self.blocks():
            out = fn(X, Y, s)
            acc = out if acc is None else combine(acc, out)
        return acc

    def minibatches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of shuffled mini-batches ``(X, Y, s)`` of ``batch_size`` rows (the last
        one smaller); see the module docstring for how rows are shuffled."""
        B = int(batch_size)
        cap = max(self.buffer_rows, B)
        if self.n <= cap:
            X, Y, s = _concat(list(self._parts()))
            self.passes += 1
            order = rng.permutation(self.n)
            for start in range(0, self.n, B):
                idx = np.sort(order[start:start + B])
                yield X[idx], Y[idx], None if s is None else s[idx]
            return
        units = [(i, u) for i, fs in enumerate(self.files) for u, _ in enumerate(fs.units)
                 if fs.units[u][1] > 0]
        units = [(i, None if self.files[i].kind == "csv" else u) for i, u in units]
        order = [units[j] for j in rng.permutation(len(units))]
        buf = _Buffer(cap, self.d, self.k, self.plan.weight is not None)
        for X, Y, s in self._parts(order):
            start = 0
            while start < len(X):
                start += buf.put(X, Y, s, start)
                if buf.full:
                    yield from buf.serve(B, rng, final=False)
        yield from buf.serve(B, rng, final=True)
        self.passes += 1

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> dict:
        """What identifies the data of a fit (for checkpoints): file names, sizes, a hash of
        their first and last 64 KiB, row counts, columns and reading options.  Modification
        times are left out, so a restored copy of the files still matches."""
        files = [{"name": fs.path.name, "size": fs.size, "digest": fs.digest,
                  "rows": fs.n_rows, "skipped": fs.n_bad} for fs in self.files]
        body = {"files": files, "features": self.feature_names, "targets": self.target_names,
                "weight": self.weight_name, "skip_bad_rows": self.options.skip_bad_rows,
                "drop_missing": self.options.drop_missing, "n": self.n, "S": self.S}
        body["id"] = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(),
                                     digest_size=16).hexdigest()
        return body

    def summary(self) -> dict:
        """Counts for a fit's ``info``: files, rows, skipped and dropped rows, passes."""
        return {"n_files": len(self.files), "n_rows": self.n, "skipped_rows": self.n_skipped,
                "skipped_examples": list(self.skipped_examples),
                "dropped_rows": self.n_dropped, "passes": self.passes}

    def __repr__(self) -> str:
        return (f"FileBackend({len(self.files)} file(s), n={self.n}, d={self.d}, k={self.k}, "
                f"block_rows={self.block_rows})")


def _header_difference(first, cols_a, path, cols_b) -> str:
    for j, (a, b) in enumerate(zip(cols_a, cols_b)):
        if a != b:
            return (f"the header of {path} differs from that of {first}: column {j + 1} is "
                    f"{b!r} there but {a!r} in {first}; all files of a fit need the same "
                    "columns in the same order")
    longer, extra = (path, cols_b[len(cols_a)]) if len(cols_b) > len(cols_a) else (
        first, cols_a[len(cols_b)])
    return (f"the header of {path} differs from that of {first}: {longer} has an extra column "
            f"{extra!r} ({len(cols_b)} columns against {len(cols_a)}); all files of a fit need "
            "the same columns in the same order")


def _concat(parts: list[tuple]) -> tuple:
    X = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    Y = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    if parts[0][2] is None:
        return X, Y, None
    return X, Y, np.concatenate([p[2] for p in parts]) if len(parts) > 1 else parts[0][2]


def _rechunk(parts, rows: int) -> Iterator[tuple]:
    """Blocks of exactly ``rows`` rows (the last smaller) from arrays of any sizes; views
    where a block lies inside one array, a copy where it spans several."""
    pending, have = [], 0
    for X, Y, s in parts:
        start, m = 0, len(X)
        while start < m:
            if not pending and m - start >= rows:
                stop = start + rows
                yield X[start:stop], Y[start:stop], None if s is None else s[start:stop]
                start = stop
                continue
            take = min(rows - have, m - start)
            stop = start + take
            pending.append((X[start:stop], Y[start:stop], None if s is None else s[start:stop]))
            have += take
            start = stop
            if have == rows:
                yield _concat(pending)
                pending, have = [], 0
    if pending:
        yield _concat(pending)


class _Totals:
    """Sum of the weights and weighted sums of the targets, block by block over the same
    partition as ``map_reduce`` (so they do not depend on how the rows are split into files;
    with one block they are exactly those of ``InMemory`` and ``np.average``).  A scan sink:
    see :func:`gradfit.io.streaming.scan_file`."""

    def __init__(self, rows: int, k: int):
        self.rows = rows
        self.S, self.T = 0.0, np.zeros(k)
        self.pending, self.have = [], 0
        self._mark = None

    def __call__(self, X, Y, s) -> None:
        start, m = 0, len(Y)
        while start < m:
            take = min(self.rows - self.have, m - start)
            stop = start + take
            self.pending.append((Y[start:stop], None if s is None else s[start:stop]))
            self.have += take
            start = stop
            if self.have == self.rows:
                self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        Y = np.concatenate([p[0] for p in self.pending]) if len(self.pending) > 1 \
            else self.pending[0][0]
        if self.pending[0][1] is None:
            self.S += float(len(Y))
            self.T = self.T + Y.sum(axis=0)
        else:
            s = np.concatenate([p[1] for p in self.pending])
            self.S += float(s.sum())
            self.T = self.T + (Y * s[:, None]).sum(axis=0)  # as np.average computes it
        self.pending, self.have = [], 0

    def mark(self) -> None:
        self._mark = (self.S, self.T.copy(), list(self.pending), self.have)

    def rollback(self) -> None:
        self.S, self.T, pending, self.have = self._mark
        self.pending = list(pending)
        self.T = self.T.copy()

    def finish(self) -> tuple[float, np.ndarray]:
        self._flush()
        return self.S, self.T


class _Buffer:
    """The shuffling buffer of ``minibatches``: ``cap`` rows, refilled as batches leave."""

    def __init__(self, cap: int, d: int, k: int, weighted: bool):
        self.X = np.empty((cap, d))
        self.Y = np.empty((cap, k))
        self.s = np.empty(cap) if weighted else None
        self.fill = 0

    @property
    def full(self) -> bool:
        return self.fill == len(self.X)

    def put(self, X, Y, s, start: int) -> int:
        """Copy rows from ``start`` on until the buffer is full; returns how many."""
        take = min(len(self.X) - self.fill, len(X) - start)
        rows = slice(self.fill, self.fill + take)
        self.X[rows] = X[start:start + take]
        self.Y[rows] = Y[start:start + take]
        if self.s is not None:
            self.s[rows] = s[start:start + take]
        self.fill += take
        return take

    def serve(self, B: int, rng, final: bool):
        """Permute the rows held and yield whole batches (and, when ``final``, the last partial
        one); the rows left over move to the front for the next fill."""
        m = self.fill
        if m == 0:
            return
        order = rng.permutation(m)
        whole = m if final else (m // B) * B
        for start in range(0, whole, B):
            idx = np.sort(order[start:start + B])
            yield self.X[idx], self.Y[idx], None if self.s is None else self.s[idx]
        rest = np.sort(order[whole:])
        self.X[: len(rest)] = self.X[rest]
        self.Y[: len(rest)] = self.Y[rest]
        if self.s is not None:
            self.s[: len(rest)] = self.s[rest]
        self.fill = len(rest)
