"""``gradfit fit`` on data larger than memory: how to read the data, streamed fits
(:func:`gradfit.fitting.files.fit_backend` over a
:class:`~gradfit.data.files.FileBackend`), fits on a Dask cluster
(:func:`gradfit.fitting.dask.fit_dask`), and what the summary table, the model file, the
statistical summary and the report need from them.

The files are read once to check them (headers, types, every value), then as many times as
the solver needs, then once more for R² (and, with ``--save``, the data hash; with
``--summary``, the inference statistics).  ``--report``/``--plots`` draw from the first
:data:`SAMPLE_ROWS` rows (the report says so).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from gradfit.cli import output
from gradfit.cli.errors import UserError, options_checked_by_core
from gradfit.cli.options import UsageError

__all__ = ["SAMPLE_ROWS", "Plan", "StreamTable", "Fitted", "choose", "ram_bytes",
           "memory_estimate", "fit_files_streamed", "fit_on_dask", "checkpoint_epoch"]

SAMPLE_ROWS = 5000
"""Rows drawn for ``--report`` / ``--plots`` from streamed data (the first ones)."""

MEMORY_SHARE = 4
"""A single file is streamed when its parsed size is above 1/MEMORY_SHARE of the RAM."""

COMPRESSED_RATIO = 4
"""Guess of parsed size / file size for compressed CSV (.gz, .bz2, .xz ...)."""

_GLOB = re.compile(r"[*?\[]")
_EXACT_KEYS = ("fit_intercept", "loss", "epsilon", "penalty", "alpha", "l1_ratio")
_IMPLIES_STREAM = (("checkpoint", "--checkpoint"), ("resume", "--resume"),
                   ("skip_bad_rows", "--skip-bad-rows"), ("weight", "--weight"),
                   ("batch_rows", "--batch-rows"), ("cache", "--cache"))


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    """How ``fit`` reads its data.

    Attributes
    ----------
    mode : {"memory", "stream", "dask"}
    paths : list of Path or str, or None
        The files (None for standard input, or for a single file the in-memory reader
        opens itself).
    note : str or None
        Why a single file is streamed although not asked to (shown on stderr).
    """

    mode: str
    paths: list | None = None
    note: str | None = None


def ram_bytes() -> int | None:
    """Physical memory of this machine in bytes (None when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError, TypeError):
        return None


def memory_estimate(path: Path) -> int:
    """Rough bytes a file takes once parsed into float64 columns.

    CSV: its size (parsed float64 is about the size of the text), times
    :data:`COMPRESSED_RATIO` when compressed; Parquet: the uncompressed size of its row
    groups, from the file's metadata.
    """
    from gradfit.data.readers.paths import file_kind, is_compressed

    path = Path(path)
    size = path.stat().st_size
    if file_kind(path) == "parquet":
        try:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            return int(sum(meta.row_group(i).total_byte_size
                           for i in range(meta.num_row_groups)))
        except Exception:  # noqa: BLE001 - a bad file: the reader will say what is wrong
            return size * COMPRESSED_RATIO
    if is_compressed(path):
        return size * COMPRESSED_RATIO
    return size


def choose(args) -> Plan:
    """Decide between the in-memory fit, the streamed fit and Dask (see docs/cli.md).

    Raises
    ------
    UsageError
        For flags that do not go together (``--resume`` without ``--checkpoint``,
        ``--in-memory`` with a folder, ...).
    InputError
        When a folder or a glob names no data files.
    """
    from gradfit.data.readers import expand_paths

    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH: the checkpoint to continue from")
    if args.dask_workers is not None and args.dask != "local":
        raise UsageError("--dask-workers sizes the cluster of --dask local")
    implied = [flag for attr, flag in _IMPLIES_STREAM if getattr(args, attr, None)]
    if args.dask:
        return _dask_plan(args, implied, expand_paths)
    if args.data == "-":
        if args.stream or implied:
            flag = "--stream" if args.stream else implied[0]
            raise UsageError(f"{flag} reads files block by block, but standard input ('-') is "
                             "read into memory: save the data to a file first")
        return Plan("memory")
    path = Path(args.data)
    if not path.exists() and not _GLOB.search(args.data):
        if args.stream or implied:
            expand_paths(args.data)  # says "no such file"
        return Plan("memory")  # the in-memory reader says what is wrong
    if not path.is_file():  # a folder or a glob
        paths = expand_paths(args.data)
        if args.in_memory:
            what = "a folder" if path.is_dir() else "a glob"
            raise UsageError(f"--in-memory reads one file, but {args.data} is {what} "
                             f"({len(paths)} file(s)): folders and globs are streamed, leave "
                             "out --in-memory")
        return Plan("stream", paths)
    if args.in_memory:
        if implied:
            raise UsageError(f"{implied[0]} needs the streamed fit: leave out --in-memory")
        return Plan("memory", [path])
    if args.stream or implied:
        return Plan("stream", [path])
    need, ram = memory_estimate(path), ram_bytes()
    if ram and need > ram / MEMORY_SHARE:
        return Plan("stream", [path], note=(
            f"{path} would take about {output.human_bytes(need)} in memory, more than a "
            f"quarter of this machine's {output.human_bytes(ram)}: streaming it from disk "
            "(--in-memory reads it whole)"))
    return Plan("memory", [path])


def _dask_plan(args, implied, expand_paths) -> Plan:
    """The plan of ``--dask``, once the flags that do not go with it are refused."""
    if args.stream or args.in_memory:
        raise UsageError("--dask reads the files on the cluster: leave out "
                         f"{'--stream' if args.stream else '--in-memory'}")
    refused = [f for f in implied if f != "--weight"]
    refused += [flag for attr, flag in (("drop_missing", "--drop-missing"), ("sep", "--sep"),
                                        ("drop", "--drop")) if getattr(args, attr, None)]
    if refused:
        raise UsageError(f"{refused[0]} is not available with --dask (the cluster reads "
                         "the files with dask.dataframe); leave it out, or fit without "
                         "--dask")
    if args.data == "-":
        raise UsageError("--dask reads files, not standard input: save the data to a file")
    paths = [args.data] if "://" in args.data else expand_paths(args.data)
    return Plan("dask", paths)


# --------------------------------------------------------------------------- results


@dataclass
class StreamTable:
    """The :class:`gradfit.io.Table` facts the summary and the JSON record need, for data
    that is not in memory; ``X``, ``y``, ``sample_weight`` hold the rows drawn for the
    report (None when none were drawn)."""

    feature_names: list
    target_name: str
    n_rows: int
    n_dropped: int
    source: str
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    design: object = None


@dataclass
class Fitted:
    """A streamed or Dask fit, with everything ``gradfit fit`` shows or writes."""

    table: StreamTable
    est: object
    result: object
    seconds: float
    r2: float
    train_hash: str | None
    summary: object | None
    exact: object | None
    stream: dict
    rows: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _shell(params: dict, res, feature_names):
    """A fitted :class:`gradfit.GDRegressor` carrying ``res`` (for the table, the JSON
    record and ``save_model``)."""
    from gradfit import GDRegressor

    return GDRegressor.from_result(res, feature_names=feature_names, **params)


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _collect(caught) -> list[str]:
    out = []
    for w in caught:
        m = _one_line(w.message)
        if m not in out:
            out.append(m)
    return out


def _summary_kwargs(est) -> dict:
    """The fit's loss and penalty, as the results need them."""
    fn = getattr(est, "_summary_kwargs", None)
    return fn() if callable(fn) else {}


def _head_block(block, rows):
    X, Y, s = block
    return X[:rows].copy(), Y[:rows].copy(), None if s is None else s[:rows].copy()


def _summary_from(stats, est, table):
    from gradfit.stats.results import summary_from_stats

    return summary_from_stats(stats, feature_names=list(table.feature_names),
                              target_name=table.target_name,
                              **_summary_kwargs(est))


def _exact_kwargs(params: dict) -> dict:
    return {k: params[k] for k in _EXACT_KEYS if k in params}


def checkpoint_epoch(path) -> int | None:
    """The epoch of the checkpoint at ``path`` (None when there is none yet)."""
    try:
        return int(json.loads(Path(path).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sample_note(m: int, n: int) -> str:
    return f"the first {m:,} of {n:,} rows" if m < n else f"all {n:,} rows"


# --------------------------------------------------------------------------- files


def _evaluate(data, est, table, *, want_hash: bool, want_summary: bool):
    """One pass (:func:`gradfit.fitting.evaluation.evaluate`): R², and optionally the
    data hash and the summary.  Returns (r2, hash or None, summary or None, notes)."""
    from gradfit.fitting.evaluation import evaluate

    fit_intercept = bool(est.get_params().get("fit_intercept", True))
    notes, summary = [], None
    try:
        ev = evaluate(data, est.coef_, est.intercept_, fit_intercept=fit_intercept,
                      statistics=want_summary, digest=want_hash)
    except (NotImplementedError, ValueError) as exc:
        if not want_summary:
            raise
        notes.append(f"no statistical summary: {_one_line(exc)}")
        ev = evaluate(data, est.coef_, est.intercept_, digest=want_hash)
    notes += list(ev.notes)
    if ev.stats is not None:
        summary = _summary_from(ev.stats, est, table)
    return ev.r2, ev.digest, summary, notes


def _sample_files(data, rows: int):
    gen = data.blocks(rows)
    try:
        X, Y, s = next(gen)
    finally:
        gen.close()
    return np.array(X), np.array(Y[:, 0]), None if s is None else np.array(s)


def fit_files_streamed(args, params: dict, plan: Plan, *, show: bool) -> Fitted:
    """The streamed fit of ``gradfit fit`` (``fit_files``, with the backend at hand for the
    progress bar, R², the data hash and the report's sample)."""
    from gradfit.cli.fitting import design_params
    from gradfit.fitting.files import fit_backend

    total = sum(os.stat(p).st_size for p in plan.paths)
    where = (f"{len(plan.paths)} files" if len(plan.paths) > 1 else str(plan.paths[0]))
    with options_checked_by_core(), output.status(
            f"checking {where} ({output.human_bytes(total)})", show):
        data = _files_backend(args, params, plan)
    design = getattr(data, "design", None)
    params = design_params(params, design)
    table = StreamTable(list(data.feature_names), data.target_names[0], int(data.n),
                        int(data.n_dropped), args.data, design=design)
    passes0 = data.passes

    def read():
        done = data.passes - passes0
        return done * data.n, done * total

    notes = []
    if args.resume and not Path(args.checkpoint).exists():
        notes.append(f"no checkpoint at {args.checkpoint} yet: starting from the beginning")
    progress = output.StreamProgress(read) if show else None
    spinner = params.get("solver") in ("exact",) and show
    with warnings.catch_warnings(record=True) as caught, options_checked_by_core():
        warnings.simplefilter("always")
        with output.status(f"one pass over {where}", spinner), \
                (progress or output.status("", False)):
            t0 = time.perf_counter()
            res = fit_backend(data, single_output=True, callback=progress,
                              checkpoint=args.checkpoint, resume=args.resume,
                              checkpoint_every=args.checkpoint_every, **params)
            seconds = time.perf_counter() - t0
    est = _shell(params, res, data.feature_names)
    if design is not None:
        est.design_ = design
    with output.status(f"R² and checks: one more pass over {where}", show):
        r2, digest, summary, more = _evaluate(data, est, table, want_hash=bool(args.save),
                                              want_summary=bool(args.summary))
    notes += more
    exact = None
    if args.report or args.plots:
        table.X, table.y, table.sample_weight = _sample_files(data, SAMPLE_ROWS)
        if params.get("solver") != "exact":
            exact = _exact_reference(lambda **kw: fit_backend(data, single_output=True, **kw),
                                     params)
    info = res.info
    stream = {"mode": "files", "n_files": len(data.files), "bytes": total,
              "weight": data.weight_name, "skipped_rows": int(data.n_skipped),
              "skipped_examples": list(data.skipped_examples),
              "dropped_rows": int(data.n_dropped), "passes": int(data.passes),
              "data_fingerprint": info.get("data_fingerprint"),
              "checkpoint": info.get("checkpoint"),
              "resumed_from_epoch": info.get("resumed_from_epoch"),
              "cache": getattr(data, "cache_status", None),
              "sample_rows": None if table.X is None else int(len(table.X)),
              "dask": None}
    rows = [("read", f"{len(data.files)} file(s), {output.human_bytes(total)}, streamed "
                     f"({data.passes} passes)")]
    if data.n_skipped:
        rows.append(("skipped", f"{data.n_skipped} malformed row(s)"))
    if args.checkpoint:
        resumed = info.get("resumed_from_epoch")
        rows.append(("checkpoint", str(args.checkpoint) + (
            f" (resumed from epoch {resumed})" if resumed is not None else "")))
    if table.X is not None:
        rows.append(("charts from", _sample_note(len(table.X), table.n_rows)))
    return Fitted(table, est, res, seconds, r2, digest, summary, exact, stream, rows,
                  _collect(caught) + notes, notes=list(data.notes))


def _files_backend(args, params: dict, plan: Plan):
    """The backend of a streamed fit: the files' columns (FileBackend), or their design
    (DesignBackend: --formula, --categorical)."""
    from gradfit.fitting.files import cache_for_fit

    paths = [str(p) for p in plan.paths]
    common = {"weight": args.weight, "batch_rows": args.batch_rows or 65536,
              "drop_missing": args.drop_missing, "sep": args.sep}
    if not (args.formula or args.categorical):
        from gradfit.data.files import FileBackend

        return FileBackend(paths, args.target, args.features, drop=args.drop,
                           skip_bad_rows=args.skip_bad_rows,
                           cache=cache_for_fit(args.cache, **params), **common)
    from gradfit.data.design_files import DesignBackend

    flag = "--formula" if args.formula else "--categorical"
    for attr, other in (("skip_bad_rows", "--skip-bad-rows"), ("cache", "--cache")):
        if getattr(args, attr, None) not in (None, False):
            raise UsageError(f"{other} is not available with {flag} (the design is built "
                             "batch by batch from the parsed columns); leave it out")
    return DesignBackend(paths, args.target, args.features, formula=args.formula,
                         categorical=args.categorical, drop=args.drop, **common)


def _exact_reference(fit, params: dict):
    """The exact optimum of the same problem by one more pass, or None without a closed
    form (huber loss, an L1 penalty)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit(solver="exact", **_exact_kwargs(params))
    except (ValueError, NotImplementedError, ArithmeticError):
        return None


# --------------------------------------------------------------------------- dask


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _files_hash(paths) -> str:
    """SHA-256 of the files' names, sizes and first and last 64 KiB (data a cluster reads
    are not hashed row by row: that would ship them all to this machine)."""
    h = hashlib.sha256(b"gradfit-files-v1")
    for p in paths:
        text = os.fspath(p)
        if "://" in text:
            h.update(json.dumps([text]).encode())
            continue
        size = os.stat(text).st_size
        h.update(json.dumps([Path(text).name, size]).encode())
        with open(text, "rb") as fh:
            h.update(fh.read(1 << 16))
            if size > 1 << 16:
                fh.seek(max(size - (1 << 16), 1 << 16))
                h.update(fh.read())
    return h.hexdigest()


def _connect(address: str, workers: int | None):
    from gradfit.data.dask import ClusterError
    from gradfit.fitting.dask import connect

    kwargs = {}
    if address == "local":
        kwargs = {"n_workers": workers or _cpu_count(), "threads_per_worker": 1,
                  "processes": True, "silence_logs": logging.ERROR}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return connect(address, **kwargs)
    except ClusterError as exc:
        raise UserError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any failure to start or reach the cluster
        what = "start a local Dask cluster" if address == "local" else \
            f"connect to the Dask scheduler at {address!r}"
        raise UserError(f"could not {what}: {type(exc).__name__}: {exc}") from exc


def _close(client, address: str) -> None:
    cluster = getattr(client, "cluster", None) if address == "local" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()


def fit_on_dask(args, params: dict, plan: Plan, *, show: bool) -> Fitted:
    """``gradfit fit --dask ADDRESS``: the files read on the cluster
    (``DaskBackend.from_files``), fitted by ``fit_dask``; the client (and a local cluster)
    is closed afterwards."""
    try:
        from gradfit.data.dask import ClusterError, DaskBackend
        from gradfit.fitting.dask import fit_dask
    except ImportError:
        raise UserError("--dask needs Dask and distributed: pip install 'gradfit[dask]'") \
            from None
    paths = [os.fspath(Path(p).resolve()) if "://" not in os.fspath(p) else os.fspath(p)
             for p in plan.paths]
    local = [p for p in paths if "://" not in p]
    total = sum(os.stat(p).st_size for p in local) if len(local) == len(paths) else None
    kinds = _kinds(local)
    if len(kinds) > 1:
        raise UserError(f"{args.data} mixes CSV and Parquet files; --dask reads one kind at a "
                        "time")
    label = ("a local Dask cluster" if args.dask == "local" else f"the Dask scheduler at "
             f"{args.dask}")
    with output.status(f"connecting to {label}", show):
        client = _connect(args.dask, args.dask_workers)
    try:
        return _dask_fit(args, params, paths, total, client, DaskBackend, fit_dask, show)
    except ClusterError as exc:
        raise UserError(_one_line(exc)) from exc
    finally:
        _close(client, args.dask)


def _kinds(paths) -> set:
    from gradfit.data.readers import file_kind

    return {file_kind(Path(p)) for p in paths}


def _dask_fit(args, params, paths, total, client, DaskBackend, fit_dask, show) -> Fitted:
    with options_checked_by_core(), output.status(f"reading {args.data} on the cluster", show):
        data = DaskBackend.from_files(paths if len(paths) > 1 else paths[0], args.target,
                                      features=args.features, sample_weight=args.weight,
                                      client=client)
    try:
        names = list(data.feature_names or [f"x{j}" for j in range(data.d)])
        table = StreamTable(names, args.target, int(data.n), 0, args.data)
        passes0 = data.passes

        def read():
            return (data.passes - passes0) * data.n, None

        progress = output.StreamProgress(read) if show else None
        with warnings.catch_warnings(record=True) as caught, options_checked_by_core():
            warnings.simplefilter("always")
            with (progress or output.status("", False)):
                t0 = time.perf_counter()
                res = fit_dask(data, callback=progress, **params)
                seconds = time.perf_counter() - t0
        fit_warnings = [w for w in caught if issubclass(w.category, _convergence_warning())]
        est = _shell(params, res, names)
        r2, _, summary, notes = _evaluate(data, est, table, want_hash=False,
                                          want_summary=bool(args.summary))
        exact = None
        if args.report or args.plots:
            heads = data.map_blocks(partial(_head_block, rows=SAMPLE_ROWS))
            X = np.concatenate([h[0] for h in heads])[:SAMPLE_ROWS]
            y = np.concatenate([h[1][:, 0] for h in heads])[:SAMPLE_ROWS]
            s = None if heads[0][2] is None else np.concatenate([h[2] for h in heads])[
                :SAMPLE_ROWS]
            table.X, table.y, table.sample_weight = X, y, s
            if params.get("solver") != "exact":
                exact = _exact_reference(lambda **kw: fit_dask(data, **kw), params)
        stream = {"mode": "dask", "n_files": len(paths), "bytes": total,
                  "weight": args.weight, "skipped_rows": 0, "skipped_examples": [],
                  "dropped_rows": 0, "passes": int(data.passes), "data_fingerprint": None,
                  "checkpoint": None, "resumed_from_epoch": None,
                  "sample_rows": None if table.X is None else int(len(table.X)),
                  "dask": args.dask, "n_blocks": res.info.get("n_blocks")}
        workers = len(client.nthreads())
        rows = [("read", f"on Dask ({args.dask}, {workers} worker(s), "
                         f"{res.info.get('n_blocks')} blocks; {data.passes} passes)")]
        if table.X is not None:
            rows.append(("charts from", _sample_note(len(table.X), table.n_rows)))
        digest = _files_hash(paths) if args.save else None
        return Fitted(table, est, res, seconds, r2, digest, summary, exact, stream, rows,
                      _collect(fit_warnings) + notes)
    finally:
        data.close()


def _convergence_warning():
    from gradfit.exceptions import ConvergenceWarning

    return ConvergenceWarning
