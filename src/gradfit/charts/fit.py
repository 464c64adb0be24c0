"""The data with each fit: fitted lines (one feature) or predicted vs actual; residuals."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradfit.charts.style import (
    HEIGHT,
    MAX_ROWS,
    NUMBER,
    START,
    WIDTH,
    color,
    color_scale,
    dash,
    shape,
)
from gradfit.charts.view import FitView

__all__ = ["fitted_line_chart", "residuals_chart", "points_frame", "lines_frame",
           "sample_rows", "x_range", "scatter_layer", "lines_layer", "predicted_layers",
           "diagonal_layer", "predicted_axes", "fit_points"]


def sample_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """All rows when ``n <= limit``, else a fixed random subset of `limit` rows, sorted."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def points_frame(view: FitView, limit: int = 2000) -> pd.DataFrame:
    """Training (and test) points: row, x (first feature), y, set, weight."""
    frames = []
    for label, X, y in (("train", view.X, view.y), ("test", view.X_test, view.y_test)):
        if X is None:
            continue
        idx = sample_rows(X.shape[0], limit)
        w = view.weights()[idx] if label == "train" else np.ones(len(idx))
        frames.append(pd.DataFrame({"row": idx, "x": X[idx, 0], "y": y[idx], "set": label,
                                    "weight": w}))
    return pd.concat(frames, ignore_index=True)


def x_range(view: FitView) -> tuple[float, float]:
    """Range of the first feature over training and test data."""
    xs = [view.X[:, 0]] + ([view.X_test[:, 0]] if view.X_test is not None else [])
    x = np.concatenate(xs)
    x = x[np.isfinite(x)]
    return float(x.min()), float(x.max())


def lines_frame(view: FitView) -> pd.DataFrame:
    """Each fit's line (and the start guess) over the first feature's range: two rows each.

    A diverged fit has no line (it would stretch the axis beyond use).
    """
    lo, hi = x_range(view)
    items = [(k, *view.params(k)) for k in view.names if not view.diverged(k)]
    if view.start is not None:
        items.append((START, *view.start))
    rows = []
    for name, coef, b in items:
        r = view.results.get(name)
        for x in (lo, hi):
            rows.append({"fit": name, "x": x,
                         "yhat": float(coef[0] * x + b), "slope": float(coef[0]),
                         "intercept": float(b),
                         "objective": float(r.objective) if r is not None else np.nan})
    return pd.DataFrame(rows)


def _shape(view: FitView) -> alt.Shape:
    """Training points as circles, test points (if any) as squares."""
    sets = ["train", "test"] if view.X_test is not None else ["train"]
    return alt.Shape("set:N", title="data",
                     scale=alt.Scale(domain=sets, range=["circle", "square"][:len(sets)]))


def scatter_layer(view: FitView) -> alt.Chart:
    """The training (and test) points over the first feature, with zoom and pan."""
    x_title, y_title = view.feature_names[0], view.target_name
    pts = points_frame(view)
    weighted = view.sample_weight is not None and np.ptp(view.weights()) > 0
    tips = [alt.Tooltip("row:Q", title="row"), alt.Tooltip("x:Q", title=x_title),
            alt.Tooltip("y:Q", title=y_title), alt.Tooltip("set:N", title="set")]
    enc = {"x": alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False),
                      axis=alt.Axis(format=NUMBER)),
           "y": alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False),
                      axis=alt.Axis(format=NUMBER)),
           "shape": _shape(view),
           "tooltip": tips}
    if weighted:
        enc["size"] = alt.Size("weight:Q", title="weight", scale=alt.Scale(range=[8, 120]))
        tips.append(alt.Tooltip("weight:Q", title="weight"))
    return alt.Chart(pts).mark_point(filled=True, opacity=0.45, color="#7f7f7f", size=28
                                     ).encode(**enc).interactive(name="zoom_data")


def lines_layer(view: FitView, include=None, legend=None) -> alt.Chart:
    """Each fit's line, in its own colour and dash pattern (the exact one in black dashes,
    the start guess dotted), so identical fits stay visible on top of each other.

    `include` limits the lines drawn; `legend` lists the names in the legend (default:
    those drawn).
    """
    df = lines_frame(view)
    if include is not None:
        df = df[df["fit"].isin(list(include))]
    shown = list(df["fit"]) if legend is None else legend
    return alt.Chart(df).mark_line(strokeWidth=2.5).encode(
        x="x:Q", y="yhat:Q", color=color(view, shown, symbol="stroke"),
        strokeDash=dash(view, shown),
        detail="fit:N",
        tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("slope:Q", format=".6g"),
                 alt.Tooltip("intercept:Q", format=".6g"),
                 alt.Tooltip("objective:Q", format=".6g")])


def fitted_line_chart(view: FitView) -> alt.LayerChart:
    """The data with every fit.

    One feature: the scatter of (x, y) with each fit's line, the exact fit dashed, the
    start guess (if any) dotted.  Several features: predicted against actual per fit,
    with the diagonal ``predicted = actual``.  Zoom and pan with the mouse.

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    altair.LayerChart
    """
    if view.n_features == 1:
        chart = alt.layer(scatter_layer(view), lines_layer(view))
        title = f"{view.target_name} against {view.feature_names[0]}: the data and each fit"
    else:
        chart = alt.layer(*predicted_layers(view))
        title = alt.Title(f"predicted against actual {view.target_name}",
                          subtitle=("test rows filled, training rows hollow"
                                    if view.X_test is not None else alt.Undefined))
    return chart.properties(width=WIDTH, height=HEIGHT, title=title)


def diagonal_layer(view: FitView) -> alt.Chart:
    """The line ``predicted = actual`` over the target's range."""
    ys = [view.y] + ([view.y_test] if view.y_test is not None else [])
    y = np.concatenate(ys)
    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
    return alt.Chart(pd.DataFrame({"actual": [lo, hi], "predicted": [lo, hi]})).mark_line(
        color="#555555", strokeDash=[4, 3], strokeWidth=1).encode(x="actual:Q", y="predicted:Q")


def predicted_axes(view: FitView) -> tuple[alt.X, alt.Y]:
    """Position encodings of the predicted-against-actual chart."""
    return (alt.X("actual:Q", title=f"actual {view.target_name}", scale=alt.Scale(zero=False),
                  axis=alt.Axis(format=NUMBER)),
            alt.Y("predicted:Q", title=f"predicted {view.target_name}",
                  scale=alt.Scale(zero=False), axis=alt.Axis(format=NUMBER)))


def fit_points(chart: alt.Chart, view: FitView, names, test: bool = False, size: int = 30,
               mark: dict | None = None, **enc) -> alt.Chart:
    """Points of each fit in `chart`: its own colour and shape, drawn hollow so that
    overlapping points of two fits never blend into a colour of neither.  With `test`,
    rows whose ``set`` field is ``"test"`` are filled; `mark` adds mark properties."""
    if test:
        enc["fill"] = alt.condition("datum.set == 'test'",
                                    alt.Fill("fit:N", scale=color_scale(view), legend=None),
                                    alt.value("transparent"))
    return chart.mark_point(filled=False, strokeWidth=1.3, opacity=0.85, size=size,
                            **(mark or {})).encode(
        color=color(view, names),
        shape=shape(view, names), **enc)


def predicted_layers(view: FitView) -> list[alt.Chart]:
    """Predicted against actual for every fit (test rows filled), and the diagonal.

    Diverged fits are left out.
    """
    names = [k for k in view.names if not view.diverged(k)] or view.names
    frames = []
    for label, X, y in (("train", view.X, view.y), ("test", view.X_test, view.y_test)):
        if X is None:
            continue
        idx = sample_rows(X.shape[0], max(MAX_ROWS // (2 * len(names)), 50))
        for name in names:
            coef, b = view.params(name)
            frames.append(pd.DataFrame({"fit": name, "set": label, "row": idx,
                                        "actual": y[idx],
                                        "predicted": view.predict(X[idx], coef, b)}))
    df = pd.concat(frames, ignore_index=True)
    x, y = predicted_axes(view)
    pts = fit_points(alt.Chart(df), view, names, test=view.X_test is not None, x=x, y=y,
                     tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("set:N"), alt.Tooltip("row:Q"),
                              alt.Tooltip("actual:Q", format=".6g"),
                              alt.Tooltip("predicted:Q", format=".6g")])
    return [pts.interactive(name="zoom_data"), diagonal_layer(view)]


def residuals_chart(view: FitView) -> alt.LayerChart:
    """Residuals ``y - prediction`` against fitted values for each non-exact fit.

    Only the exact fit is drawn when there is no other; diverged fits are left out.

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    altair.LayerChart
    """
    names = [k for k in view.fit_names if not view.diverged(k)] or view.fit_names
    idx = sample_rows(view.X.shape[0], max(MAX_ROWS // len(names), 50))
    frames = []
    for name in names:
        coef, b = view.params(name)
        fitted = view.predict(view.X[idx], coef, b)
        frames.append(pd.DataFrame({"fit": name, "row": idx, "fitted": fitted,
                                    "residual": view.y[idx] - fitted}))
    df = pd.concat(frames, ignore_index=True)
    pts = fit_points(
        alt.Chart(df), view, names,
        x=alt.X("fitted:Q", title=f"fitted {view.target_name}", scale=alt.Scale(zero=False),
                axis=alt.Axis(format=NUMBER)),
        y=alt.Y("residual:Q", title="residual (actual − fitted)",
                axis=alt.Axis(format=NUMBER)),
        tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("row:Q"),
                 alt.Tooltip("fitted:Q", format=".6g"),
                 alt.Tooltip("residual:Q", format=".6g")])
    zero = alt.Chart(pd.DataFrame({"residual": [0.0]})).mark_rule(
        color="#555555", strokeDash=[4, 3]).encode(y="residual:Q")
    return alt.layer(pts, zero).properties(
        width=WIDTH, height=HEIGHT, title="residuals against fitted values")
