"""Each solver's path over the contours of the objective."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradfit.charts import landscape as ls
from gradfit.charts.raster import colorize, png_data_url
from gradfit.charts.style import HEIGHT, START, WIDTH, color, dash
from gradfit.charts.view import FitView

__all__ = ["descent_path_chart", "path_chart", "path_layers", "heatmap_frame", "path_scales"]


def heatmap_frame(view: FitView, axes=None, num: int = 60, ext=None) -> pd.DataFrame:
    """The objective at the centres of a ``num x num`` grid of cells.

    Columns: p, q (the cell centre), p0, p1, q0, q1 (its edges), F (the squared
    objective there) and excess (``F`` above the optimum, floored positive for a log
    colour scale).
    """
    p, q, F = ls.objective_grid(view, axes, num=num, ext=ext)
    hp, hq = (p[1] - p[0]) / 2, (q[1] - q[0]) / 2
    P, Q = np.meshgrid(p, q)
    base = min(float(F.min()), view.squared_objective(*view.reference()))
    excess = F - base
    floor = max(float(excess.max()) * 1e-7, np.finfo(float).tiny)
    return pd.DataFrame({"p": P.ravel(), "q": Q.ravel(), "p0": P.ravel() - hp,
                         "p1": P.ravel() + hp, "q0": Q.ravel() - hq, "q1": Q.ravel() + hq,
                         "F": F.ravel(), "excess": np.maximum(excess.ravel(), floor)})


def path_scales(view: FitView, axes, ext=None, fields=("p", "q")) -> tuple[alt.X, alt.Y]:
    """Position encodings of the two axes, with the grid's extent as domain."""
    (plo, phi), (qlo, qhi) = ext or ls.extent(view, axes)
    x = alt.X(f"{fields[0]}:Q", title=ls.axis_label(view, axes[0]),
              scale=alt.Scale(domain=[plo, phi], nice=False, zero=False))
    y = alt.Y(f"{fields[1]}:Q", title=ls.axis_label(view, axes[1]),
              scale=alt.Scale(domain=[qlo, qhi], nice=False, zero=False))
    return x, y


def _marks_frame(view: FitView, axes) -> pd.DataFrame:
    a, c = axes
    rows = []
    ref = ls.theta(*view.reference())
    what = "exact optimum" if view.exact is not None else "best fit (lowest objective)"
    rows.append({"fit": view.reference_name, "what": what, "p": ref[a], "q": ref[c],
                 "F": view.squared_objective(*view.reference())})
    if view.start is not None:
        th = ls.theta(*view.start)
        rows.append({"fit": START, "what": "start guess", "p": th[a], "q": th[c],
                     "F": view.squared_objective(*view.start)})
    return pd.DataFrame(rows)


def descent_path_chart(view: FitView, axes=None, num: int = 24,
                       line_num: int = 121) -> alt.LayerChart:
    """Contours of the squared objective with each iterative solver's path on top.

    One feature: over (slope, intercept).  Two: over the two coefficients.  More: over
    two coefficients (`axes`, default the two largest standardized ones), every other
    parameter held at the exact optimum; the subtitle says which.
    The grid covers every path, the optimum and the start guess.  A log-coloured
    heatmap plus contour lines at geometrically spaced levels show the bowl; plain
    descent's zig-zag and momentum's overshoot show in the drawn points.  Zoom and pan
    with the mouse.

    Parameters
    ----------
    view : FitView
        The data and the fits.
    axes : (int or str, int or str), optional
        The x and y axes: indices into ``(coef_0, ..., coef_{d-1}, intercept)`` or
        feature names (``"intercept"`` for the intercept).
    num : int, default 24
        Cells per side of the transparent grid that shows the objective on hover.
    line_num : int, default 121
        Points per side of the grid the raster and the contour lines are computed on.

    Returns
    -------
    altair.LayerChart
    """
    axes = ls.resolve_axes(view, axes)
    return path_chart(view, path_layers(view, axes, num, line_num), axes)


def path_chart(view: FitView, layers, axes=None) -> alt.LayerChart:
    """Wrap the path chart's layers: size and title (saying which parameters)."""
    note = ls.axes_note(view, ls.resolve_axes(view, axes))
    title = alt.Title("descent paths over the objective's contours",
                      subtitle=note or alt.Undefined)
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=title)


def _raster_layer(p, q, F, base: float, x: alt.X, y: alt.Y) -> alt.Chart:
    """The objective as one smooth image: log of ``F - base``, dark at the bottom."""
    excess = F - base
    pos = excess[excess > 0]
    lo = float(pos.min()) if pos.size else 1.0
    with np.errstate(divide="ignore"):
        logs = np.log(np.maximum(excess, lo))
    span = float(logs.max() - logs.min()) or 1.0
    rgb = colorize(1.0 - (logs - logs.min()) / span)[::-1]  # image row 0 is the top
    hp, hq = (p[1] - p[0]) / 2, (q[1] - q[0]) / 2
    frame = pd.DataFrame({"url": [png_data_url(rgb)], "p0": [p[0] - hp], "p1": [p[-1] + hp],
                          "q0": [q[0] - hq], "q1": [q[-1] + hq]})
    return alt.Chart(frame).mark_image(clip=True, aspect=False, smooth=True).encode(
        x=x, x2="p1:Q", y=y, y2="q1:Q", url="url:N")


def path_layers(view: FitView, axes=None, num: int = 24,
                line_num: int = 121) -> list[alt.Chart]:
    """The path chart's layers.

    A smooth raster of the objective on a ``line_num`` grid (log colour), a transparent
    ``num x num`` grid of cells that shows the objective's value on hover, contour lines,
    each path, and the optimum and start guess as diamonds.
    """
    axes = ls.resolve_axes(view, axes)
    ext = ls.extent(view, axes)
    x, y = path_scales(view, axes, ext, fields=("p0", "q0"))
    p, q, F = ls.objective_grid(view, axes, num=line_num, ext=ext)
    base = min(float(F.min()), view.squared_objective(*view.reference()))
    lines = ls.contour_frame(p, q, F, ls.contour_levels(F, base))
    marks = _marks_frame(view, axes)
    shown = list(ls.path_frame(view, axes)["fit"].unique()) + list(marks["fit"])

    hover = heatmap_frame(view, axes, num=num, ext=ext)
    layers = [_raster_layer(p, q, F, base, x, y),
              alt.Chart(hover).mark_rect(clip=True, opacity=0).encode(
                  x=alt.X("p0:Q"), x2="p1:Q", y=alt.Y("q0:Q"), y2="q1:Q",
                  tooltip=[alt.Tooltip("p:Q", title=ls.axis_label(view, axes[0]),
                                       format=".6g"),
                           alt.Tooltip("q:Q", title=ls.axis_label(view, axes[1]),
                                       format=".6g"),
                           alt.Tooltip("F:Q", title="objective F", format=".6g")]
              ).interactive(name="zoom_path")]
    if len(lines):
        layers.append(alt.Chart(lines).mark_line(
            clip=True, color="#3c3c3c", strokeWidth=0.7, opacity=0.55).encode(
            x="p:Q", y="q:Q", detail="line:N", order="order:Q",
            tooltip=[alt.Tooltip("level:Q", title="F on this contour", format=".6g")]))
    paths = ls.path_frame(view, axes)
    if len(paths):
        enc = dict(x="p:Q", y="q:Q")
        tips = [alt.Tooltip("fit:N"), alt.Tooltip("epoch:Q"),
                alt.Tooltip("objective:Q", format=".8g"),
                alt.Tooltip("p:Q", title=ls.axis_label(view, axes[0]), format=".6g"),
                alt.Tooltip("q:Q", title=ls.axis_label(view, axes[1]), format=".6g")]
        pc = alt.Chart(paths)
        layers += [pc.mark_line(clip=True, strokeWidth=1.6).encode(
                       order="k:Q", color=color(view, shown, symbol="stroke"),
                       strokeDash=dash(view, shown),
                       **enc),
                   pc.mark_point(clip=True, filled=True, size=22, opacity=0.9).encode(
                       tooltip=tips, color=color(view, shown, legend=False), **enc)]
    layers.append(alt.Chart(marks).mark_point(
        clip=True, shape="diamond", size=140, filled=True, stroke="white", strokeWidth=1).encode(
        x="p:Q", y="q:Q", color=color(view, shown, legend=not len(paths)),
        tooltip=[alt.Tooltip("what:N"), alt.Tooltip("p:Q", format=".6g"),
                 alt.Tooltip("q:Q", format=".6g"),
                 alt.Tooltip("F:Q", title="objective F", format=".6g")]))
    return layers
