"""A backend whose rows live on a Dask cluster (every dask import of gradfit is here).

The data are cut once into a few large row blocks (about two per worker thread, all columns
in one piece), and each block's ``(X_b, y_b, s_b)`` is computed on a worker and kept there
as a future, in a fixed order.  A pass is

    client.map(fn, blocks)  ->  a tree of client.submit(combine, a, b) in a fixed pairing
                            ->  gather the one small tuple at the root

so only d-sized vectors and d x d matrices cross the network, and the result is
bit-identical from run to run for a given number of blocks.  Every pass also counts the
rows it saw: a pass that did not see all n rows raises :class:`ClusterError` instead of
returning a partial sum.

Workers that die are handled by Dask: the blocks are recomputed from their task graph
(reading the files, or slicing the source array, again) and the pass's tasks are retried
(``retries``); if that is not possible the pass raises :class:`ClusterError`.

``gradfit`` must be importable on the workers (the passes are closures over gradfit's
kernels, shipped with cloudpickle).
"""

from __future__ import annotations

import glob as _glob
import os
from functools import partial
from numbers import Integral

import numpy as np

try:
    import dask
    import dask.array as da
    import dask.dataframe as dd
    from distributed import default_client, wait
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the Dask backend needs dask and distributed: "
                      "pip install 'gradfit[dask]'") from exc

from gradfit.data.memory import add
from gradfit.exceptions import ClusterError, GradfitError, InputError
from gradfit.model.backend import Capabilities

__all__ = ["DaskBackend", "ClusterError", "is_dask_collection", "BLOCKS_PER_THREAD"]

BLOCKS_PER_THREAD = 2
"""Default number of row blocks per worker thread."""

LOCAL_FOLD_BLOCKS = 8
"""Up to this many blocks, a pass gathers the per-block results and folds them on the client
(one network hop, measured 2x faster than a tree of tasks on a 2-worker cluster); above it
the same pairing tree runs as tasks on the cluster so only the root crosses."""




def is_dask_collection(obj) -> bool:
    """Whether ``obj`` is a Dask array, DataFrame or Series (by module name, no import)."""
    return type(obj).__module__.split(".")[0] == "dask"


# --------------------------------------------------------------------------- worker side
# Plain module-level functions: they run on the workers and pickle by reference.


def _as_block(X, y, s):
    """Canonical block: X C-contiguous float, y (m, k) float64, s float64 or None."""
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    X = np.ascontiguousarray(X)
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1)
    s = None if s is None else np.ascontiguousarray(np.asarray(s, dtype=np.float64).reshape(-1))
    if len(y) != len(X) or (s is not None and len(s) != len(X)):
        raise ValueError(f"a block of X has {len(X)} rows but y / sample_weight have "
                         f"{len(y)} / {'-' if s is None else len(s)}: they must line up")
    return X, y, s


def _pack_frame(part, features, targets, weight):
    X = part[features].to_numpy(dtype=np.float64)
    y = part[targets].to_numpy(dtype=np.float64)
    s = None if weight is None else part[weight].to_numpy(dtype=np.float64)
    return _as_block(X, y, s)


def _block_rows(block):
    return block[0].shape[0]


def _assemble(parts, ranges):
    """One block from row ranges ``(start, stop)`` of consecutive packed partitions."""
    Xs, ys, ss = [], [], []
    for (X, y, s), (start, stop) in zip(parts, ranges):
        Xs.append(X[start:stop])
        ys.append(y[start:stop])
        ss.append(None if s is None else s[start:stop])
    s = None if ss[0] is None else np.concatenate(ss)
    return _as_block(np.concatenate(Xs), np.concatenate(ys), s)


def _apply(block, fn):
    X, y, s = block
    return X.shape[0], fn(X, y, s)


def _merge(a, b, combine):
    return a[0] + b[0], combine(a[1], b[1])


def _fold(items, merge):
    """Reduce a list by a fixed pairing tree: (0,1), (2,3), ... then again, the last odd
    item carried up.  The cluster-side tree uses the same pairing (same bits)."""
    level = list(items)
    while len(level) > 1:
        nxt = [merge(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = nxt + level[len(nxt) * 2:]
    return level[0]


def _describe(X, y, s):
    """Counts for the construction pass: rows, S, non-finite X / y, bad weights; sum s y."""
    with np.errstate(all="ignore"):
        bad_x = 0 if np.isfinite(X.sum()) else int((~np.isfinite(X)).sum())
        bad_y = int((~np.isfinite(y)).sum())
        if s is None:
            S, sy, bad_s, pos = float(X.shape[0]), y.sum(axis=0), 0, X.shape[0]
        else:
            S, sy = float(s.sum()), s @ y
            bad_s = int((~np.isfinite(s) | (s < 0)).sum())
            pos = int((s > 0).sum())
    return np.array([S, bad_x, bad_y, bad_s, pos], dtype=float), sy


def _combine_describe(a, b):
    return a[0] + b[0], a[1] + b[1]


# --------------------------------------------------------------------------- client side


def _threads(client) -> list[str]:
    """Worker addresses, each repeated once per thread, in a fixed (sorted) order."""
    slots = []
    for addr, nthreads in sorted(client.nthreads().items()):
        slots.extend([addr] * max(int(nthreads), 1))
    if not slots:
        raise ClusterError("the Dask cluster has no workers; start some (or use "
                           "distributed.LocalCluster) before fitting")
    return slots


def _balanced_bounds(n: int, n_blocks: int) -> list[int]:
    return [round(j * n / n_blocks) for j in range(n_blocks + 1)]


def _numeric_columns(frame, columns, what):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    dtypes = frame.dtypes
    for c in columns:
        if c not in dtypes.index:
            raise InputError(f"{what} column {c!r} is not in the data (columns: "
                             f"{list(dtypes.index)})")
        if not (is_numeric_dtype(dtypes[c]) or is_bool_dtype(dtypes[c])):
            raise InputError(f"{what} column {c!r} is not numeric (dtype {dtypes[c]}); "
                             "encode or drop it before fitting")


class DaskBackend:
    """Rows ``(X, y, s)`` held on a Dask cluster as a fixed list of row blocks.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d), dask DataFrame, or ndarray
        The features.  A DataFrame gives its columns (all but the target and weight
        columns unless ``features`` names them).  A numpy array is sent to the cluster
        (convenient for small data; use a Dask collection or :meth:`from_files` for big).
    y : dask array (n,) or (n, k), dask Series, ndarray, or str / list of str
        The target; column name(s) of ``X`` when ``X`` is a DataFrame.
    sample_weight : like ``y`` (a column name for DataFrames), or None
        Non-negative weights; None means unit weights.
    client : distributed.Client or None
        The cluster to use (default: the current default client).
    features : list of str or None
        DataFrame columns to use as features.
    n_blocks : int or None
        Number of row blocks (default ``BLOCKS_PER_THREAD`` per worker thread).  Results
        are bit-identical for a fixed ``n_blocks``.
    retries : int, default 2
        Retries of each task of a pass (on top of Dask's own rescheduling of tasks whose
        worker died).
    timeout : float or None
        Seconds to wait for one pass before raising :class:`ClusterError` (None: no limit).

    Attributes
    ----------
    n, d, k : int
    S : float
        Sum of the weights (n for unit weights).
    dtype : numpy dtype of X's blocks
    y_mean : ndarray (k,)
        Weighted mean of the targets.
    y_1d : bool
        Whether the target was given as one column (a 1-d array, a Series or one name).
    feature_names : list of str or None
    block_rows : list of int
        Rows of each block, in the fixed order.
    passes : int
        Number of passes (``map_reduce`` calls) made so far.
    """

    capabilities = Capabilities(target_mean=False)

    def __init__(self, X, y=None, sample_weight=None, client=None, *, features=None,
                 n_blocks=None, retries=2, timeout=None):
        self.client = client if client is not None else _default_client()
        self.retries = int(retries)
        self.timeout = timeout
        self.passes = 0
        slots = _threads(self.client)
        if n_blocks is None:
            n_blocks = BLOCKS_PER_THREAD * len(slots)
        if not isinstance(n_blocks, Integral) or n_blocks < 1:
            raise InputError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        self.feature_names = None
        if isinstance(X, dd.DataFrame):
            blocks = self._blocks_from_frame(X, y, sample_weight, features, n_blocks, slots)
        else:
            if features is not None:
                raise InputError("features= selects DataFrame columns; X is not a DataFrame")
            blocks = self._blocks_from_arrays(X, y, sample_weight, n_blocks, slots)
        self._blocks = blocks
        self.block_rows = [int(r) for r in self._row_counts(blocks)]
        self.n = int(sum(self.block_rows))
        if self.n == 0:
            raise InputError("the Dask data has 0 rows: there is nothing to fit")
        counts, sy = self._reduce(_describe, _combine_describe, self.n)
        S, bad_x, bad_y, bad_s, pos = counts
        if bad_x:
            raise InputError(f"X contains NaN or inf: {int(bad_x)} value(s) in the Dask data; "
                             "drop or impute them (e.g. df.dropna()) before fitting")
        if bad_y:
            raise InputError(f"y contains NaN or inf: {int(bad_y)} value(s) in the Dask data; "
                             "drop those rows before fitting")
        if bad_s:
            raise InputError(f"sample_weight must be finite and >= 0; {int(bad_s)} row(s) are "
                             "not")
        if pos == 0:
            raise InputError("sample_weight is zero for every row: at least one row needs a "
                             "positive weight")
        self.S = float(S)
        self.y_mean = np.asarray(sy, dtype=float) / self.S

    # ------------------------------------------------------------------ construction
    def _blocks_from_arrays(self, X, y, sw, n_blocks, slots):
        if y is None:
            raise InputError("y is required (a dask array, Series or ndarray)")
        X = X if isinstance(X, da.Array) else da.asarray(np.asarray(X))
        if X.ndim != 2:
            raise InputError(f"X must be 2-dimensional (n_samples, n_features); got {X.ndim} "
                             "dimensions")
        if X.dtype.kind not in "fiub":
            raise InputError(f"X must be numeric (dtype {X.dtype} given)")
        y = self._as_array(y, "y")
        sw = None if sw is None else self._as_array(sw, "sample_weight")
        if sw is not None and sw.ndim != 1:
            raise InputError(f"sample_weight must be 1-dimensional, got {sw.ndim} dimensions")
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
            raise InputError(f"y must have shape (n,) or (n, k); got {y.shape}")
        self.d = int(X.shape[1])
        self.k = 1 if y.ndim == 1 else int(y.shape[1])
        self.y_1d = y.ndim == 1
        if self.d == 0:
            raise InputError("X has 0 feature columns")
        self.dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        n = X.shape[0]
        known = not np.isnan(n) and all(not np.isnan(a.shape[0]) for a in (y, sw)
                                        if a is not None)
        if known:
            for a, name in ((y, "y"), (sw, "sample_weight")):
                if a is not None and a.shape[0] != n:
                    raise InputError(f"{name} must have {n} rows to match X (shape {a.shape} "
                                     "given)")
            bounds = _balanced_bounds(int(n), min(n_blocks, max(int(n), 1)))
            rows = tuple(np.diff(bounds).tolist())
            X = X.rechunk((rows, -1))
            y = y.rechunk((rows,) if y.ndim == 1 else (rows, -1))
            sw = None if sw is None else sw.rechunk((rows,))
            parts = self._pack(X, y, sw)
            return self._compute(parts, slots)
        # unknown chunk sizes: pack the pieces as they come, then cut balanced blocks
        X = X.rechunk({1: -1})
        if len(y.chunks[0]) != len(X.chunks[0]) or (sw is not None and
                                                     len(sw.chunks[0]) != len(X.chunks[0])):
            raise InputError("X, y and sample_weight have unknown and different row chunks; "
                             "call .compute_chunk_sizes() on them first")
        y = y.rechunk({1: -1}) if y.ndim == 2 else y
        return self._rebalance(self._compute(self._pack(X, y, sw), slots), n_blocks, slots)

    @staticmethod
    def _as_array(a, name):
        if isinstance(a, (dd.Series, dd.DataFrame)):
            return a.to_dask_array(lengths=True)
        if isinstance(a, da.Array):
            return a
        if isinstance(a, str):
            raise InputError(f"{name} is a column name but X is not a dask DataFrame")
        return da.asarray(np.asarray(a, dtype=float))

    @staticmethod
    def _pack(X, y, sw):
        xs = X.to_delayed().reshape(-1)
        ys = y.to_delayed().reshape(-1)
        ss = [None] * len(xs) if sw is None else sw.to_delayed().reshape(-1)
        return [dask.delayed(_as_block, pure=True)(a, b, c) for a, b, c in zip(xs, ys, ss)]

    def _blocks_from_frame(self, df, y, sw, features, n_blocks, slots):
        extra = {}
        if y is None:
            raise InputError("y is required: a target column name, or a dask Series")
        self.y_1d = isinstance(y, (str, dd.Series)) or (isinstance(y, da.Array) and y.ndim == 1)
        if isinstance(y, (dd.Series, da.Array)) or (sw is not None and
                                                    isinstance(sw, (dd.Series, da.Array))):
            df = df.copy()
            if isinstance(y, (dd.Series, da.Array)):
                extra["y"], y = y, "__gradfit_y__"
            if isinstance(sw, (dd.Series, da.Array)):
                extra["w"], sw = sw, "__gradfit_w__"
            df = df.assign(**{("__gradfit_y__" if key == "y" else "__gradfit_w__"): v
                              for key, v in extra.items()})
        targets = [y] if isinstance(y, str) else list(y)
        weight = sw
        if weight is not None and not isinstance(weight, str):
            raise InputError("with a DataFrame X, sample_weight must be a column name or a dask "
                             "Series")
        if features is None:
            features = [c for c in df.columns if c not in targets and c != weight]
        features = list(features)
        if not features:
            raise InputError("X has 0 feature columns")
        _numeric_columns(df, features, "feature")
        _numeric_columns(df, targets, "target")
        if weight is not None:
            _numeric_columns(df, [weight], "sample_weight")
        self.feature_names = [str(c) for c in features]
        self.d, self.k = len(features), len(targets)
        self.dtype = np.dtype(np.float64)
        parts = [dask.delayed(_pack_frame, pure=True)(p, features, targets, weight)
                 for p in df.to_delayed()]
        return self._rebalance(self._compute(parts, slots), n_blocks, slots)

    def _compute(self, delayed_blocks, slots):
        """Futures of the packed blocks, placed round-robin over the worker threads."""
        futures = []
        for j, part in enumerate(delayed_blocks):
            futures.append(self.client.compute(part, workers=[slots[j % len(slots)]],
                                               allow_other_workers=True,
                                               retries=self.retries))
        return futures

    def _row_counts(self, futures) -> list:
        """Rows of each block or partition (computing it on the workers); a failure to read
        the data is an error that says so."""
        try:
            return self.client.gather(self.client.map(_block_rows, futures, pure=False))
        except GradfitError:
            raise
        except Exception as exc:  # noqa: BLE001 - reading the data failed: say so
            raise _reading_error(exc) from exc

    def _rebalance(self, parts, n_blocks, slots):
        """Cut packed partitions of any sizes into ``n_blocks`` balanced blocks (on the
        workers; the partitions stay recomputable from their graph)."""
        lengths = self._row_counts(parts)
        n = int(sum(lengths))
        if n == 0:
            raise InputError("the Dask data has 0 rows: there is nothing to fit")
        n_blocks = min(n_blocks, n)
        bounds = _balanced_bounds(n, n_blocks)
        if len(parts) == n_blocks and list(np.cumsum([0] + list(lengths))) == bounds:
            return parts
        starts = np.cumsum([0] + list(lengths))
        blocks = []
        for j in range(n_blocks):
            lo, hi = bounds[j], bounds[j + 1]
            use, ranges = [], []
            for i, part in enumerate(parts):
                a, b = max(lo, starts[i]), min(hi, starts[i + 1])
                if a < b:
                    use.append(part)
                    ranges.append((int(a - starts[i]), int(b - starts[i])))
            blocks.append(self.client.submit(_assemble, use, ranges, pure=False,
                                             workers=[slots[j % len(slots)]],
                                             allow_other_workers=True, retries=self.retries))
        wait(blocks)
        del parts  # the blocks keep their lineage in the scheduler
        return blocks

    # ------------------------------------------------------------------ files
    @classmethod
    def from_files(cls, glob, target, features=None, sample_weight=None, client=None, *,
                   n_blocks=None, retries=2, timeout=None, **read_kwargs):
        """Read CSV or Parquet files on the workers.

        Parameters
        ----------
        glob : str or list of str
            Files (a glob pattern, a directory of Parquet files, or a list).  ``.parquet`` /
            ``.pq`` and directories are read with ``dask.dataframe.read_parquet``, anything
            else with ``dask.dataframe.read_csv`` (``.tsv``: tab separated).  The workers must
            see the same paths (a shared file system or object store URLs).
        target : str or list of str
            Target column(s).
        features : list of str or None
            Feature columns (default: every other column).
        sample_weight : str or None
            Weight column.
        client, n_blocks, retries, timeout
            As for :class:`DaskBackend`.
        **read_kwargs
            Passed to the reader (e.g. ``sep=";"``, ``blocksize="64MB"``).
        """
        paths = [glob] if isinstance(glob, (str, os.PathLike)) else list(glob)
        paths = [os.fspath(p) for p in paths]
        first = paths[0]
        local = "://" not in first
        if local and not any(_glob.glob(p) for p in paths):
            raise InputError(f"no file matches {glob!r}")
        parquet = first.endswith((".parquet", ".pq")) or (local and os.path.isdir(first))
        try:
            if parquet:
                if features is not None:
                    cols = list(features) + ([target] if isinstance(target, str) else
                                             list(target))
                    cols += [] if sample_weight is None else [sample_weight]
                    read_kwargs.setdefault("columns", cols)
                df = dd.read_parquet(paths if len(paths) > 1 else first, **read_kwargs)
            else:
                if first.endswith((".tsv", ".tsv.gz")):
                    read_kwargs.setdefault("sep", "\t")
                if first.endswith(".gz"):
                    read_kwargs.setdefault("blocksize", None)
                df = dd.read_csv(paths if len(paths) > 1 else first, **read_kwargs)
        except (OSError, ValueError) as exc:
            raise InputError(f"could not read {glob!r}: {exc}") from exc
        return cls(df, target, sample_weight, client, features=features, n_blocks=n_blocks,
                   retries=retries, timeout=timeout)

    # ------------------------------------------------------------------ passes
    def map_reduce(self, fn, combine=add, any_layout=False):
        """``fn`` on every block, combined by a fixed tree of ``combine``; the root only is
        gathered.  Raises :class:`ClusterError` if the pass fails or misses rows.
        (``any_layout`` is accepted for the backend interface; blocks are as stored.)"""
        return self._reduce(fn, combine, self.n)

    def _reduce(self, fn, combine, expect_rows):
        self.passes += 1
        client = self.client
        merge = partial(_merge, combine=combine)
        try:
            level = self._on_holders(_apply, fn=fn)
            if len(level) <= LOCAL_FOLD_BLOCKS:  # gather the leaves, fold them here
                wait(level, timeout=self.timeout)
                rows, out = _fold(client.gather(level), merge)
            else:  # the same fixed pairing, as tasks on the cluster
                while len(level) > 1:
                    nxt = [client.submit(merge, level[i], level[i + 1], pure=False,
                                         retries=self.retries)
                           for i in range(0, len(level) - 1, 2)]
                    level = nxt + level[len(nxt) * 2:]
                rows, out = level[0].result(timeout=self.timeout)
        except GradfitError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the pass is loud
            raise ClusterError(
                f"a pass over the Dask data failed ({type(exc).__name__}: {exc}); Dask "
                f"recomputes lost blocks and retried each task {self.retries} time(s) - the "
                "fit stops here rather than use a partial result") from exc
        if rows != expect_rows:
            raise ClusterError(f"a pass over the Dask data counted {rows} rows, expected "
                               f"{expect_rows}: refusing a partial result")
        return out

    def _on_holders(self, func, **kwargs) -> list:
        """``func(block, **kwargs)`` for every block, each task asked to run on a worker
        that holds its block (loosely: another worker may take it if that one is gone).

        Left to itself the scheduler sometimes ran a task on the other worker, moving the
        block there (a 100 MB block: 0.6-0.9 s once, then each pass 3x slower) and the
        arithmetic on the moved copy gave other last bits."""
        holders = self.client.who_has(self._blocks)
        groups: dict = {}  # one client.map per set of holders (a batched submit)
        for j, block in enumerate(self._blocks):
            groups.setdefault(tuple(sorted(holders.get(block.key, ()))), []).append(j)
        out = [None] * len(self._blocks)
        for where, js in groups.items():
            futures = self.client.map(func, [self._blocks[j] for j in js], **kwargs,
                                      pure=False, retries=self.retries,
                                      workers=list(where) or None, allow_other_workers=True)
            for j, future in zip(js, futures):
                out[j] = future
        return out

    def map_blocks(self, fn, *per_block, **kwargs):
        """``fn(block, *per_block[i], **kwargs)`` on block i; the list of results in block
        order, gathered (for per-block work such as local SGD: keep the results small).
        ``per_block`` are sequences with one item per block (e.g. seeds)."""
        self.passes += 1
        try:
            futs = self.client.map(fn, self._blocks, *per_block, pure=False,
                                   retries=self.retries, **kwargs)
            wait(futs, timeout=self.timeout)
            return self.client.gather(futs)
        except GradfitError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ClusterError(f"a task on the Dask blocks failed ({type(exc).__name__}: "
                               f"{exc}); the fit stops here") from exc

    def minibatches(self, batch_size, rng):
        """Not offered: one network round trip per mini-batch is far too slow.  Use
        ``gradfit.fitting.dask.fit_dask`` (local SGD with parameter averaging)."""
        raise NotImplementedError("mini-batches are not streamed from Dask (one round trip per "
                                  "batch); gradfit.fitting.dask.fit_dask runs local SGD on the "
                                  "workers instead")

    def close(self):
        """Release the blocks held on the cluster."""
        for f in self._blocks:
            f.release()
        self._blocks = []

    def __repr__(self):
        return (f"DaskBackend(n={self.n}, d={self.d}, k={self.k}, blocks={len(self._blocks)}, "
                f"client={self.client!r})")


def _default_client():
    try:
        return default_client()
    except ValueError:
        raise InputError("no Dask client: pass client=distributed.Client(...) or start one "
                         "first (e.g. Client(LocalCluster()))") from None


def _reading_error(exc):
    if isinstance(exc, (ValueError, TypeError, OSError, KeyError)):
        return InputError(f"could not read the Dask data ({type(exc).__name__}: {exc})")
    return ClusterError(f"building the Dask blocks failed ({type(exc).__name__}: {exc})")
