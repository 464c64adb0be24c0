"""Shared look of the charts: one colour per fit, sizes, and row limits."""

from __future__ import annotations

import altair as alt
import numpy as np

from gradfit.charts.view import FitView

__all__ = ["WIDTH", "HEIGHT", "MAX_ROWS", "START", "color", "color_scale", "fit_color",
           "thin_index"]

WIDTH = 380
HEIGHT = 300
MAX_ROWS = 4500  # below Altair's 5000-row guard for inline data
START = "start guess"
EXACT_COLOR = "#222222"
START_COLOR = "#9a9a9a"
_PALETTE = ["#1f77b4", "#e4572e", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
            "#8c564b", "#e377c2", "#bcbd22"]


def _domain(view: FitView) -> tuple[list[str], list[str]]:
    names, colors, i = [], [], 0
    for k in view.names:
        names.append(k)
        if view.is_exact(k):
            colors.append(EXACT_COLOR)
        else:
            colors.append(_PALETTE[i % len(_PALETTE)])
            i += 1
    if view.start is not None:
        names.append(START)
        colors.append(START_COLOR)
    return names, colors


def color_scale(view: FitView) -> alt.Scale:
    """The colour scale shared by every chart: fits in `view.results` order, exact in black."""
    names, colors = _domain(view)
    return alt.Scale(domain=names, range=colors)


def color(view: FitView, shown, title: str = "fit", legend: bool = True) -> alt.Color:
    """Colour by the ``fit`` field; the legend (if any) lists only the names in `shown`."""
    names, _ = _domain(view)
    values = [k for k in names if k in set(shown)]
    leg = alt.Legend(values=values) if legend else None
    return alt.Color("fit:N", title=title, scale=color_scale(view), legend=leg)


def fit_color(view: FitView, name: str) -> str:
    """The colour of fit `name` (or of the start guess)."""
    names, colors = _domain(view)
    return colors[names.index(name)]


def thin_index(m: int, limit: int) -> np.ndarray:
    """At most `limit` evenly spread indices of ``range(m)``, first and last kept."""
    if m <= limit:
        return np.arange(m)
    return np.unique(np.round(np.linspace(0, m - 1, max(limit, 2))).astype(int))
