"""CSV and Parquet files as a backend: data larger than memory, read in blocks.

:class:`FileBackend` offers the backend contract (``gradfit.data.memory``): ``n``, ``d``, ``k``,
``S``, ``dtype``, ``map_reduce(fn, combine)`` (one pass over the files) and
``minibatches(batch_size, rng)`` (one epoch of shuffled mini-batches).  Memory holds one block
of rows, or the shuffling buffer, never the data.  The files are read by
:mod:`gradfit.data.readers`; the parsed rows may be cached by :mod:`gradfit.data.cache`.

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

Cache.  With ``cache=folder`` the validating pass also writes the parsed rows to a cache,
and every later pass (and a later run on unchanged files) reads them from there: the same
rows in the same blocks, bit for bit; see :mod:`gradfit.data.cache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gradfit.data import cache as cache_store
from gradfit.data.cache import (
    CACHE_READ_ROWS,
    CACHE_VERSION,
    Cache,
    CacheWriter,
    auto_cache_folder,
    cache_root,
)
from gradfit.data.memory import add
from gradfit.data.readers import (
    SHOW,
    ColumnPlan,
    FileState,
    ReadOptions,
    check_unchanged,
    expand_paths,
    file_kind,
    read_ahead,
    read_column_names,
    read_file,
    scan_file,
)
from gradfit.data.readers.header import check_same_header, leading_values
from gradfit.exceptions import InputError
from gradfit.model import kernels
from gradfit.model.backend import Capabilities
from gradfit.model.columns import Columns

__all__ = ["BUFFER_BYTES", "CACHE_READ_ROWS", "CACHE_VERSION", "FileBackend", "ShuffleBuffer",
           "concat_parts", "rechunk",
           "auto_cache_folder"]

BUFFER_BYTES = 64 << 20
"""Default size of the shuffling buffer of ``FileBackend.minibatches``."""


class FileBackend:
    """CSV and Parquet files read in blocks (the backend contract of ``gradfit.data.memory``).

    Construction makes one pass over every file: it checks that all headers are equal, that
    the columns exist and hold numbers, and counts the rows and the sum of the weights.

    Parameters
    ----------
    paths : str, path-like or a sequence of them
        Files, folders or globs (see :func:`gradfit.data.readers.expand_paths`); CSV, or
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
    sep : str or None
        The CSV field separator (None: a tab for .tsv/.tab, else the most frequent of
        ``,`` ``;`` and tab in the header line).
    drop : sequence of str, "a,b,c" or None
        Columns left out of the default features.  An unnamed first column that counts the
        rows 0, 1, 2, ... (the index pandas' ``to_csv()`` writes) is left out by itself, with
        a note in ``notes``; see :meth:`gradfit.data.readers.ColumnPlan.from_header`.
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
    notes : list of str
        What the column rules did unasked (an index column left out).
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

    capabilities = Capabilities(cache=True, fingerprint=True, any_layout=True, target_mean=True,
                                sequential=True)

    def __init__(self, paths, target, features=None, *, weight=None, batch_rows=65536,
                 buffer_rows=None, block_size=1 << 20, skip_bad_rows=False,
                 drop_missing=False, cache=None, sep=None, drop=None):
        batch_rows = int(batch_rows)
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}")
        self.options = ReadOptions(batch_rows, int(block_size), bool(skip_bad_rows),
                                   bool(drop_missing), sep)
        self.block_rows = min(batch_rows, kernels.BLOCK_ROWS)
        self._buffer_rows = int(buffer_rows) if buffer_rows else None
        paths = expand_paths(paths)
        self._paths = paths
        first = paths[0]
        kind = file_kind(first)
        self.columns = read_column_names(first, kind, sep)
        self.plan = ColumnPlan.from_header(
            self.columns, target, features, weight, drop=drop, where=str(first),
            first_values=lambda: leading_values(first, kind, 0, sep))
        self.notes = list(self.plan.notes)
        self.passes = self.parse_passes = self.cache_passes = 0
        self._cache: Cache | None = None
        self.cache_folder: Path | None = None
        self.cache_status: str | None = None
        root = cache_root(cache, paths)
        if root is not None:
            self.cache_folder = root / cache_store.cache_name(self._identity())
            if self._load_cache():
                return
        writer = self._new_writer() if root is not None else None
        self.files: list[FileState] = []
        totals = _Totals(self.block_rows, len(self.plan.targets))
        sink = totals if writer is None else _Tee(totals, writer)
        with self._parsing_pass(writer):
            for path in paths:
                names = self.columns if path == first else read_column_names(
                    path, file_kind(path), sep)
                check_same_header(first, self.columns, path, names)
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
        return cache_store.cache_identity(self._paths, self.columns, self.plan, self.options)

    def _load_cache(self) -> bool:
        """Take the scan's results and the rows from a valid cache; False when there is none
        (or it is stale, partial or damaged: it will be rebuilt)."""
        found = Cache.open(self.cache_folder, self._identity())
        if found is None:
            return False
        cache, manifest = found
        self.files, S, target_sum = cache_store.file_states(manifest, self._paths)
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
        root = cache_root(cache, self._paths)
        if root is None or self._cache is not None:
            return
        self.cache_folder = root / cache_store.cache_name(self._identity())
        found = Cache.open(self.cache_folder, self._identity())
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

    def _new_writer(self) -> CacheWriter | None:
        writer = cache_store.open_writer(self.cache_folder, self._layout())
        if writer is None:
            self.cache_status = None
        return writer

    def _layout(self) -> tuple[int, int, bool]:
        """Features, targets and whether there is a weight column (the cache's layout)."""
        return len(self.plan.features), len(self.plan.targets), self.plan.weight is not None

    def _pending_writer(self) -> CacheWriter | None:
        """A writer for a full pass in file order, when a cache is pending (``use_cache``)."""
        if self.cache_status != "pending":
            return None
        return self._new_writer()

    def _commit(self, writer: CacheWriter) -> None:
        """Seal a written cache (manifest last), move it into place and read from it."""
        if writer.rows != self.n:
            writer.abort()
            return
        manifest = cache_store.cache_manifest(
            self._identity(), self.files, self._paths, n=self.n, d=self.d, k=self.k,
            weighted=self.plan.weight is not None, S=self.S, target_sum=self._target_sum)
        folder = writer.commit(manifest)
        self._cache = None if folder is None else cache_store.open_written(
            folder, self._layout(), self.n)
        self.cache_status = None if self._cache is None else "built"

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
            yield from rechunk(read_ahead(self._cache.blocks(0, self.n, CACHE_READ_ROWS)),
                                rows)
            self._count(cached=True)
            return
        writer = self._pending_writer()
        parts = cache_store.written(self._parts(), writer)
        with self._parsing_pass(writer):  # an error, or a pass abandoned (GeneratorExit)
            yield from rechunk(parts, rows, any_layout)

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
                parts = cache_store.written(self._parts(), writer)
                with self._parsing_pass(writer):
                    X, Y, s = concat_parts(list(parts))
            order = rng.permutation(self.n)
            for start in range(0, self.n, B):
                idx = np.sort(order[start:start + B])
                yield X[idx], Y[idx], None if s is None else s[idx]
            return
        units = [(i, u) for i, fs in enumerate(self.files) for u, _ in enumerate(fs.units)
                 if fs.units[u][1] > 0]
        units = [(i, None if self.files[i].kind == "csv" else u) for i, u in units]
        order = [units[j] for j in rng.permutation(len(units))]
        buf = ShuffleBuffer(cap, self.d, self.k, self.plan.weight is not None)
        yield from buf.shuffle(self._parts(order), B, rng)
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
               "dropped_rows": self.n_dropped, "passes": self.passes,
               "notes": list(self.notes)}
        if self.cache_folder is not None:
            out["cache"] = {"folder": str(self.cache_folder), "status": self.cache_status,
                            "parse_passes": self.parse_passes,
                            "cache_passes": self.cache_passes}
        return out

    def __repr__(self) -> str:
        cached = f", cache={self.cache_status}" if self.cache_status else ""
        return (f"FileBackend({len(self.files)} file(s), n={self.n}, d={self.d}, k={self.k}, "
                f"block_rows={self.block_rows}{cached})")


def _rows(X) -> np.ndarray:
    """``X`` as a row-major array (a copy only when it is not one).  The fast readers hand
    on column-major batches, or :class:`~gradfit.model.columns.Columns` (see
    :mod:`gradfit.data.readers`); the blocks a backend serves are row-major whatever their
    source (unless the consumer reads any layout), so that every reduction over them (BLAS
    products, ``sum(axis=0)``) runs the same way on parsed and cached rows: the same bits.
    The copy is of one cache-sized block, on the consumer's thread, while the reader reads
    ahead."""
    if isinstance(X, Columns):
        return np.asarray(X)
    return X if X.flags.c_contiguous else np.ascontiguousarray(X)


def concat_parts(parts: list[tuple], shape=_rows) -> tuple:
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


def rechunk(parts, rows: int, any_layout: bool = False) -> Iterator[tuple]:
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
                yield concat_parts(pending, shape)
                pending, have = [], 0
    if pending:
        yield concat_parts(pending, shape)


class _Totals:
    """Sum of the weights and weighted sums of the targets, block by block over the same
    partition as ``map_reduce`` (so they do not depend on how the rows are split into files;
    with one block they are exactly those of ``InMemory`` and ``np.average``).  A scan sink:
    see :func:`gradfit.data.readers.scan_file`."""

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


class ShuffleBuffer:
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

    def shuffle(self, parts, B: int, rng):
        """Mini-batches of ``B`` rows of the rows of ``parts`` (``(X, Y, s)`` arrays), shuffled
        within the buffer: filled, permuted and served, refilled as batches leave."""
        for X, Y, s in parts:
            start = 0
            while start < len(X):
                start += self.put(X, Y, s, start)
                if self.full:
                    yield from self.serve(B, rng, final=False)
        yield from self.serve(B, rng, final=True)

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
