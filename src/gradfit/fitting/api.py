"""``gradfit.fit``: the functional entry point for arrays in memory.

It validates the arrays, wraps them in an in-memory backend and hands them to the one driver
(``gradfit.fitting.driver.fit_backend``); ``solver="exact"`` goes to the closed form.  The
estimator is a thin shell over it.
"""

from __future__ import annotations

import math

import numpy as np

from gradfit.data.memory import InMemory, RowSubset
from gradfit.data.validation import as_float_array, check_finite, check_sample_weight
from gradfit.exceptions import InputError
from gradfit.fitting.driver import NUMBA_MIN_CELLS, Hooks, fit_backend, kernel_for, squeeze_single
from gradfit.fitting.params import FitParams, check_params, make_rng
from gradfit.model.result import FitResult
from gradfit.solvers import registry

__all__ = ["FitParams", "fit", "prepare_data", "kernel_for", "SOLVERS", "NUMBA_MIN_CELLS"]

SOLVERS = registry.names()  # the names of 0.1, for code that read them here

def _as_2d_target(y, n):
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise InputError("y must be numeric") from None
    y = np.asarray(y, dtype=np.longdouble if y.dtype == np.longdouble else float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise InputError(f"y must have {n} rows to match X (shape {y.shape} given)")
    if y.shape[1] == 0:
        raise InputError("y has no columns")
    return y


def prepare_data(X, y, sample_weight, feature_names=None):
    """Validated (X float array, y (n, k), sw or None, single_output)."""
    X = as_float_array(X, "X")
    if X.ndim != 2:
        raise InputError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}. "
                         "Reshape a single feature with X.reshape(-1, 1)")
    n, d = X.shape
    if n == 0:
        raise InputError("X has 0 rows: there is nothing to fit")
    if d == 0:
        raise InputError("X has 0 feature columns")
    single = np.ndim(y) == 1
    y2 = _as_2d_target(y, n)
    check_finite(X, "X", feature_names)
    check_finite(y2, "y")
    sw = check_sample_weight(sample_weight, n)
    return X, y2, sw, single


def split_validation(X, y, sw, fraction, rng):
    """(training rows, validation rows) as two RowSubset views of the same arrays: a random
    ``fraction`` of the rows (at least one) is held out; nothing is copied."""
    n = X.shape[0]
    n_val = max(1, math.ceil(fraction * n))
    if n - n_val < 1:
        raise InputError(f"early_stopping needs at least 2 rows; got {n}")
    held_out = np.zeros(n, dtype=bool)
    held_out[rng.permutation(n)[:n_val]] = True
    return RowSubset(X, y, sw, ~held_out), RowSubset(X, y, sw, held_out)


def fit(X, y, sample_weight=None, *, callback=None, coef_init=None, intercept_init=None,
        feature_names=None, **params) -> FitResult:
    """Fit y = X w + b and return a :class:`FitResult` (no estimator needed).

    Parameters are those of :class:`gradfit.GDRegressor` (``solver``, ``learning_rate``, ...).
    ``callback(info)`` is called once per epoch with a dict (epoch, max_iter, objective,
    grad_norm, lr, elapsed); returning False stops the fit.  ``coef_init`` and
    ``intercept_init`` give the starting point in original units (default: zero
    coefficients, and in centred coordinates the mean of y as the intercept).
    """
    p = check_params(params)
    X, y, sw, single = prepare_data(X, y, sample_weight, feature_names)
    if p.spec.kind == "closed_form":  # long double input is used to the full (NIST Filip)
        from gradfit.solvers.exact import exact_result

        return squeeze_single(exact_result(p, X, y, sw), single)
    if X.dtype == np.longdouble:
        X = X.astype(np.float64)
    if y.dtype == np.longdouble:
        y = y.astype(np.float64)
    rng = make_rng(p)
    data, validation = InMemory(X, y, sw), None
    if p.early_stopping:
        data, validation = split_validation(X, y, sw, p.validation_fraction, rng)
    hooks = Hooks(callback=callback, validation=validation,
                  objective={"kernel": kernel_for(X.size, X.dtype, p.loss)})
    return fit_backend(data, p, hooks, coef_init=coef_init, intercept_init=intercept_init,
                       single_output=single, rng=rng)
