"""Incremental fitting, chunk by chunk: the semantics behind ``GDRegressor.partial_fit``.

``state = partial_fit_step(state, X, y, sample_weight, params)`` makes ONE pass of updates
over the chunk ``(X, y)`` -- one epoch of the training loop on that chunk -- and returns the
updated :class:`PartialState` (``state`` None on the first call).  Precisely:

- The first call fixes everything that needs data: the standardization (column means and
  standard deviations of the FIRST chunk, frozen from then on: the solver's coordinates must
  not move under its optimizer state, e.g. Adam's moments; a first chunk that represents the
  data is therefore best), the starting point (the first chunk's weighted mean of y as the
  intercept), the base learning rate (``learning_rate="auto"``: 1/L(B) on the first chunk)
  and the random generator (seeded from ``random_state``, as in :func:`gradfit.fit`).
- Call ``t`` (from 1) is epoch ``t`` of the loop: with a ``batch_size`` smaller than the
  chunk, its rows are shuffled and visited in mini-batches, the step at batch ``j`` of ``nb``
  being ``schedule(t - 1 + j / nb)`` -- the schedule continues across calls exactly as across
  epochs (``max_iter`` is the horizon of the "step" and "cosine" schedules).  Without a
  ``batch_size`` (or one at least the chunk's size) a call is one proximal gradient step on
  the chunk's gradient, at ``schedule(t - 1)``.
- Chunks are batches of a stream, so the stochastic rules apply whatever the ``batch_size``:
  standardized (not whitened) coordinates, the automatic rate 1/L(B) of a batch (times
  1 - beta with momentum, Nesterov's momentum constant), a decaying schedule
  (``schedule="auto"``: inverse scaling) and Polyak averaging (``average=None``: on).  So
  more passes over the same chunks keep bringing the average closer to the optimum, as
  scikit-learn's ``SGDRegressor.partial_fit`` does.
- The optimizer's state (momentum, Nesterov's sequence, Adam's moments and step count)
  carries over between calls.
- Averaging (``average``, default on for mini-batches) continues over calls; as in the loop
  the mini-batch average restarts at the second call (the first only travels from the
  starting point).
- ``coef`` and ``intercept`` are always in the original units: the average when averaging,
  else the current point.

So with a ``batch_size`` below the chunk's size, ``partial_fit_step`` called E times on the
same data gives, bit for bit, the coefficients of ``gradfit.fit(X, y, max_iter=E, ...)``
when that fit runs its E epochs (``tol=0``, a large ``n_iter_no_change``).  Solvers: the
incremental ones of the registry (the first-order rules; "lbfgs", "cg" and "exact" are not
incremental); ``learning_rate="backtracking"`` and ``early_stopping`` are not available.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from gradfit.data.memory import InMemory
from gradfit.data.validation import prepare_data
from gradfit.exceptions import DivergenceError, InputError
from gradfit.fitting import driver
from gradfit.fitting.params import FitParams, make_rng, scaling_kind
from gradfit.model.objective import Objective
from gradfit.model.scaling import Scaling
from gradfit.solvers import registry
from gradfit.solvers.step import proximal_step, running_mean

__all__ = ["PartialState", "partial_fit_step"]

INCREMENTAL = registry.names(lambda s: s.incremental)


@dataclass
class PartialState:
    """Everything ``partial_fit_step`` carries from one call to the next.

    Attributes
    ----------
    params : FitParams
    scaling : Scaling
        The coordinates built from the first chunk (frozen).
    P : ndarray (p, k)
        Parameters in the solver's coordinates.
    opt_state : NamedTuple or tuple
        The optimizer's state.
    avg : ndarray or None
        Running average of the iterates; ``n_avg`` its count.
    lr0 : float
        Base learning rate (from the first chunk for "auto").
    minibatch : bool
        The stochastic rules apply (always, for a stream of chunks; see the module
        docstring).
    rng : numpy.random.Generator
    n_calls, n_seen : int
        Calls made (epochs) and rows seen.
    single_output : bool
        y was 1-D on the first call (``coef`` (d,) and a float ``intercept``).
    coef : ndarray (d,) or (d, k)
    intercept : float or ndarray (k,)
    """

    params: FitParams
    scaling: Scaling
    P: np.ndarray
    opt_state: object
    avg: np.ndarray | None
    n_avg: int
    lr0: float
    minibatch: bool
    rng: np.random.Generator
    n_calls: int = 0
    n_seen: int = 0
    single_output: bool = True
    coef: np.ndarray | None = None
    intercept: float | np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.scaling.mu.shape[0]

    @property
    def mu(self) -> np.ndarray:
        return self.scaling.mu

    @property
    def sigma(self) -> np.ndarray | None:
        return self.scaling.sigma

    @property
    def n_targets(self) -> int:
        return self.P.shape[1]


def _params(params) -> FitParams:
    if isinstance(params, FitParams):
        return params.validate()
    params = dict(params or {})
    known = {f.name for f in fields(FitParams)}
    p = FitParams(**{k: v for k, v in params.items() if k in known}).validate()
    if not p.spec.incremental:
        raise ValueError(f"partial_fit needs an incremental solver {INCREMENTAL}; "
                         f"solver={p.spec.name!r} needs all the data at once (use fit)")
    if p.learning_rate == "backtracking":
        raise ValueError("learning_rate='backtracking' needs the whole objective; partial_fit "
                         "sees one chunk at a time: use learning_rate='auto' or a number")
    if p.early_stopping:
        raise ValueError("early_stopping is not available with partial_fit: hold out a chunk "
                         "and score it between calls instead")
    return p


def _objective(p: FitParams, X, y2, sw, scaling=None):
    data = InMemory(X, y2, sw)
    if scaling is not None:
        return driver.build_objective(p, data, scaling=scaling, gram=False)
    return driver.build_objective(p, data)


def _start(p: FitParams, X, y2, sw, single: bool, coef_init, intercept_init):
    if scaling_kind(p, X.shape[0], X.shape[1]) == "whiten" and p.standardize == "auto":
        p = replace(p, standardize=True)  # a stream's chunks: the stochastic coordinates
    obj = _objective(p, X, y2, sw)
    rng = make_rng(p)
    P0 = driver.initial_point(obj, driver.target_mean(obj.data, obj.gram_stats), coef_init,
                              intercept_init)
    B = obj.n if p.batch_size is None else min(int(p.batch_size), obj.n)
    if p.learning_rate == "auto" and p.spec.auto_rate == "lipschitz":
        lr0 = 1.0 / obj.batch_lipschitz(B)  # the chunk is a batch of the stream
        if p.spec.name in ("momentum", "nesterov"):
            lr0 *= 1.0 - p.momentum
    else:
        lr0, _ = driver.resolve_rate(p, obj)
    opt = driver.make_optimizer(p, True)
    average = True if p.average is None else bool(p.average)
    state = PartialState(p, obj.scaling, P0.copy(), opt.init(P0),
                         P0.copy() if average else None, 0, float(lr0), True, rng,
                         single_output=single)
    return state, obj


def partial_fit_step(estimator_state: PartialState | None, X, y, sw=None, params=None, *,
                     coef_init=None, intercept_init=None) -> PartialState:
    """One pass of updates over the chunk ``(X, y)``; see the module docstring.

    Parameters
    ----------
    estimator_state : PartialState or None
        The state returned by the previous call (None: the first call).
    X : array-like (m, d)
    y : array-like (m,) or (m, k)
    sw : array-like (m,) or None
        Sample weights of the chunk.
    params : dict or FitParams
        The estimator's parameters (only the fitting ones are used; on later calls they must
        be the same as on the first, which are the ones used).
    coef_init, intercept_init : array-like, optional
        First call only: the starting point in original units, as in :func:`gradfit.fit`
        (e.g. the coefficients of a previous ``fit``, to continue from them).

    Returns
    -------
    PartialState
        The same object updated (a new one on the first call); ``coef`` and ``intercept`` in
        original units.

    Raises
    ------
    InputError
        For bad data, or a chunk whose number of features or targets differs from the first.
    DivergenceError
        When the parameters become non-finite (the step is too large).
    """
    X, y2, sw, single = prepare_data(X, y, sw)
    if estimator_state is None:
        st, obj = _start(_params(params), X, y2, sw, single, coef_init, intercept_init)
    else:
        st = estimator_state
        if X.shape[1] != st.n_features or y2.shape[1] != st.n_targets:
            raise InputError(f"this chunk has {X.shape[1]} features and {y2.shape[1]} "
                             f"target(s); the first had {st.n_features} and {st.n_targets}")
        obj = _objective(st.params, X, y2, sw, scaling=st.scaling)
    _epoch(st, obj, X, y2, sw)
    st.n_calls += 1
    st.n_seen += X.shape[0]
    current = st.avg if st.avg is not None else driver.make_optimizer(
        st.params, st.minibatch).position(st.P, st.opt_state)
    coef, icpt = obj.to_original(current)
    if st.single_output:
        coef, icpt = coef.reshape(-1), float(icpt.reshape(-1)[0])
    st.coef, st.intercept = coef, icpt
    return st


def _epoch(st: PartialState, obj: Objective, X, y2, sw) -> None:
    """Epoch ``st.n_calls + 1`` of the training loop on this chunk (as ``engine.train``)."""
    p = st.params
    opt = driver.make_optimizer(p, st.minibatch)
    schedule = driver.schedule_for(p, st.lr0, st.minibatch)
    epoch = st.n_calls + 1
    P, state, avg, n_avg = st.P, st.opt_state, st.avg, st.n_avg
    m = X.shape[0]
    B = m if p.batch_size is None else min(int(p.batch_size), m)

    def steps():
        """(schedule time, gradient at P) of each step of this epoch: one full-batch step,
        or one per mini-batch."""
        if B >= m:  # the chunk is the batch
            yield epoch - 1.0, lambda P: obj.data_value_grad(P)[1]
            return
        nb = -(-m // B)
        for j, (Xb, yb, sb) in enumerate(obj.data.minibatches(B, st.rng)):
            yield epoch - 1.0 + j / nb, lambda P, Xb=Xb, yb=yb, sb=sb: obj.batch_grad(
                P, Xb, yb, sb)

    if st.minibatch and avg is not None and epoch == 2:
        n_avg = 0
    with np.errstate(all="ignore"):
        for t, gradient in steps():
            lr = schedule(t)
            P, state = proximal_step(obj, opt, P, state, gradient(P), lr)
            if avg is not None:
                n_avg = running_mean(avg, n_avg, opt.position(P, state))
    if not np.all(np.isfinite(P)):
        raise DivergenceError(
            f"partial_fit diverged at call {epoch} with learning_rate={lr:.6g}: the parameters "
            "became non-finite; use a smaller learning_rate", learning_rate=lr, safe_rate=None,
            epoch=epoch)
    st.P, st.opt_state, st.avg, st.n_avg = P, state, avg, n_avg
