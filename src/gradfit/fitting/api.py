"""``gradfit.fit``: the functional entry point for arrays in memory.

It validates the arrays, wraps them in an in-memory backend and hands them to the one driver
(``gradfit.fitting.driver.fit_backend``); ``solver="exact"`` goes to the closed form.  The
estimator is a thin shell over it.
"""

from __future__ import annotations

import math

import numpy as np

from gradfit.data.memory import InMemory, RowSubset
from gradfit.data.sparse import SparseBackend, is_sparse
from gradfit.data.validation import prepare_data
from gradfit.exceptions import InputError
from gradfit.fitting.driver import NUMBA_MIN_CELLS, Hooks, fit_backend, kernel_for, squeeze_single
from gradfit.fitting.params import FitParams, check_params, make_rng
from gradfit.model.backend import Backend
from gradfit.model.result import FitResult
from gradfit.solvers import registry

__all__ = ["FitParams", "fit", "prepare_data", "kernel_for", "SOLVERS", "NUMBA_MIN_CELLS"]

SOLVERS = registry.names()  # the names of 0.1, for code that read them here

def _fit_formula(formula, data, y, sample_weight, drop_missing, **kwargs) -> FitResult:
    from gradfit.data.design import DesignSpec

    if data is None or y is not None:
        raise InputError("a formula takes its columns from data=: gradfit.fit('y ~ x1 + x2', "
                         "data=frame)")
    design = DesignSpec.from_frame(data, formula, drop_missing=drop_missing)
    X, target, kept = design.transform(data, drop_missing=drop_missing)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=float)[kept]
    fit_intercept = design.fit_intercept(kwargs.pop("fit_intercept", None))
    res = fit(X, target, sample_weight, feature_names=list(design.names),
              fit_intercept=fit_intercept, **kwargs)
    res.info.update(design=design.to_json(), feature_names=list(design.names))
    return res


def split_validation(X, y, sw, fraction, rng, subset=RowSubset):
    """(training rows, validation rows) as two RowSubset views of the same arrays (or
    ``subset``'s, e.g. ``SparseBackend`` with a mask): a random ``fraction`` of the rows (at
    least one) is held out; nothing is copied."""
    n = X.shape[0]
    n_val = max(1, math.ceil(fraction * n))
    if n - n_val < 1:
        raise InputError(f"early_stopping needs at least 2 rows; got {n}")
    held_out = np.zeros(n, dtype=bool)
    held_out[rng.permutation(n)[:n_val]] = True
    return subset(X, y, sw, ~held_out), subset(X, y, sw, held_out)


def fit(X, y=None, sample_weight=None, *, callback=None, coef_init=None, intercept_init=None,
        feature_names=None, data=None, drop_missing=False, **params) -> FitResult:
    """Fit y = X w + b and return a :class:`FitResult` (no estimator needed).

    ``X`` is an array or, with y None, any backend (``gradfit.data.as_backend(...)``: files,
    Dask, arrays).  Parameters are those of :class:`gradfit.GDRegressor` (``solver``,
    ``learning_rate``, ...).
    ``callback(info)`` is called once per epoch with a dict (epoch, max_iter, objective,
    grad_norm, lr, elapsed); returning False stops the fit.  ``coef_init`` and
    ``intercept_init`` give the starting point in original units (default: zero
    coefficients, and in centred coordinates the mean of y as the intercept).

    ``X`` may also be a formula, ``gradfit.fit("y ~ x1 + C(region) + np.log(x2)", data=df)``:
    the design is built as :meth:`gradfit.GDRegressor.fit_formula` builds it (formulaic,
    treatment coding; the formula's intercept term is ``fit_intercept``), rows with missing
    values are refused unless ``drop_missing=True``, and ``info["design"]`` holds the design
    as JSON (:class:`gradfit.data.design.DesignSpec`) with ``info["feature_names"]`` its
    column names.
    """
    if isinstance(X, str):  # a formula: the design of ``data``
        return _fit_formula(X, data, y, sample_weight, drop_missing, callback=callback,
                            coef_init=coef_init, intercept_init=intercept_init, **params)
    if data is not None:
        raise InputError("data= goes with a formula: gradfit.fit('y ~ x1 + x2', data=frame)")
    p = check_params(params)
    if isinstance(X, Backend):  # any source as a backend (gradfit.data.as_backend)
        if y is not None or sample_weight is not None:
            raise InputError("X is a backend: y and sample_weight come with it")
        return fit_backend(X, p, Hooks(callback=callback), coef_init=coef_init,
                           intercept_init=intercept_init)
    X, y, sw, single = prepare_data(X, y, sample_weight, feature_names)
    sparse = is_sparse(X)  # CSR rows: SparseBackend, the CSR kernels, the closed form below
    if p.spec.kind == "closed_form" and not sparse:  # long double input is used to the full
        from gradfit.solvers.exact import exact_result

        return squeeze_single(exact_result(p, X, y, sw), single)
    if X.dtype == np.longdouble:
        X = X.astype(np.float64)
    if y.dtype == np.longdouble:
        y = y.astype(np.float64)
    rng = make_rng(p)
    rows = SparseBackend if sparse else InMemory
    data, validation = rows(X, y, sw), None
    if p.early_stopping:
        data, validation = split_validation(X, y, sw, p.validation_fraction, rng,
                                            SparseBackend if sparse else RowSubset)
    cells = X.nnz if sparse else X.size
    hooks = Hooks(callback=callback, validation=validation,
                  objective={"kernel": kernel_for(cells, X.dtype, p.loss, sparse=sparse)})
    return fit_backend(data, p, hooks, coef_init=coef_init, intercept_init=intercept_init,
                       single_output=single, rng=rng)
