"""The report's one interactive Vega-Lite spec: four charts sharing an iteration slider.

The slider is a top-level variable parameter bound to an HTML range input.  A table of
every iterative fit's parameters at each slider value (``slider_frame``) feeds three
moving layers: the fitted line (or predicted points) over the data, a marker on the
descent path, and a rule plus markers on the loss curve.  The fitted line is computed in
the browser from the looked-up coefficients, so moving the slider redraws it.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradfit.charts import landscape as ls
from gradfit.charts.fit import (
    diagonal_layer,
    fit_points,
    lines_layer,
    predicted_axes,
    residuals_chart,
    sample_rows,
    scatter_layer,
    x_range,
)
from gradfit.charts.loss import loss_layers, loss_title
from gradfit.charts.path import path_chart, path_layers
from gradfit.charts.style import HEIGHT, MAX_ROWS, START, WIDTH, color, dash, thin_index
from gradfit.charts.view import FitView

__all__ = ["SLIDER", "slider_frame", "report_chart"]

SLIDER = "iteration"  # the vega signal name of the slider


def _clean(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def slider_frame(view: FitView, max_steps: int = 1001, thinned: int = 400, axes=None):
    """Every iterative fit's state at each slider value.

    The slider runs over epochs when the fits' recorded epochs are contiguous and at
    most `max_steps`; otherwise over `thinned` steps spread over the recorded epochs
    (fewer with many fits, to keep the table under ``MAX_ROWS`` rows).
    At each value a fit shows its latest record at or before that epoch; the parameters
    of a diverging state (objective above ``view.divergence_bound()``) are left empty.

    Returns
    -------
    frame : DataFrame
        Columns: key (``"<fit>:<value>"``), v (slider value), epoch (the value's epoch),
        fit, rec_epoch, objective, c0..c{d-1}, b, p, q (the path chart's `axes`, by
        default :func:`gradfit.charts.landscape.default_axes`).
    values_are_epochs : bool
    """
    names = view.path_names
    if not names:
        return pd.DataFrame(), True
    epochs = np.unique(np.concatenate([view.results[k].history.epoch for k in names]))
    room = MAX_ROWS // len(names)  # rows in all stay under Altair's inline-data limit
    contiguous = len(epochs) <= min(max_steps, room) and np.all(np.diff(epochs) == 1)
    if not contiguous:
        epochs = epochs[thin_index(len(epochs), min(thinned, room))]
    values = epochs if contiguous else np.arange(len(epochs))
    a, c = ls.resolve_axes(view, axes)
    bound = view.divergence_bound()
    frames = []
    for name in names:
        h = view.results[name].history
        coef, icp = view.history_params(name)
        r = np.maximum(np.searchsorted(h.epoch, epochs, side="right") - 1, 0)
        th = ls.theta(coef[r], icp[r])
        wild = ~(h.objective[r] <= bound)  # a diverging state: not drawn
        th[wild] = np.nan
        df = pd.DataFrame({"key": [f"{name}:{int(v)}" for v in values], "v": values,
                           "epoch": epochs, "fit": name, "rec_epoch": h.epoch[r],
                           "objective": _clean(h.objective[r])})
        for j in range(view.n_features):
            df[f"c{j}"] = _clean(th[:, j])
        df["b"] = _clean(th[:, -1])
        df["p"], df["q"] = _clean(th[:, a]), _clean(th[:, c])
        frames.append(df)
    return pd.concat(frames, ignore_index=True), bool(contiguous)


def _prediction_expr(d: int) -> str:
    terms = " + ".join(f"datum.c{j} * datum.x{j}" for j in range(d))
    return f"{terms} + datum.b"


def _lookup(frame: pd.DataFrame, d: int) -> alt.LookupData:
    fields = [f"c{j}" for j in range(d)] + ["b", "rec_epoch", "objective"]
    return alt.LookupData(data=frame[["key"] + fields], key="key", fields=fields)


def _moving_fit(view: FitView, frame: pd.DataFrame, slider) -> list[alt.Chart]:
    """The fitted line at the slider's iteration (predicted points with several features)."""
    d, names = view.n_features, view.path_names
    every = view.names + ([START] if view.start is not None else [])
    key = f"datum.fit + ':' + {slider.name}"
    tips = [alt.Tooltip("fit:N"), alt.Tooltip("rec_epoch:Q", title="epoch"),
            alt.Tooltip("objective:Q", format=".8g")]
    if d == 1:
        lo, hi = x_range(view)
        base = pd.DataFrame([{"fit": k, "x0": x} for k in names for x in (lo, hi)])
        chart = alt.Chart(base).transform_calculate(key=key
            ).transform_lookup(lookup="key", from_=_lookup(frame, d)
            ).transform_calculate(yhat=_prediction_expr(d), x="datum.x0"
            ).transform_filter("isValid(datum.yhat) && isFinite(datum.yhat)")
        return [chart.mark_line(strokeWidth=3.5, ariaRoleDescription="moving-fit").encode(
            x="x:Q", y="yhat:Q", color=color(view, every, symbol="stroke"),
            strokeDash=dash(view, every),
            detail="fit:N", tooltip=tips)]
    idx = sample_rows(view.X.shape[0], max(1500 // len(names), 50))
    rows = []
    for k in names:
        df = pd.DataFrame({"fit": k, "row": idx, "actual": view.y[idx]})
        for j in range(d):
            df[f"x{j}"] = view.X[idx, j]
        rows.append(df)
    x, y = predicted_axes(view)
    chart = alt.Chart(pd.concat(rows, ignore_index=True)).transform_calculate(key=key
        ).transform_lookup(lookup="key", from_=_lookup(frame, d)
        ).transform_calculate(predicted=_prediction_expr(d)
        ).transform_filter("isValid(datum.predicted) && isFinite(datum.predicted)")
    return [fit_points(chart, view, names, size=26,
                       mark={"ariaRoleDescription": "moving-fit"}, x=x, y=y,
                       tooltip=tips + [alt.Tooltip("row:Q"),
                                       alt.Tooltip("actual:Q", format=".6g"),
                                       alt.Tooltip("predicted:Q", format=".6g")])]


def _at_slider(frame: pd.DataFrame, slider) -> alt.Chart:
    return alt.Chart(frame).transform_filter(f"datum.v == {slider.name}")


def _label(frame: pd.DataFrame, slider, values_are_epochs: bool) -> alt.Chart:
    """A text 'iteration N' in the fit chart's corner."""
    first = frame[frame["fit"] == frame["fit"].iloc[0]]
    text = ("'iteration ' + datum.epoch" if values_are_epochs
            else "'step ' + datum.v + ' (epoch ' + datum.epoch + ')'")
    return _at_slider(first, slider).transform_calculate(
        label=text).mark_text(align="left", baseline="top", x=6, y=6, fontSize=13,
                              fontWeight="bold", color="#333333").encode(text="label:N")


def report_chart(view: FitView, axes=None) -> alt.TopLevelMixin:
    """The four charts in a 2 x 2 grid, sharing an iteration slider.

    With iterative fits the slider drives the fitted line (or predicted points), the
    marker on the descent path and the rule on the loss curve together.

    Parameters
    ----------
    view : FitView
        The data and the fits.
    axes : pair of int or str, optional
        The descent path's two parameters (see
        :func:`gradfit.charts.landscape.resolve_axes`).

    Returns
    -------
    altair.VConcatChart
    """
    axes = ls.resolve_axes(view, axes)
    frame, values_are_epochs = slider_frame(view, axes=axes)
    has_slider = len(frame) > 0
    names = view.path_names
    if view.n_features == 1:
        title = f"{view.target_name} against {view.feature_names[0]}"
        every = view.names + ([START] if view.start is not None else [])
        static = [k for k in every if not has_slider or k not in names]
        fit_layers = [scatter_layer(view), lines_layer(view, include=static, legend=every)]
    else:
        title = f"predicted against actual {view.target_name}"
        fit_layers = [diagonal_layer(view)]
    p_layers = path_layers(view, axes)
    l_layers, loss_axes = loss_layers(view)
    slider = None
    if has_slider:
        values = frame["v"].to_numpy()
        label = "iteration " if values_are_epochs else "step "
        slider = alt.param(name=SLIDER, value=int(values.max()),
                           bind=alt.binding_range(min=int(values.min()),
                                                  max=int(values.max()), step=1,
                                                  name=label))
        fit_layers += _moving_fit(view, frame, slider) + [_label(frame, slider,
                                                                  values_are_epochs)]
        at = _at_slider(frame, slider).transform_filter("isValid(datum.p)")
        p_layers.append(at.mark_point(shape="circle", size=190, filled=True, stroke="black",
                                      strokeWidth=1.5, opacity=1,
                                      ariaRoleDescription="path-marker").encode(
            x="p:Q", y="q:Q", color=color(view, names, legend=False),
            tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("rec_epoch:Q", title="epoch"),
                     alt.Tooltip("objective:Q", format=".8g")]))
        at_loss = _at_slider(frame, slider).transform_filter("isValid(datum.objective)"
                                                             ).transform_calculate(
            shown=loss_axes.expr())
        l_layers += [at_loss.mark_rule(color="#555555", strokeDash=[2, 2],
                                       ariaRoleDescription="loss-rule").encode(
                         x=loss_axes.x()),
                     at_loss.mark_point(size=110, filled=True, stroke="black",
                                        ariaRoleDescription="loss-marker").encode(
                         x=loss_axes.x("rec_epoch"), y=loss_axes.y(),
                         color=color(view, names, legend=False),
                         tooltip=[alt.Tooltip("fit:N"), alt.Tooltip("rec_epoch:Q",
                                                                     title="epoch"),
                                  alt.Tooltip("objective:Q", format=".8g")])]
    fit = alt.layer(*fit_layers).properties(width=WIDTH, height=HEIGHT, title=title)
    loss = alt.layer(*l_layers).properties(width=WIDTH, height=HEIGHT,
                                           title=loss_title(view, loss_axes))
    apart = dict(color="independent", shape="independent", size="independent",
                 strokeDash="independent")
    top = alt.hconcat(fit, path_chart(view, p_layers, axes)).resolve_scale(**apart)
    bottom = alt.hconcat(loss, residuals_chart(view)).resolve_scale(**apart)
    chart = alt.vconcat(top, bottom).resolve_scale(**apart)
    if slider is not None:
        chart = chart.add_params(slider)
    return chart
