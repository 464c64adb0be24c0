"""Running fits for the commands: the estimator with an optional progress callback, the
exact reference, and the report / chart files."""

from __future__ import annotations

import inspect
import time
import warnings
from pathlib import Path

import numpy as np

from gradfit.charts.models import exact_result
from gradfit.cli.errors import UserError, options_checked_by_core

__all__ = ["design_params", "fit_estimator", "fit_result", "exact_result", "write_view_files"]


def _accepts(func, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def design_params(params: dict, design) -> dict:
    """The estimator options with the formula's intercept as ``fit_intercept`` (refused with
    --no-intercept when the formula has one; see ``DesignSpec.fit_intercept``)."""
    if design is None or design.kind != "formula":
        return params
    return dict(params, fit_intercept=design.fit_intercept(params.get("fit_intercept")))


def fit_estimator(X, y, params: dict, callback=None):
    """Fit a :class:`gradfit.GDRegressor` with ``params``.

    The callback, when given, is passed to the estimator (as a fit argument or a
    constructor parameter, whichever the core accepts).  Warnings raised by the fit are
    collected as one-line messages in ``estimator.cli_warnings_`` instead of printed.

    Returns
    -------
    estimator : GDRegressor
    seconds : float
        Wall time of the fit.
    """
    from gradfit import GDRegressor

    fit_kwargs, params = {}, dict(params)
    if callback is not None:
        if _accepts(GDRegressor, "callback"):
            params["callback"] = callback
        elif _accepts(GDRegressor.fit, "callback"):
            fit_kwargs["callback"] = callback
    with options_checked_by_core(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = GDRegressor(**params)
        t0 = time.perf_counter()
        est.fit(X, y, **fit_kwargs)
        seconds = time.perf_counter() - t0
    est.cli_warnings_ = _unique(str(w.message) for w in caught)
    return est, seconds


def _unique(messages) -> list[str]:
    out = []
    for m in messages:
        m = " ".join(m.split())
        if m not in out:
            out.append(m)
    return out


def fit_result(X, y, params: dict, callback=None):
    """``gradfit.fit(X, y, **params)`` with option errors made user errors; returns
    ``(FitResult, seconds)``."""
    import gradfit

    kwargs = dict(params)
    if callback is not None and _accepts(gradfit.fit, "callback"):
        kwargs["callback"] = callback
    with options_checked_by_core():
        t0 = time.perf_counter()
        result = gradfit.fit(X, y, **kwargs)
        seconds = time.perf_counter() - t0
    return result, seconds


def write_view_files(view, *, report=None, plots=None) -> dict:
    """Write the HTML report and/or the PNG charts of a FitView.

    Returns
    -------
    dict
        ``{"report": path or None, "plots": [paths]}``.
    """
    out = {"report": None, "plots": []}
    if report is not None:
        from gradfit.report import write_report

        path = Path(report)
        _parent_ok(path.parent)
        written = write_report(view, path)
        out["report"] = str(written if written is not None else path)
    if plots is not None:
        from gradfit.charts import write_pngs

        folder = Path(plots)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
        written = write_pngs(view, folder)
        if written is None:
            written = sorted(folder.glob("*.png"))
        elif isinstance(written, dict):
            written = list(written.values())
        out["plots"] = [str(p) for p in written]
    return out


def _parent_ok(folder: Path) -> None:
    if str(folder) and not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create folder {folder}: {exc.strerror or exc}") from None


def r2_score(y, pred) -> float:
    """Coefficient of determination (NaN when y is constant)."""
    y = np.asarray(y, dtype=float)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
