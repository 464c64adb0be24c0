"""Shared look of the charts: one colour, one dash and one point shape per fit, sizes,
row limits and number formats.

Two fits that land on the same line stay apart: each fit has its own dash pattern (the
first solid, the next ones dashed differently, the exact optimum in black dashes) and its
own point shape, and points are drawn hollow, so an overlap never blends two colours into a
third that matches no legend entry.
"""

from __future__ import annotations

import altair as alt
import numpy as np

from gradfit.charts.view import FitView

__all__ = ["WIDTH", "HEIGHT", "MAX_ROWS", "START", "NUMBER", "color", "color_scale",
           "fit_color", "dash", "shape", "fit_dash", "thin_index"]

WIDTH = 380
HEIGHT = 300
MAX_ROWS = 4500  # below Altair's 5000-row guard for inline data
START = "start guess"
EXACT_COLOR = "#222222"
START_COLOR = "#9a9a9a"
EXACT_DASH = [6, 4]
START_DASH = [2, 3]
EXACT_SHAPE = "diamond"
START_SHAPE = "cross"
#: d3's format for axis labels: up to 4 significant digits, no exponent for 200 or 0.05
NUMBER = "~r"
_PALETTE = ["#1f77b4", "#e4572e", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
            "#8c564b", "#e377c2", "#bcbd22"]
_DASHES = [[1, 0], [9, 3], [3, 2], [12, 3, 2, 3], [1, 2], [6, 2, 1, 2, 1, 2]]
_SHAPES = ["circle", "square", "triangle-up", "triangle-down", "triangle-right", "wedge"]


def _domain(view: FitView) -> tuple[list[str], list[str], list, list[str]]:
    """Names in display order with their colour, dash pattern and point shape."""
    names, colors, dashes, shapes, i = [], [], [], [], 0
    for k in view.names:
        names.append(k)
        if view.is_exact(k):
            colors.append(EXACT_COLOR)
            dashes.append(EXACT_DASH)
            shapes.append(EXACT_SHAPE)
        else:
            colors.append(_PALETTE[i % len(_PALETTE)])
            dashes.append(_DASHES[i % len(_DASHES)])
            shapes.append(_SHAPES[i % len(_SHAPES)])
            i += 1
    if view.start is not None:
        names.append(START)
        colors.append(START_COLOR)
        dashes.append(START_DASH)
        shapes.append(START_SHAPE)
    return names, colors, dashes, shapes


def _legend(view: FitView, shown, legend: bool, symbol: str | None = None):
    names = _domain(view)[0]
    values = [k for k in names if k in set(shown)]
    if not legend:  # another layer of the chart draws the legend: leave it unset (a null
        return alt.Undefined  # here would conflict with that layer's legend in Vega-Lite)
    if symbol == "stroke":  # long enough to show each dash pattern
        return alt.Legend(values=values, symbolType="stroke", symbolStrokeWidth=2.5,
                          symbolSize=500)
    return alt.Legend(values=values, symbolStrokeWidth=2, symbolSize=120)


def color_scale(view: FitView) -> alt.Scale:
    """The colour scale shared by every chart: fits in `view.results` order, exact in black."""
    names, colors, _, _ = _domain(view)
    return alt.Scale(domain=names, range=colors)


def color(view: FitView, shown, title: str = "fit", legend: bool = True,
          symbol: str | None = None) -> alt.Color:
    """Colour by the ``fit`` field; the legend lists only the names in `shown`, with
    `symbol` ("stroke" for lines) as its symbol type.  ``legend=False`` leaves the legend
    to another layer of the same chart."""
    return alt.Color("fit:N", title=title, scale=color_scale(view),
                     legend=_legend(view, shown, legend, symbol))


def dash(view: FitView, shown, title: str = "fit", legend: bool = True) -> alt.StrokeDash:
    """Dash pattern by the ``fit`` field (merges with :func:`color`'s legend of lines: same
    title, give that one ``symbol="stroke"``)."""
    names, _, dashes, _ = _domain(view)
    return alt.StrokeDash("fit:N", title=title, scale=alt.Scale(domain=names, range=dashes),
                          legend=_legend(view, shown, legend, "stroke"))


def shape(view: FitView, shown, title: str = "fit", legend: bool = True) -> alt.Shape:
    """Point shape by the ``fit`` field (merges with :func:`color`'s legend: same title)."""
    names, _, _, shapes = _domain(view)
    return alt.Shape("fit:N", title=title, scale=alt.Scale(domain=names, range=shapes),
                     legend=_legend(view, shown, legend))


def fit_color(view: FitView, name: str) -> str:
    """The colour of fit `name` (or of the start guess)."""
    names, colors, _, _ = _domain(view)
    return colors[names.index(name)]


def fit_dash(view: FitView, name: str) -> list:
    """The dash pattern of fit `name` (or of the start guess)."""
    names, _, dashes, _ = _domain(view)
    return dashes[names.index(name)]


def thin_index(m: int, limit: int) -> np.ndarray:
    """At most `limit` evenly spread indices of ``range(m)``, first and last kept."""
    if m <= limit:
        return np.arange(m)
    return np.unique(np.round(np.linspace(0, m - 1, max(limit, 2))).astype(int))
