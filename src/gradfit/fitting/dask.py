"""``fit_dask``: gradfit's solvers on data held by a Dask cluster.

Every full-batch solver is the in-memory one, run on ``Objective(DaskBackend(...))``: one
pass (a map over the row blocks and a fixed-order reduction of d-sized results) per
gradient, so "gd", "momentum", "nesterov", "adam" (full batch), "lbfgs", "cg", backtracking
and learning_rate="auto" behave exactly as in memory, to the last few digits.

"exact" is one pass of mergeable sufficient statistics (``exact.GramStats``) and a Cholesky
solve of the column-scaled normal equations; when the Gram matrix is too ill-conditioned a
second pass merges blockwise TSQR factors ``R`` instead.  By default one more pass of
iterative refinement (residuals block by block in float64) brings the answer to about
``cond * eps``, as the in-memory blocked path does (``exact_refine=False``: one pass only).

Mini-batch and stochastic descent (``batch_size < n``) run as **local SGD with parameter
averaging**: each epoch every row block runs the ordinary mini-batch loop (the same update
rule, schedule, prox and batch gradient as in memory, over its own rows, with the global
standardization) from the same starting point, and the new parameters are the average of
the blocks' results weighted by their sum of weights.  One round trip per epoch instead of
one per mini-batch (measured 1500x slower).  The optimizer's state (momentum, Adam's
moments) is averaged across the blocks like the parameters and carried to the next epoch;
Polyak averaging (``average``) averages the blocks' running means from the second epoch
on.  The stopping rule is the in-memory mini-batch one, on the full objective evaluated by
one pass per epoch.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from gradfit.data.dask import ClusterError, DaskBackend, is_dask_collection
from gradfit.data.memory import InMemory
from gradfit.exceptions import InputError
from gradfit.fitting import driver
from gradfit.fitting.params import FitParams, check_params
from gradfit.model.objective import Objective
from gradfit.model.result import FitResult
from gradfit.model.scaling import Scaling
from gradfit.solvers import exact as _exact
from gradfit.solvers.step import proximal_step, running_mean

__all__ = ["fit_dask", "minibatch_epoch", "connect", "dask_client", "predict_dask",
           "score_dask", "is_dask_collection", "DaskBackend", "ClusterError"]


# --------------------------------------------------------------------------- entry point


def fit_dask(X, y=None, sample_weight=None, *, client=None, callback=None, coef_init=None,
             intercept_init=None, features=None, n_blocks=None, retries=2, timeout=None,
             exact_refine=True, exact_method="auto", **params) -> FitResult:
    """Fit y = X w + b on a Dask cluster and return a :class:`gradfit.FitResult`.

    Parameters
    ----------
    X : dask array, dask DataFrame, ndarray, or a :class:`DaskBackend`
        A backend (e.g. from ``DaskBackend.from_files``) is used as is (``y`` then None).
    y, sample_weight
        As for :class:`DaskBackend` (column names when ``X`` is a DataFrame).
    client : distributed.Client or None
        Default: the current default client.
    callback, coef_init, intercept_init
        As for :func:`gradfit.fit`.
    features, n_blocks, retries, timeout
        As for :class:`DaskBackend`.
    exact_refine : bool, default True
        solver="exact": one refinement pass after the statistics pass (accuracy about
        ``cond * eps``); False: the statistics pass only (about ``cond**2 * eps``).
    exact_method : {"auto", "gram", "tsqr"}
        solver="exact": "auto" takes TSQR when the scaled Gram matrix has reciprocal
        condition below 1e-10.
    **params
        The parameters of :class:`gradfit.GDRegressor` (``solver``, ``batch_size``, ...);
        ``early_stopping`` is not available on Dask.

    Returns
    -------
    FitResult
        ``info`` holds ``backend="dask"``, ``passes`` (passes over the data) and
        ``n_blocks``; for mini-batches ``local_sgd=True``.
    """
    p = check_params(params)
    if p.early_stopping:
        raise InputError("early_stopping is not available on Dask; hold out your own "
                         "validation data and use tol / max_iter")
    if exact_method not in ("auto", "gram", "tsqr"):
        raise ValueError(f"exact_method must be 'auto', 'gram' or 'tsqr', got {exact_method!r}")
    own = not isinstance(X, DaskBackend)
    if not own:
        if y is not None or sample_weight is not None:
            raise InputError("X is already a DaskBackend: y and sample_weight come with it")
        data = X
    else:
        data = DaskBackend(X, y, sample_weight, client, features=features, n_blocks=n_blocks,
                           retries=retries, timeout=timeout)
    passes0 = data.passes
    t0 = time.perf_counter()
    try:
        if p.spec.kind == "closed_form":
            res = _exact_result(p, data, exact_refine, exact_method)
        else:
            res = _iterative_result(p, data, callback, coef_init, intercept_init)
    finally:
        if own:  # free the workers' memory; a backend passed in stays for the next fit
            data.close()
    res.info.update(backend="dask", passes=data.passes - passes0, n_blocks=len(data.block_rows),
                    seconds=time.perf_counter() - t0)
    if data.feature_names is not None:
        res.info["feature_names"] = list(data.feature_names)
    return driver.squeeze_single(res, data.y_1d)


def _iterative_result(p: FitParams, data: DaskBackend, callback, coef_init, intercept_init):
    """Full batches through the one driver on ``Objective(DaskBackend)``; mini-batches by
    local SGD (one job per block, parameters averaged between epochs)."""
    hooks = driver.Hooks(callback=callback, y_mean=data.y_mean,
                         epoch_runner=lambda obj, p, schedule: _local_sgd_epochs(obj, p,
                                                                                 schedule))
    res = driver.fit_backend(data, p, hooks, coef_init=coef_init,
                             intercept_init=intercept_init, single_output=False)
    if p.batch_size is not None and p.batch_size < data.n:
        res.info["local_sgd"] = True
    return res


# --------------------------------------------------------------------------- local SGD


def _local_epoch(block, seed, *, job):
    """One epoch of the mini-batch loop over one block (runs on a worker).

    Returns (sum of weights, final P, final optimizer state, mean position over the
    epoch's steps)."""
    X, y, s = block
    P, state, spec, epoch, batch_size, optimizer, schedule = job
    loss, epsilon, penalty, fit_intercept, scaling = spec
    data = InMemory(X, y, s)
    obj = Objective(data, loss=loss, epsilon=epsilon, penalty=penalty,
                    fit_intercept=fit_intercept, scaling=scaling)
    rng = np.random.default_rng(seed)
    nb = -(-data.n // batch_size)
    state = optimizer.init(P) if state is None else state
    P = P.copy()
    avg, n_avg = np.zeros_like(P), 0
    with np.errstate(all="ignore"):
        for j, (Xb, yb, sb) in enumerate(data.minibatches(batch_size, rng)):
            P, state = proximal_step(obj, optimizer, P, state, obj.batch_grad(P, Xb, yb, sb),
                                     schedule(epoch - 1.0 + j / nb))
            n_avg = running_mean(avg, n_avg, optimizer.position(P, state))
    return data.S, P, state, avg


def _weighted_mean(items, weights):
    """Weighted mean of arrays, or of optimizer states (NamedTuples of arrays and counters:
    arrays are averaged, counters take the largest value)."""
    first = items[0]
    if isinstance(first, tuple):
        return type(first)(*[_weighted_mean([it[i] for it in items], weights)
                             for i in range(len(first))]) if hasattr(first, "_fields") else \
            tuple(_weighted_mean([it[i] for it in items], weights) for i in range(len(first)))
    if isinstance(first, np.ndarray):
        return sum(w * it for w, it in zip(weights, items)) / weights.sum()
    return max(items)


def minibatch_epoch(obj: Objective, P, epoch, *, batch_size, optimizer, schedule, rng,
                    state=None, scaling: Scaling | None = None):
    """One epoch of local SGD with parameter averaging on a Dask-backed objective.

    Every row block runs the mini-batch loop of ``gradfit.solvers.engine`` (``optimizer``,
    ``schedule`` at t = epoch - 1 + j / batches, ``obj.prox``, ``obj.batch_grad``) over its
    own rows from ``(P, state)``, in its own random order (seeded from ``rng``); the blocks'
    parameters and optimizer states (momentum, Adam's moments) are then averaged with the
    blocks' sums of weights as weights.

    Parameters
    ----------
    obj : Objective over a :class:`DaskBackend`
    P : ndarray (p, k)
        Starting point, in the objective's (standardized) coordinates.
    epoch : int
        1-based epoch number (for the schedule).
    batch_size : int
    optimizer : gradfit.solvers.optimizers.Optimizer
    schedule : callable t -> learning rate
    rng : numpy Generator
    state : optimizer state or None
        The averaged state from the previous epoch (None: ``optimizer.init(P)``).
    scaling : Scaling or None
        The coordinates (default: the objective's own), so that every block works in exactly
        the coordinates of the whole data.

    Returns
    -------
    P_next : ndarray (p, k)
        The weighted average of the blocks' final parameters.
    state_next : optimizer state
        The weighted average of the blocks' final optimizer states.
    P_mean : ndarray (p, k)
        The weighted average of the blocks' mean positions over the epoch (for averaging).
    """
    data = obj.data
    spec = (obj.loss, obj.epsilon, obj.penalty, obj.fit_intercept, scaling or obj.scaling)
    seeds = rng.integers(0, 2**63 - 1, size=len(data.block_rows)).tolist()
    job = (P, state, spec, epoch, int(batch_size), optimizer, schedule)  # one keyword: the
    out = data.map_blocks(_local_epoch, seeds, job=job)  # client.map has its own batch_size
    weights = np.array([o[0] for o in out])
    return (_weighted_mean([o[1] for o in out], weights),
            _weighted_mean([o[2] for o in out], weights),
            _weighted_mean([o[3] for o in out], weights))


def _local_sgd_epochs(obj, p: FitParams, schedule):
    """The engine's epoch hook for Dask mini-batches: one epoch of local SGD
    (:func:`minibatch_epoch`), the average taken over the blocks' mean positions of each
    epoch (restarted at epoch 2, as the in-memory loop's); stopping, history and divergence
    are the engine's.  None for full batches (the loop's own passes)."""
    if p.batch_size is None or p.batch_size >= obj.n or not p.spec.first_order:
        return None
    optimizer = driver.make_optimizer(p, True)

    def run(P, state, avg, n_avg, epoch, rng):
        P, state, P_mean = minibatch_epoch(obj, P, epoch, batch_size=p.batch_size,
                                           optimizer=optimizer, schedule=schedule, rng=rng,
                                           state=state)
        if avg is not None:
            n_avg += 1
            avg = P_mean.copy() if n_avg == 1 else avg + (P_mean - avg) / n_avg
        return P, state, avg, n_avg, schedule(float(epoch))

    return run


# --------------------------------------------------------------------------- exact


def _exact_result(p: FitParams, data: DaskBackend, refine: bool, method: str) -> FitResult:
    """The closed form of ``gradfit.solvers.exact.solve_backend`` on the cluster's blocks:
    statistics, TSQR where needed, refinement passes -- the in-memory algorithm."""
    w, b, info = _exact.solve_backend(data, fit_intercept=p.fit_intercept,
                                      alpha=p.penalty_record.l2,
                                      factor={"auto": "auto", "gram": "gram",
                                              "tsqr": "tsqr"}[method], refine=refine)
    info["method"] = "dask-" + info["method"]
    return _exact.closed_form_result(p, w, b, info, data.S)


# --------------------------------------------------------------------------- helpers


def connect(address="local", **cluster_kwargs):
    """A ``distributed.Client`` for the CLI's ``--dask`` option.

    ``"local"``: a new ``LocalCluster`` on this machine (``cluster_kwargs`` go to it; its
    dashboard is off unless asked for); anything else is a scheduler address such as
    ``"tcp://host:8786"`` (``timeout=`` seconds to connect, default 30).  Prefer
    :func:`dask_client`, which also closes what it opened.
    """
    from distributed import Client, LocalCluster

    if address == "local":
        cluster_kwargs.setdefault("dashboard_address", None)
        return Client(LocalCluster(**cluster_kwargs))
    try:
        return Client(address, timeout=cluster_kwargs.pop("timeout", 30))
    except OSError as exc:
        raise ClusterError(f"could not connect to the Dask scheduler at {address!r}: {exc}") \
            from exc


@contextmanager
def dask_client(address="local", **cluster_kwargs):
    """Context manager: :func:`connect`, then close the client (and a local cluster)."""
    client = connect(address, **cluster_kwargs)
    try:
        yield client
    finally:
        cluster = client.cluster if address == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()


def predict_dask(X, coef, intercept, features=None):
    """Lazy predictions ``X @ coef + intercept`` for a dask array or DataFrame.

    ``coef`` has FitResult's shape, (d,) or (d, k) (pass ``GDRegressor.coef_.T``); the
    result is a dask array of shape (n,) or (n, k): ``.compute()`` it or write it out."""
    coef = np.asarray(coef, float)
    if hasattr(X, "columns"):  # a dask DataFrame
        X = (X if features is None else X[list(features)]).to_dask_array()
    return X.astype(float) @ coef + intercept


def score_dask(data: DaskBackend, coef, intercept) -> float:
    """R² of ``X @ coef + intercept`` on a backend's rows (weighted; the mean over outputs, as
    scikit-learn's ``score``), in one pass.  ``coef`` has FitResult's shape."""
    from gradfit.fitting.evaluation import evaluate

    coef = np.asarray(coef, float).reshape(data.d, data.k).T
    return float(np.mean(evaluate(data, coef, intercept).r2))
