"""Fit CSV and Parquet files larger than memory: :func:`fit_files` and :func:`fit_backend`.

``fit_files(paths, target, ...)`` reads the files through a
:class:`~gradfit.data.files.FileBackend` and fits with the same parameters, the same
objective, the same solvers and the same result type as :func:`gradfit.fit`:

- "gd", "momentum", "nesterov", "adam" on full batches: one pass over the files per
  gradient; ``learning_rate="auto"`` by power iteration (a few passes);
- the same on mini-batches (``batch_size``): shuffled through a bounded buffer;
- "lbfgs" and "cg": one pass per function / product evaluation;
- "exact": the closed form of ``gradfit.solvers.exact.solve_backend``: one pass of
  mergeable sufficient statistics, a second (TSQR) only where the Gram matrix is too
  ill-conditioned, and refinement passes, as in memory.

``fit_backend(data, ...)`` does the same for any backend (the maths sees the data only
through ``map_reduce`` and ``minibatches``).  ``cache=folder`` (or ``"auto"``) keeps the
parsed float64 rows in a cache written by the first pass, so that every later pass (and a
later run on the same files) reads them instead of parsing the files again; see
:func:`cache_for_fit`.  Checkpoints (``checkpoint=path``) save the
loop's state after every epoch; ``resume=True`` continues from one and ends at exactly the
coefficients of the run that was never interrupted.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from gradfit.data.files import FileBackend
from gradfit.fitting import driver
from gradfit.fitting.checkpoint import Checkpointer, check_compatible, load_checkpoint
from gradfit.fitting.params import FitParams, check_params
from gradfit.model.backend import capabilities
from gradfit.model.result import FitResult
from gradfit.model.scaling import Scaling

__all__ = ["fit_files", "fit_backend", "cache_for_fit"]

AUTO_CACHE_MIN_PASSES = 3
"""``cache="auto"`` caches when the fit will make more passes than this over the data."""


def _estimated_passes(p: FitParams) -> int:
    """A lower bound of the passes a fit makes over the data (the validating scan
    included): see the table in docs/out-of-core.md."""
    if p.spec.kind == "closed_form":
        return 2
    moments = 2 if p.standardize else 0
    epochs = p.max_iter * (2 if p.batch_size is not None else 1)
    return 1 + moments + epochs


def cache_for_fit(cache, **params):
    """The ``cache`` argument of :class:`~gradfit.data.files.FileBackend` for a fit with
    these parameters: ``cache`` as given (a folder, None or ``"none"``), except ``"auto"``,
    which stays ``"auto"`` (the backend then caches CSV data in the system temp dir, Parquet
    none) when the fit will make more than :data:`AUTO_CACHE_MIN_PASSES` passes (iterative
    solvers) and becomes None for ``solver="exact"`` (one pass) or a fit of a pass or two."""
    if not (isinstance(cache, str) and cache.strip().lower() == "auto"):
        return cache
    p = _params(params)
    return "auto" if _estimated_passes(p) > AUTO_CACHE_MIN_PASSES else None


def fit_files(paths, target=None, features=None, *, weight=None, batch_rows=65536,
              buffer_rows=None, block_size=1 << 20, skip_bad_rows=False, drop_missing=False,
              cache=None, callback=None, coef_init=None, intercept_init=None, checkpoint=None,
              resume=False, checkpoint_every=1, formula=None, categorical=None, levels=None,
              sep=None, drop=None, **params) -> FitResult:
    """Fit y = X w + b on CSV / Parquet files read in blocks; returns a :class:`FitResult`.

    Parameters
    ----------
    paths : str, path-like or a sequence of them
        Files, folders or globs (``"data/*.parquet"``).
    target : str or sequence of str
    features : sequence of str, "a,b,c" or None
        None: every column but the target and the weight.
    weight : str or None
        Column of sample weights.
    batch_rows, buffer_rows, block_size, skip_bad_rows, drop_missing
        How the files are read; see :class:`~gradfit.data.files.FileBackend`.
    cache : None, path-like, "auto" or "none"
        A folder for a cache of the parsed rows: the validating pass writes it and every
        later pass reads it instead of parsing the files (bit-identical numbers); a later
        run on unchanged files reuses it and skips the validating pass.  ``"auto"``: a
        folder in the system temp dir when the solver makes more than 3 passes over CSV
        data, else none (Parquet, ``solver="exact"``); see :func:`cache_for_fit`.
    callback, coef_init, intercept_init
        As in :func:`gradfit.fit`.
    checkpoint : str or Path or None
        Save the loop's state there after every ``checkpoint_every`` epochs (first-order
        solvers); see :mod:`gradfit.fitting.checkpoint`.
    resume : bool
        Continue from ``checkpoint`` when it exists (else start afresh); the checkpoint must
        come from the same data and parameters.
    formula : str, optional
        ``"y ~ x1 + C(region) + np.log(x2)"`` (then no ``target``/``features``): the files
        are read through a :class:`~gradfit.data.design_files.DesignBackend` (the levels of
        categorical columns found by the first pass, the design built batch by batch, the
        formula's intercept as ``fit_intercept``); ``info["design"]`` holds the design.
    categorical : "auto", sequence of str, "a,b" or None
        Feature columns to one-hot encode (treatment coding, levels sorted), through the
        same backend.
    levels : dict, optional
        ``{column: levels}`` of the categorical columns, declared instead of found.
    sep, drop
        The CSV separator, columns left out of the default features.
    **params
        The parameters of :class:`gradfit.GDRegressor` (``solver``, ``learning_rate``,
        ``batch_size`` ...).  ``early_stopping`` is not available on files.

    Returns
    -------
    FitResult
        Coefficients in the original units; ``info`` adds ``n_files``, ``n_rows``,
        ``skipped_rows`` (with ``skipped_examples``), ``dropped_rows``, ``passes``,
        ``feature_names``, ``target_names``, ``data_fingerprint`` (a hash of the files'
        names, sizes, heads and tails, row counts and columns), with a cache ``cache``
        (its folder, status "built" or "reused", and the passes parsed and read from it)
        and, with checkpoints, ``checkpoint`` and ``resumed_from_epoch``.
    """
    if formula is not None or categorical is not None:
        return _fit_design(paths, target, features, formula, categorical, levels, params,
                           weight=weight, batch_rows=batch_rows, buffer_rows=buffer_rows,
                           drop_missing=drop_missing, sep=sep, drop=drop,
                           skip_bad_rows=skip_bad_rows, cache=cache, callback=callback,
                           coef_init=coef_init, intercept_init=intercept_init,
                           checkpoint=checkpoint, resume=resume,
                           checkpoint_every=checkpoint_every)
    data = FileBackend(paths, target, features, weight=weight, batch_rows=batch_rows,
                       buffer_rows=buffer_rows, block_size=block_size,
                       skip_bad_rows=skip_bad_rows, drop_missing=drop_missing,
                       cache=cache_for_fit(cache, **params), sep=sep, drop=drop)
    return fit_backend(data, single_output=isinstance(target, str), callback=callback,
                       coef_init=coef_init, intercept_init=intercept_init,
                       checkpoint=checkpoint, resume=resume, checkpoint_every=checkpoint_every,
                       **params)


def _fit_design(paths, target, features, formula, categorical, levels, params, *,
                skip_bad_rows, cache, **options) -> FitResult:
    """fit_files through a design (formula or categorical columns)."""
    from gradfit.data.design_files import DesignBackend

    if skip_bad_rows:
        raise ValueError("skip_bad_rows is not available with a formula or categorical "
                         "columns (the design is built batch by batch); clean the rows first")
    if cache not in (None, "none", "auto"):
        raise ValueError("cache is not available with a formula or categorical columns; "
                         "leave it out")
    fit_options = {k: options.pop(k) for k in ("callback", "coef_init", "intercept_init",
                                                "checkpoint", "resume", "checkpoint_every")}
    data = DesignBackend(paths, target, features, formula=formula, categorical=categorical,
                         levels=levels, **options)
    params = dict(params, fit_intercept=data.design.fit_intercept(params.get("fit_intercept")))
    res = fit_backend(data, single_output=True, **fit_options, **params)
    res.info["design"] = data.design.to_json()
    return res


def _params(params: dict) -> FitParams:
    p = check_params(params)
    if p.early_stopping:
        raise ValueError("early_stopping is not available on streamed data (the held-out rows "
                         "would have to stay in memory); hold out a validation file and "
                         "compare instead, or fit in memory")
    return p


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def fit_backend(data, *, single_output=None, callback=None, coef_init=None,
                intercept_init=None, checkpoint=None, resume=False, checkpoint_every=1,
                cache=None, **params) -> FitResult:
    """Fit on any backend (``gradfit.data``); see :func:`fit_files` for the arguments.

    ``single_output`` (default: ``data.k == 1``) makes coefficients (d,) and the intercept a
    float.  ``cache`` (a folder or ``"auto"``) applies to a backend that can cache
    (``FileBackend.use_cache``) and was built without one: a valid cache of its data is
    reused, else the fit's first full pass writes one (the validating pass is already done,
    so giving ``cache`` to the backend itself saves one parse more).
    """
    p = _params(params)
    caps = capabilities(data)
    if cache is not None and caps.cache:
        cache = cache_for_fit(cache, **params)
        if cache is not None:
            data.use_cache(cache)
    single = data.k == 1 if single_output is None else bool(single_output)
    if p.spec.kind == "closed_form":
        if checkpoint is not None:
            raise ValueError("solver='exact' makes one pass: it has no epochs to checkpoint")
        return _with_data_info(driver.fit_backend(data, p, single_output=single), data)
    if checkpoint is not None and not p.spec.checkpointable:
        raise ValueError(f"checkpoints cover the first-order solvers "
                         f"{_checkpointable()}; solver={p.spec.name!r} keeps its state inside "
                         "scipy / its recurrence")
    kernel = driver.kernel_for(data.n * data.d, np.float64, p.loss)
    hooks = driver.Hooks(callback=callback,
                         y_mean=data.target_mean if caps.target_mean else None,
                         objective={"kernel": kernel})
    if checkpoint is not None:
        _checkpoint_hooks(hooks, p, data, checkpoint, resume, checkpoint_every)
    res = driver.fit_backend(data, p, hooks, coef_init=coef_init,
                             intercept_init=intercept_init, single_output=single)
    return _with_data_info(res, data)


def _with_data_info(res: FitResult, data) -> FitResult:
    """The result with what the backend says of the data and its passes (after the fit)."""
    res.info.update(_data_info(data))
    return res


def _checkpointable() -> tuple:
    from gradfit.solvers import registry

    return registry.names(lambda s: s.checkpointable)


def _checkpoint_hooks(hooks, p: FitParams, data, checkpoint, resume, every) -> None:
    """Save the loop's state after every ``every`` epochs; with ``resume`` continue from the
    checkpoint (same data, same parameters, same coordinates and rate)."""
    meta = {"solver": p.solver, "fit_params": {k: _jsonable(v) for k, v in asdict(p).items()},
            "data": data.fingerprint() if capabilities(data).fingerprint else None}
    saved = None
    if resume and Path(checkpoint).exists():
        saved, saved_meta, extra = load_checkpoint(checkpoint)
        check_compatible(checkpoint, {k: saved_meta.get(k) for k in meta}, meta)
        minibatch = p.batch_size is not None and p.batch_size < data.n
        lr0 = float(extra["lr0"])
        hooks.objective.update(scaling=Scaling.from_arrays(extra, str(extra.get("kind", "")) or
                                                           None),
                               lipschitz=float(extra["lipschitz"]) if extra["lipschitz"] > 0
                               else None)
        hooks.rate = lr0, driver.schedule_for(p, lr0, minibatch)
        hooks.resume = lambda opt: saved.bind(opt)

    def on_epoch_end(obj, rate):
        arrays = dict(obj.scaling.to_arrays(), lr0=np.array(rate[0]),
                      kind=np.array(obj.scaling.kind),
                      lipschitz=np.array(obj.lipschitz_value or 0.0))
        return Checkpointer(checkpoint, meta, arrays, every=every)

    hooks.on_epoch_end = on_epoch_end
    hooks.info.update(checkpoint=str(checkpoint),
                      resumed_from_epoch=None if saved is None else saved.epoch)


def _data_info(data) -> dict:
    caps = capabilities(data)
    info = data.summary() if caps.fingerprint else {"n_rows": data.n}
    for name in ("feature_names", "target_names"):
        names = getattr(data, name, None)
        if names is not None:
            info[name] = list(names)
    if caps.fingerprint:
        info["data_fingerprint"] = data.fingerprint()["id"]
    return info
