"""CSV and Parquet files as a backend: data larger than memory, read in blocks.

:class:`FileBackend` offers the backend contract (``gradfit.data.memory``): ``n``, ``d``, ``k``,
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

Cache.  With ``cache=folder`` the first pass (the validating scan at construction) also writes
the parsed float64 rows to a cache in that folder (raw files ``X.f64``, ``Y.f64``, ``s.f64``
appended to as the rows are parsed, then ``manifest.json``), and every later pass reads its
blocks from there instead of parsing the files: the same rows, in the same blocks and order,
so the numbers are bit for bit those of parsing.  The cache is keyed by the files (absolute
names), the columns and the reading options; a later run reuses it (and skips the scan) while
the files keep their sizes, modification times and head/tail hashes, and rebuilds it when
they changed or when it is incomplete (a process killed while writing it) or damaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gradfit.data.memory import add
from gradfit.data.streaming import (
    SHOW,
    ColumnPlan,
    FileState,
    ReadOptions,
    _digest,
    check_unchanged,
    expand_paths,
    file_kind,
    read_ahead,
    read_column_names,
    read_file,
    scan_file,
)
from gradfit.exceptions import InputError
from gradfit.model import kernels
from gradfit.model.backend import Capabilities
from gradfit.model.columns import Columns

__all__ = ["BUFFER_BYTES", "CACHE_VERSION", "FileBackend", "auto_cache_folder"]

BUFFER_BYTES = 64 << 20
"""Default size of the shuffling buffer of ``FileBackend.minibatches``."""

CACHE_VERSION = 1
"""Layout version of the parsed-data cache (a cache of another version is rebuilt)."""

CACHE_READ_ROWS = 65536
"""Rows read at a time from the cache (a pass cuts them into its blocks)."""


class FileBackend:
    """CSV and Parquet files read in blocks (the backend contract of ``gradfit.data.memory``).

    Construction makes one pass over every file: it checks that all headers are equal, that
    the columns exist and hold numbers, and counts the rows and the sum of the weights.

    Parameters
    ----------
    paths : str, path-like or a sequence of them
        Files, folders or globs (see :func:`gradfit.data.streaming.expand_paths`); CSV, or
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
    cache : None, path-like, "auto" or "none", default None
        A folder for a cache of the parsed float64 rows: the validating pass writes it, later
        passes (and later runs, while the files are unchanged) read it instead of parsing the
        files.  ``"auto"``: a folder ``gradfit-cache`` in the system temp dir
        (:func:`auto_cache_folder`), for data with CSV files only (Parquet decodes fast) and
        when the disk has room.  A cache that cannot be written (no room, no permission) is
        given up with a warning; the fit goes on from the files.

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
        Full passes made over the data so far (the construction pass included; it is skipped,
        and not counted, when a valid cache is found).
    parse_passes, cache_passes : int
        Of those, the passes that parsed the files and those read from the cache.
    cache_status : None, "built", "reused" or "pending"
        No cache; written by this backend; found valid and reused; to be written by the next
        full pass in file order (:meth:`use_cache` after construction).
    cache_folder : Path or None
        The folder of this data's cache (inside the ``cache`` folder given).
    """

    capabilities = Capabilities(cache=True, fingerprint=True, any_layout=True, target_mean=True)

    def __init__(self, paths, target, features=None, *, weight=None, batch_rows=65536,
                 buffer_rows=None, block_size=1 << 20, skip_bad_rows=False,
                 drop_missing=False, cache=None):
        batch_rows = int(batch_rows)
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
        self.options = ReadOptions(batch_rows, int(block_size), bool(skip_bad_rows),
                                   bool(drop_missing))
        self.block_rows = min(batch_rows, kernels.BLOCK_ROWS)
        self._buffer_rows = int(buffer_rows) if buffer_rows else None
        paths = expand_paths(paths)
        self._paths = paths
        first = paths[0]
        self.columns = read_column_names(first, file_kind(first))
        self.plan = ColumnPlan.from_header(self.columns, target, features, weight,
                                           where=str(first))
        self.passes = self.parse_passes = self.cache_passes = 0
        self._cache: _Cache | None = None
        self.cache_folder: Path | None = None
        self.cache_status: str | None = None
        root = _cache_root(cache, paths)
        if root is not None:
            self.cache_folder = root / _cache_name(self._identity())
            if self._load_cache():
                return
        writer = self._new_writer() if root is not None else None
        self.files: list[FileState] = []
        totals = _Totals(self.block_rows, len(self.plan.targets))
        sink = totals if writer is None else _Tee(totals, writer)
        with self._parsing_pass(writer):
            for path in paths:
                names = self.columns if path == first else read_column_names(path,
                                                                             file_kind(path))
                if names != self.columns:
                    raise InputError(_header_difference(first, self.columns, path, names))
                self.files.append(scan_file(path, self.plan, self.options, self.columns, sink))
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
        self._target_sum = np.asarray(target_sum, dtype=np.float64).reshape(self.k)
        self.target_mean = self._target_sum / self.S
        width = 8 * (self.d + self.k + (1 if self.plan.weight else 0))
        self.buffer_rows = self._buffer_rows or max(self.options.batch_rows,
                                                    BUFFER_BYTES // width)

    # ------------------------------------------------------------------ cache
    def _identity(self) -> dict:
        """What names a cache: the files (absolute), the columns and the reading options that
        decide which rows are kept (not the block sizes: they do not change the rows)."""
        return {"version": CACHE_VERSION,
                "files": [str(Path(p).resolve()) for p in self._paths],
                "columns": list(self.columns), "features": list(self.plan.features),
                "targets": list(self.plan.targets), "weight": self.plan.weight,
                "skip_bad_rows": self.options.skip_bad_rows,
                "drop_missing": self.options.drop_missing}

    def _load_cache(self) -> bool:
        """Take the scan's results and the rows from a valid cache; False when there is none
        (or it is stale, partial or damaged: it will be rebuilt)."""
        found = _Cache.open(self.cache_folder, self._identity())
        if found is None:
            return False
        cache, manifest = found
        self.files = [_file_state(rec, path) for rec, path in zip(manifest["files"],
                                                                  self._paths)]
        S = float.fromhex(manifest["S"])
        target_sum = np.array([float.fromhex(v) for v in manifest["target_sum"]])
        self._finish_scan(S, target_sum)
        if (self.n, self.d, self.k, self.plan.weight is not None) != cache.shape:
            cache.close()
            return False
        self._cache, self.cache_status = cache, "reused"
        return True

    def use_cache(self, cache) -> None:
        """Cache the parsed rows from now on (a backend built without ``cache``): reuse a
        valid cache of this data in the folder ``cache`` (or ``"auto"``), else write one
        during the next full pass over the files in their order (``map_reduce``)."""
        root = _cache_root(cache, self._paths)
        if root is None or self._cache is not None:
            return
        self.cache_folder = root / _cache_name(self._identity())
        found = _Cache.open(self.cache_folder, self._identity())
        if found is not None:
            cache_, manifest = found
            same = (cache_.shape == (self.n, self.d, self.k, self.plan.weight is not None)
                    and [f["n_rows"] for f in manifest["files"]]
                    == [fs.n_rows for fs in self.files])
            if same:
                self._cache, self.cache_status = cache_, "reused"
                return
            cache_.close()
        self.cache_status = "pending"

    def _new_writer(self) -> _CacheWriter | None:
        try:
            return _CacheWriter(self.cache_folder, self._layout())
        except OSError as exc:
            _give_up(self.cache_folder, exc)
            self.cache_status = None
            return None

    def _layout(self) -> tuple[int, int, bool]:
        """Features, targets and whether there is a weight column (the cache's layout)."""
        return len(self.plan.features), len(self.plan.targets), self.plan.weight is not None

    def _pending_writer(self) -> _CacheWriter | None:
        """A writer for a full pass in file order, when a cache is pending (``use_cache``)."""
        if self.cache_status != "pending":
            return None
        return self._new_writer()

    def _commit(self, writer: _CacheWriter) -> None:
        """Seal a written cache (manifest last), move it into place and read from it."""
        if writer.rows != self.n:
            writer.abort()
            return
        folder = writer.commit(self._manifest())
        if folder is None:
            self.cache_status = None
            return
        try:
            self._cache = _Cache(folder, *self._layout(), self.n)
        except OSError as exc:
            _give_up(folder, exc)
            self.cache_status = None
            return
        self.cache_status = "built"

    def _manifest(self) -> dict:
        files = []
        for fs, path in zip(self.files, self._paths):
            rec = asdict(fs)
            rec["path"] = str(Path(path).resolve())
            rec["units"] = [list(u) for u in fs.units]
            files.append(rec)
        return {"format": "gradfit parsed-data cache", "version": CACHE_VERSION,
                "identity": self._identity(), "n": self.n, "d": self.d, "k": self.k,
                "weighted": self.plan.weight is not None, "S": float(self.S).hex(),
                "target_sum": [float(v).hex() for v in self._target_sum], "files": files,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def _check_sources(self) -> None:
        """Before a pass from the cache: the files must not have changed (as when parsing)."""
        for fs in self.files:
            check_unchanged(fs)

    def _count(self, cached: bool) -> None:
        self.passes += 1
        if cached:
            self.cache_passes += 1
        else:
            self.parse_passes += 1

    def close(self) -> None:
        """Close the cache's files (the backend can still parse the files afterwards)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
            if self.cache_status in ("built", "reused"):
                self.cache_status = None

    # ------------------------------------------------------------------ reading
    def _parts(self, order=None) -> Iterator[tuple]:
        """Filtered row arrays of every file (or of the (file, row group) units in
        ``order``), as read; from the cache when there is one."""
        if self._cache is not None:
            yield from self._cached_parts(order)
            return
        if order is None:
            for fs in self.files:
                yield from read_file(fs, self.plan, self.options, self.columns)
            return
        for i, unit in order:
            yield from read_file(self.files[i], self.plan, self.options, self.columns,
                                 units=None if unit is None else [unit])

    def _cached_parts(self, order=None) -> Iterator[tuple]:
        """The rows of every file (or of the units in ``order``) from the cache."""
        self._check_sources()
        if order is None:
            yield from self._cache.blocks(0, self.n, CACHE_READ_ROWS)
            return
        starts = np.concatenate([[0], np.cumsum([fs.n_rows for fs in self.files])])
        for i, unit in order:
            fs = self.files[i]
            lo = int(starts[i])
            if unit is None:
                hi = lo + fs.n_rows
            else:
                lo += sum(kept for _, kept in fs.units[:unit])
                hi = lo + fs.units[unit][1]
            yield from self._cache.blocks(lo, hi, CACHE_READ_ROWS)

    def blocks(self, rows: int | None = None, any_layout: bool = False) -> Iterator[tuple]:
        """One pass: consecutive blocks ``(X, Y, s)`` of ``rows`` rows (default
        ``block_rows``; the last block smaller), the same partition on every pass.  ``X`` is
        a row-major float64 array; with ``any_layout`` it may also be column-major or a
        :class:`~gradfit.model.columns.Columns` (no copy: for kernels that read any layout)."""
        rows = rows or self.block_rows
        if self._cache is not None:  # big reads on a thread, ahead of the consumer
            self._check_sources()
            yield from _rechunk(read_ahead(self._cache.blocks(0, self.n, CACHE_READ_ROWS)),
                                rows)
            self._count(cached=True)
            return
        writer = self._pending_writer()
        parts = self._parts() if writer is None else _written(self._parts(), writer)
        with self._parsing_pass(writer):  # an error, or a pass abandoned (GeneratorExit)
            yield from _rechunk(parts, rows, any_layout)

    @contextmanager
    def _parsing_pass(self, writer):
        """A pass that parses the files (filling the cache when ``writer`` is given): any
        error, or a pass abandoned half-way, drops the half-written cache; a completed pass
        is counted and its cache committed."""
        try:
            yield
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        self._count(cached=False)
        if writer is not None:
            self._commit(writer)

    def map_reduce(self, fn, combine=add, any_layout=False):
        """``fn(X, Y, s)`` on every block, results combined in block order (one pass).
        ``any_layout``: ``fn`` takes X in any layout (see :meth:`blocks`)."""
        acc = None
        for X, Y, s in self.blocks(any_layout=any_layout):
            out = fn(X, Y, s)
            acc = out if acc is None else combine(acc, out)
        return acc

    def minibatches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of shuffled mini-batches ``(X, Y, s)`` of ``batch_size`` rows (the last
        one smaller); see the module docstring for how rows are shuffled."""
        B = int(batch_size)
        cap = max(self.buffer_rows, B)
        if self.n <= cap:
            if self._cache is not None:
                self._check_sources()
                X, Y, s = self._cache.read(0, self.n)
                self._count(cached=True)
            else:
                writer = self._pending_writer()
                parts = self._parts() if writer is None else _written(self._parts(), writer)
                with self._parsing_pass(writer):
                    X, Y, s = _concat(list(parts))
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
        self._count(cached=self._cache is not None)

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
        out = {"n_files": len(self.files), "n_rows": self.n, "skipped_rows": self.n_skipped,
               "skipped_examples": list(self.skipped_examples),
               "dropped_rows": self.n_dropped, "passes": self.passes}
        if self.cache_folder is not None:
            out["cache"] = {"folder": str(self.cache_folder), "status": self.cache_status,
                            "parse_passes": self.parse_passes,
                            "cache_passes": self.cache_passes}
        return out

    def __repr__(self) -> str:
        cached = f", cache={self.cache_status}" if self.cache_status else ""
        return (f"FileBackend({len(self.files)} file(s), n={self.n}, d={self.d}, k={self.k}, "
                f"block_rows={self.block_rows}{cached})")


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


def _rows(X) -> np.ndarray:
    """``X`` as a row-major array (a copy only when it is not one).  The fast readers hand
    on column-major batches, or :class:`~gradfit.model.columns.Columns` (see
    :mod:`gradfit.data.streaming`); the blocks a backend serves are row-major whatever their
    source (unless the consumer reads any layout), so that every reduction over them (BLAS
    products, ``sum(axis=0)``) runs the same way on parsed and cached rows: the same bits.
    The copy is of one cache-sized block, on the consumer's thread, while the reader reads
    ahead."""
    if isinstance(X, Columns):
        return np.asarray(X)
    return X if X.flags.c_contiguous else np.ascontiguousarray(X)


def _concat(parts: list[tuple], shape=_rows) -> tuple:
    """One block from the arrays of ``parts``: a row-major copy, or ``shape`` of the one
    part's arrays when there is only one."""
    if len(parts) == 1:
        X, Y, s = parts[0]
        return shape(X), shape(Y), s
    X = np.concatenate([_rows(p[0]) for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    if parts[0][2] is None:
        return X, _rows(Y), None
    return X, _rows(Y), np.concatenate([p[2] for p in parts])


def _rechunk(parts, rows: int, any_layout: bool = False) -> Iterator[tuple]:
    """Blocks of exactly ``rows`` rows (the last smaller) from arrays of any sizes and
    layouts: row-major (a copy where needed), or with ``any_layout`` the slices of the
    arrays as they come (``Columns`` included) where a block lies inside one; a block that
    spans arrays is a row-major copy either way."""
    shape = (lambda a: a) if any_layout else _rows
    pending, have = [], 0
    for X, Y, s in parts:
        start, m = 0, len(X)
        while start < m:
            if not pending and m - start >= rows:
                stop = start + rows
                yield (shape(X[start:stop]), shape(Y[start:stop]),
                       None if s is None else s[start:stop])
                start = stop
                continue
            take = min(rows - have, m - start)
            stop = start + take
            pending.append((X[start:stop], Y[start:stop], None if s is None else s[start:stop]))
            have += take
            start = stop
            if have == rows:
                yield _concat(pending, shape)
                pending, have = [], 0
    if pending:
        yield _concat(pending, shape)


class _Totals:
    """Sum of the weights and weighted sums of the targets, block by block over the same
    partition as ``map_reduce`` (so they do not depend on how the rows are split into files;
    with one block they are exactly those of ``InMemory`` and ``np.average``).  A scan sink:
    see :func:`gradfit.data.streaming.scan_file`."""

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
            else _rows(self.pending[0][0])
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
        self.X[rows] = np.asarray(X[start:start + take])
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


# --------------------------------------------------------------------------- the cache

_ARRAYS = ("X.f64", "Y.f64", "s.f64")
_MANIFEST = "manifest.json"
_OFF = frozenset({"", "none", "off", "no", "false"})


def auto_cache_folder() -> Path:
    """Where ``cache="auto"`` keeps caches: ``$GRADFIT_CACHE_DIR``, else
    ``<system temp dir>/gradfit-cache``."""
    env = os.environ.get("GRADFIT_CACHE_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "gradfit-cache"


def _cache_root(cache, paths) -> Path | None:
    """The folder that holds caches for ``cache`` (None: no cache).  ``"auto"`` caches CSV
    data only (Parquet decodes about as fast as a cache is read), and only when the disk
    has room for about the size of the CSV files."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, str) and cache.strip().lower() in _OFF:
        return None
    if isinstance(cache, str) and cache.strip().lower() == "auto":
        csv = [p for p in paths if file_kind(Path(p)) == "csv"]
        if not csv:
            return None
        root = auto_cache_folder()
        need = sum(os.stat(p).st_size for p in csv) + (256 << 20)
        try:
            free = shutil.disk_usage(_existing(root)).free
        except OSError:
            return None
        if free < need:
            warnings.warn(f"cache='auto': not caching the parsed data in {root} (it has "
                          f"{free >> 20} MiB free, the cache needs up to about {need >> 20} "
                          "MiB); every pass parses the files", RuntimeWarning, stacklevel=3)
            return None
        return root
    return Path(os.fspath(cache)).expanduser()


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _cache_name(identity: dict) -> str:
    blob = json.dumps(identity, sort_keys=True).encode()
    return "gradfit-" + hashlib.blake2b(blob, digest_size=12).hexdigest()


def _file_state(rec: dict, path) -> FileState:
    rec = dict(rec)
    rec["path"] = Path(path)
    rec["units"] = [tuple(u) for u in rec["units"]]
    return FileState(**rec)


def _give_up(folder, exc) -> None:
    warnings.warn(f"cannot write the cache of the parsed data in {folder} "
                  f"({getattr(exc, 'strerror', None) or exc}); going on without it (every "
                  "pass parses the files)", RuntimeWarning, stacklevel=4)


def _written(parts, writer) -> Iterator[tuple]:
    """The parts, each written to the cache before it is handed on."""
    for X, Y, s in parts:
        writer(X, Y, s)
        yield X, Y, s


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class _Tee:
    """A scan sink feeding the totals and the cache writer (``scan_file``'s sink
    contract: call, ``mark()``, ``rollback()``)."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def __call__(self, X, Y, s) -> None:
        for sink in self.sinks:
            sink(X, Y, s)

    def mark(self) -> None:
        for sink in self.sinks:
            sink.mark()

    def rollback(self) -> None:
        for sink in self.sinks:
            sink.rollback()


class _CacheWriter:
    """Writes the parsed rows to a fresh temporary folder beside the cache's, appending raw
    float64 rows to ``X.f64`` (n, d), ``Y.f64`` (n, k) and ``s.f64`` (n,) (C order) as they
    come (memory: none beyond the file buffers); :meth:`commit` adds ``manifest.json`` last
    and renames the folder into place, so a cache folder without a manifest is never seen
    and a killed writer leaves only a temporary folder (removed by the next writer once its
    process is gone).  Any OSError (a full disk, say) gives the cache up with a warning."""

    def __init__(self, final: Path, layout: tuple[int, int, bool]):
        self.final = Path(final)
        self.d, self.k, self.weighted = layout
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._clean_leftovers()
        if self.final.exists():  # stale, partial or damaged (else it would have been used)
            shutil.rmtree(self.final, ignore_errors=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.final.name}.tmp-{os.getpid()}-",
                                         dir=self.final.parent))
        names = _ARRAYS if self.weighted else _ARRAYS[:2]
        self.fh = [open(self.tmp / name, "wb") for name in names]  # noqa: SIM115
        self.rows = 0
        self.failed = False
        self._mark = None

    def _clean_leftovers(self) -> None:
        for tmp in self.final.parent.glob(f"{self.final.name}.tmp-*"):
            try:
                pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
            except (IndexError, ValueError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(tmp, ignore_errors=True)

    def __call__(self, X, Y, s) -> None:
        if self.failed:
            return
        try:
            self.fh[0].write(memoryview(np.ascontiguousarray(X, dtype=np.float64)).cast("B"))
            self.fh[1].write(memoryview(np.ascontiguousarray(Y, dtype=np.float64)).cast("B"))
            if self.weighted:
                self.fh[2].write(memoryview(np.ascontiguousarray(s, dtype=np.float64))
                                 .cast("B"))
            self.rows += len(X)
        except OSError as exc:
            self._fail(exc)

    def mark(self) -> None:
        if not self.failed:
            self._mark = ([fh.tell() for fh in self.fh], self.rows)

    def rollback(self) -> None:
        if self.failed or self._mark is None:
            return
        positions, self.rows = self._mark
        try:
            for fh, pos in zip(self.fh, positions):
                fh.flush()
                fh.truncate(pos)
                fh.seek(pos)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc) -> None:
        _give_up(self.final, exc)
        self.abort()

    def abort(self) -> None:
        """Drop what was written (an error, a pass left unfinished, a failed write)."""
        self.failed = True
        for fh in self.fh:
            try:
                fh.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self, manifest: dict) -> Path | None:
        """Close the arrays, write the manifest (with each array's size and head/tail hash)
        and move the folder into place; returns the cache folder (None: given up)."""
        if self.failed:
            return None
        try:
            for fh in self.fh:
                fh.close()
            arrays = {}
            for fh in self.fh:
                path = Path(fh.name)
                size = path.stat().st_size
                arrays[path.name] = {"bytes": size, "digest": _digest(path, size)}
            manifest = dict(manifest, arrays=arrays)
            with open(self.tmp / _MANIFEST, "w") as out:
                json.dump(manifest, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            for _attempt in range(2):
                try:
                    os.rename(self.tmp, self.final)
                    break
                except OSError:  # another process put a cache there meanwhile: replace it
                    shutil.rmtree(self.final, ignore_errors=True)
            else:
                raise OSError(f"cannot move {self.tmp} to {self.final}")
        except OSError as exc:
            self._fail(exc)
            return None
        self.failed = True  # done: nothing more to write
        return self.final


class _Cache:
    """Reads rows from a sealed cache folder (``X.f64``, ``Y.f64``, ``s.f64`` and
    ``manifest.json``): ``read(start, stop)`` copies rows into fresh C-contiguous arrays
    (plain reads, not a memory map, so that the process's memory stays one block however
    big the cache, and a cache file cut short raises instead of crashing)."""

    def __init__(self, folder: Path, d: int, k: int, weighted: bool, n: int):
        self.folder = Path(folder)
        self.shape = (n, d, k, weighted)
        names = _ARRAYS if weighted else _ARRAYS[:2]
        self.fh = [open(self.folder / name, "rb", buffering=0) for name in names]  # noqa: SIM115
        for fh, width in zip(self.fh, (d, k, 1)):
            size = os.fstat(fh.fileno()).st_size
            if size != n * width * 8:
                self.close()
                raise OSError(f"{fh.name} holds {size} bytes, not {n * width * 8}")

    @classmethod
    def open(cls, folder: Path, identity: dict):
        """(cache, manifest) when ``folder`` holds a complete cache of these files as they
        are now, else None (no cache, another identity or version, files changed since,
        array files missing, cut short or altered)."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / _MANIFEST).read_text())
            if (manifest.get("version") != CACHE_VERSION
                    or manifest.get("identity") != identity):
                return None
            for rec in manifest["files"]:
                st = os.stat(rec["path"])
                if (st.st_size, st.st_mtime_ns) != (rec["size"], rec["mtime_ns"]):
                    return None
                if _digest(Path(rec["path"]), st.st_size) != rec["digest"]:
                    return None
            for name, info in manifest["arrays"].items():
                path = folder / name
                size = path.stat().st_size
                if size != info["bytes"] or _digest(path, size) != info["digest"]:
                    return None
            cache = cls(folder, int(manifest["d"]), int(manifest["k"]),
                        bool(manifest["weighted"]), int(manifest["n"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cache, manifest

    def close(self) -> None:
        for fh in self.fh:
            fh.close()

    def _fill(self, fh, out: np.ndarray, offset: int) -> None:
        view = memoryview(out).cast("B")
        fh.seek(offset)
        got = 0
        while got < len(view):
            r = fh.readinto(view[got:])
            if not r:
                raise InputError(f"the cache file {fh.name} is shorter than when it was "
                                 "written (it was changed during the fit); delete the folder "
                                 f"{self.folder} and fit again")
            got += r

    def read(self, start: int, stop: int) -> tuple:
        """Rows ``start:stop`` as fresh arrays ``(X, Y, s)``."""
        n, d, k, weighted = self.shape
        m = stop - start
        X = np.empty((m, d))
        Y = np.empty((m, k))
        self._fill(self.fh[0], X, start * d * 8)
        self._fill(self.fh[1], Y, start * k * 8)
        s = None
        if weighted:
            s = np.empty(m)
            self._fill(self.fh[2], s, start * 8)
        return X, Y, s

    def blocks(self, start: int, stop: int, rows: int) -> Iterator[tuple]:
        """Rows ``start:stop`` in consecutive blocks of ``rows`` (the last smaller)."""
        for lo in range(start, stop, rows):
            yield self.read(lo, min(lo + rows, stop))
