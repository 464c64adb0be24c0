"""From fitted models to a :class:`FitView`: what :mod:`gradfit.plot` hands the charts.

A *model* is a fitted :class:`gradfit.GDRegressor`, a :class:`gradfit.FitResult`, or any
fitted scikit-learn linear regressor (``coef_`` and ``intercept_``: LinearRegression,
SGDRegressor, Ridge, ...).  Several models are a dict ``{name: model}`` (display order) or a
list (named after their solver).  Only a GDRegressor or a FitResult carries a history, so
only they draw a loss curve and a descent path; the others draw as lines and residuals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from gradfit.charts.view import FitView
from gradfit.data.validation import describe_non_numeric
from gradfit.model.result import FitResult, History

__all__ = ["as_results", "model_name", "make_view", "exact_result", "EXACT"]

EXACT = "exact"
_EXACT_KEYS = ("fit_intercept", "loss", "epsilon", "penalty", "alpha", "l1_ratio")


def model_name(model) -> str:
    """A short display name: the solver (with the batch size for mini-batches), or the
    class name of another estimator."""
    if isinstance(model, FitResult):
        return str(model.solver)
    params = model.get_params() if hasattr(model, "get_params") else {}
    if "solver" in params and type(model).__name__ == "GDRegressor":
        batch = params.get("batch_size")
        return str(params["solver"]) + (f" (batch {batch})" if batch else "")
    return type(model).__name__


def _as_result(model, name: str) -> FitResult:
    """The FitResult of one model (a plain one, without history, for foreign estimators)."""
    if isinstance(model, FitResult):
        result = model
    elif hasattr(model, "get_params") and hasattr(model, "fit"):
        if not hasattr(model, "coef_"):
            raise ValueError(f"model {name!r} ({type(model).__name__}) is not fitted yet: call "
                             ".fit(X, y) before plotting it")
        result = getattr(model, "result_", None)
        if not isinstance(result, FitResult):  # partial_fit, or another library's estimator
            coef = np.asarray(model.coef_, dtype=float)
            solver = str(getattr(model, "solver", type(model).__name__))
            result = FitResult(
                coef=coef, intercept=np.asarray(getattr(model, "intercept_", 0.0), dtype=float),
                n_iter=int(np.max(getattr(model, "n_iter_", 1))),
                converged=bool(getattr(model, "converged_", True)),
                stop_reason=str(getattr(model, "stop_reason_", "")), objective=np.nan,
                history=History(), solver=solver)
    else:
        what = repr(model)
        what = what if len(what) <= 40 else what[:37] + "..."
        raise TypeError(f"cannot plot {what} (a {type(model).__name__}, entry {name!r}): pass "
                        "a fitted GDRegressor, a FitResult, a fitted scikit-learn linear "
                        "model, or a dict / list of them")
    coef = np.asarray(result.coef, dtype=float)
    icpt = np.asarray(result.intercept, dtype=float)
    if coef.ndim == 2 and 1 in coef.shape:
        coef = coef.reshape(-1)
    if coef.ndim != 1 or icpt.size != 1:
        raise ValueError(f"model {name!r} has {icpt.size} outputs; the charts show one target: "
                         "fit one target at a time")
    if coef is not result.coef or icpt.ndim:
        result = FitResult(coef=coef, intercept=float(icpt.reshape(())), n_iter=result.n_iter,
                           converged=result.converged, stop_reason=result.stop_reason,
                           objective=result.objective, history=result.history,
                           solver=result.solver, learning_rate=result.learning_rate,
                           lipschitz=result.lipschitz, info=result.info)
    return result


def as_results(models) -> dict:
    """``{name: FitResult}`` in display order from one model, a dict or a list of models.

    Raises
    ------
    TypeError
        For something that is not a model (the message lists what is accepted).
    ValueError
        For an unfitted estimator, a multi-output fit or an empty collection.
    """
    if isinstance(models, Mapping):
        items = [(str(k), m) for k, m in models.items()]
    elif isinstance(models, (list, tuple)):
        items, seen = [], {}
        for m in models:
            base = model_name(m)
            seen[base] = seen.get(base, 0) + 1
            items.append((base if seen[base] == 1 else f"{base} ({seen[base]})", m))
    else:
        items = [(model_name(models), models)]
    if not items:
        raise ValueError("no models to plot: pass a fitted model, or a dict / list of them")
    return {name: _as_result(m, name) for name, m in items}


def _estimators(models) -> list:
    if isinstance(models, Mapping):
        return list(models.values())
    return list(models) if isinstance(models, (list, tuple)) else [models]


def _names_from(models, X, d: int) -> list[str]:
    cols = getattr(X, "columns", None)
    if cols is not None:
        return [str(c) for c in cols]
    if getattr(X, "name", None) is not None and d == 1:
        return [str(X.name)]
    for m in _estimators(models):
        names = getattr(m, "feature_names_in_", None)
        if names is None and isinstance(m, FitResult):
            names = m.info.get("feature_names")
        if names is not None and len(names) == d:
            return [str(c) for c in names]
    return [f"x{j + 1}" for j in range(d)]


def _data(X, y, what: str):
    if X is None or y is None:
        raise TypeError(f"{what} needs the data the model was fitted on: "
                        f"{what}(model, X, y)")
    describe_non_numeric(X)
    A = np.asarray(X, dtype=float) if not hasattr(X, "to_numpy") else X.to_numpy(dtype=float)
    A = A[:, None] if A.ndim == 1 else A
    if A.ndim != 2:
        raise ValueError(f"X must be 1-D (one feature) or 2-D, got shape {A.shape}")
    t = np.asarray(y, dtype=float)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"y must be one target column, got shape {t.shape}")
    if t.shape[0] != A.shape[0]:
        raise ValueError(f"X has {A.shape[0]} rows but y has {t.shape[0]}")
    return A, t


def exact_result(X, y, params: dict, sample_weight=None):
    """The exact optimum of the same problem (``params`` of the fit: loss, penalty ...), or
    None when there is no closed form for it (e.g. huber loss or an L1 penalty)."""
    import gradfit

    kwargs = {k: params[k] for k in _EXACT_KEYS if k in params}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gradfit.fit(X, y, sample_weight, solver="exact", **kwargs)
    except (ValueError, NotImplementedError, ArithmeticError):
        return None


def _reference(models, X, y, sample_weight):
    """The closed form of the models' common problem, or None where their problems differ
    or it has none.  The problem is read from the GDRegressors' parameters (loss, penalty,
    ...); a FitResult or a foreign estimator counts as plain least squares."""
    problems = {tuple((k, m.get_params().get(k)) for k in _EXACT_KEYS)
                for m in _estimators(models) if type(m).__name__ == "GDRegressor"}
    if len(problems) > 1:
        return None
    return exact_result(X, y, dict(problems.pop()) if problems else {}, sample_weight)


def make_view(models, X, y, *, what: str = "plot", need_data: bool = True, exact: bool = True,
              sample_weight=None, feature_names=None, target_name=None, title=None,
              start=None) -> FitView:
    """A FitView of `models` on the data ``(X, y)``.

    Parameters
    ----------
    models : model, dict of str to model, or list of models
    X : array-like or DataFrame, shape (n, d) or (n,)
    y : array-like or Series, shape (n,)
    what : str
        The calling function's name, for error messages.
    need_data : bool, default True
        False: `X` and `y` may be None (the loss curve needs only the histories); the view
        then holds no rows and no exact reference is computed.
    exact : bool, default True
        Add the closed-form optimum (named "exact") as the reference when none of `models`
        is exact and the problem has a closed form: the dashed line, the diamond at the
        bottom of the contours, F* of the loss gap.
    sample_weight : array-like, optional
    feature_names, target_name : optional
        Default: the DataFrame's columns / the Series' name, else the model's
        ``feature_names_in_``, else x1, x2, ... and "y".
    title : str, optional
    start : (coef, intercept), optional
        A starting guess to draw.
    """
    results = as_results(models)
    if X is None and y is None and not need_data:
        d = np.asarray(next(iter(results.values())).coef).size
        A, t, exact = np.zeros((0, d)), np.zeros(0), False
    else:
        A, t = _data(X, y, what)
        d = A.shape[1]
    for name, r in results.items():
        k = np.asarray(r.coef).size
        if k != d:
            raise ValueError(f"model {name!r} has {k} coefficient(s) but "
                             + (f"X has {d} column(s): pass the X it was fitted on"
                                if len(t) else f"the first model has {d}"))
    names = list(feature_names) if feature_names is not None else _names_from(models, X, d)
    target = target_name or (str(y.name) if getattr(y, "name", None) is not None else "y")
    exact_name = next((k for k, r in results.items() if r.solver == EXACT), None)
    if exact and exact_name is None:
        ref = _reference(models, A, t, sample_weight)
        if ref is not None:
            exact_name = EXACT if EXACT not in results else "exact optimum"
            results[exact_name] = ref
    return FitView(X=A, y=t, feature_names=names, target_name=target, results=results,
                   exact_name=exact_name, sample_weight=sample_weight,
                   fit_intercept=all(bool(getattr(m, "fit_intercept", True))
                                     for m in _estimators(models)),
                   title=title or "gradfit", start=start)
