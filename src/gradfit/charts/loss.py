"""The objective per iteration on log scales: the gap to the exact optimum where it is known.

With the exact optimum F* among the fits, the chart shows the gap ``F - F*`` (log scale):
linear convergence is a straight line and the last digits stay visible, where ``F`` itself
would be an "L" that flattens onto F*.  When most of the change happens in the first tenth
of the run (``front_loaded``), the iteration axis is symmetric-log too, so the first steps
get room.
"""

from __future__ import annotations

from typing import NamedTuple

import altair as alt
import numpy as np
import pandas as pd

from gradfit.charts.style import HEIGHT, MAX_ROWS, WIDTH, color, dash, thin_index
from gradfit.charts.view import FitView

__all__ = ["loss_curve_chart", "loss_layers", "history_frame", "log_floor", "LossAxes",
           "loss_axes", "front_loaded"]


def history_frame(view: FitView, limit: int = MAX_ROWS) -> pd.DataFrame:
    """One row per kept record of each iterative fit.

    Columns: fit, k (record index), epoch, objective, grad_norm, lr.  Records with a
    non-finite objective (a diverging run) are dropped; at most `limit` rows in all.
    """
    names = view.path_names
    per = max(limit // max(len(names), 1), 2)
    frames = []
    for name in names:
        h = view.results[name].history
        idx = thin_index(len(h), per)
        frames.append(pd.DataFrame({"fit": name, "k": idx, "epoch": h.epoch[idx],
                                    "objective": h.objective[idx],
                                    "grad_norm": h.grad_norm[idx], "lr": h.lr[idx]}))
    if not frames:
        return pd.DataFrame(columns=["fit", "k", "epoch", "objective", "grad_norm", "lr"])
    df = pd.concat(frames, ignore_index=True)
    return df[np.isfinite(df["objective"].to_numpy(dtype=float))].reset_index(drop=True)


def log_floor(values) -> float:
    """A positive floor for a log axis: a tenth of the smallest positive value.

    An objective that reaches an exact optimum of 0 is drawn at this floor, so the log
    scale never sees a zero.
    """
    v = np.asarray(values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    return float(pos.min()) / 10 if pos.size else 1e-12


def front_loaded(epochs, values, share: float = 0.8, within: float = 0.1) -> bool:
    """Whether at least `share` of the fall of ``log(values)`` happens within the first
    `within` of the epochs (and the run is long enough, 30 epochs or more, to care)."""
    e = np.asarray(epochs, dtype=float)
    v = np.log(np.asarray(values, dtype=float))
    if e.size < 3 or e[-1] - e[0] < 30 or not v[0] > v[-1]:
        return False
    early = v[e <= e[0] + within * (e[-1] - e[0])]
    return bool((v[0] - early.min()) >= share * (v[0] - v.min()))


class LossAxes(NamedTuple):
    """How the loss chart maps a record: ``shown = max(objective - offset, floor)`` on a log
    y axis; the iteration axis is symmetric-log when `log_x`."""

    offset: float
    floor: float
    log_x: bool
    gap: bool
    y_range: tuple = (1e-12, 1.0)
    last_epoch: int = 1

    def y(self) -> alt.Y:
        """The y encoding of the ``shown`` field: labels at powers of ten only."""
        title = ("objective gap F − F* (log scale)" if self.gap
                 else "objective F (log scale)")
        return alt.Y("shown:Q", title=title, scale=alt.Scale(type="log"),
                     axis=alt.Axis(values=decades(*self.y_range), format=".0e"))

    def x(self, field: str = "epoch") -> alt.X:
        """The x encoding of an epoch `field`."""
        if self.log_x:
            return alt.X(f"{field}:Q", title="iteration (epoch, symmetric log scale)",
                         scale=alt.Scale(type="symlog", domain=[0, self.last_epoch],
                                         nice=False),
                         axis=alt.Axis(values=one_two_five(self.last_epoch), format=",.0f"))
        return alt.X(f"{field}:Q", title="iteration (epoch)", axis=alt.Axis(format=",.0f",
                                                                             tickMinStep=1))

    def expr(self, field: str = "objective") -> str:
        """The Vega expression of ``shown`` from a record's `field`."""
        return f"max(datum.{field} - {self.offset!r}, {self.floor!r})"


def decades(lo: float, hi: float, most: int = 9) -> list[float]:
    """Powers of ten from below `lo` to above `hi`, every k-th so at most `most` remain."""
    a = int(np.floor(np.log10(lo))) if lo > 0 else -12
    b = int(np.ceil(np.log10(hi))) if hi > 0 else a + 1
    step = max(1, int(np.ceil((b - a + 1) / most)))
    return [float(10.0 ** e) for e in range(b, a - 1, -step)][::-1]


def one_two_five(top: float) -> list[int]:
    """0 and the 1-2-5 sequence up to `top` (ticks of a symmetric-log iteration axis)."""
    out, base = [0], 1
    while base <= top:
        out += [v for v in (base, 2 * base, 5 * base) if v <= top]
        base *= 10
    return out


def loss_axes(view: FitView, df: pd.DataFrame | None = None) -> LossAxes:
    """The loss chart's axes for `view` (see :class:`LossAxes`)."""
    df = history_frame(view) if df is None else df
    exact = view.exact
    gap = exact is not None and np.isfinite(exact.objective) and len(df) > 0
    offset = float(exact.objective) if gap else 0.0
    vals = df["objective"].to_numpy(dtype=float) - offset
    floor = log_floor(vals)
    log_x = False
    for name in view.path_names:
        part = df[df["fit"] == name]
        if len(part) and front_loaded(part["epoch"], np.maximum(
                part["objective"].to_numpy(dtype=float) - offset, floor)):
            log_x = True
    shown = np.maximum(vals, floor)
    shown = shown[np.isfinite(shown)]
    y_range = (float(shown.min()), float(shown.max())) if shown.size else (floor, 1.0)
    last = int(df["epoch"].max()) if len(df) else 1
    return LossAxes(offset, floor, log_x, bool(gap), y_range, max(last, 1))


def loss_curve_chart(view: FitView) -> alt.LayerChart:
    """The objective per iteration of each iterative fit on a log scale.

    With the exact optimum among the fits, the gap ``F - F*`` is drawn (F* named in the
    subtitle); values at or below zero are drawn at a positive floor.  A run whose fall is
    front-loaded gets a symmetric-log iteration axis.

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    altair.LayerChart
    """
    layers, axes = loss_layers(view)
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT,
                                         title=loss_title(view, axes))


def loss_title(view: FitView, axes: LossAxes) -> alt.Title:
    """Title and subtitle of the loss chart: what is drawn, against which optimum."""
    if axes.gap:
        sub = [f"F* = {float(view.exact.objective):.10g}, the exact optimum ({view.exact_name})"]
    elif not view.path_names:
        sub = [f"{k}: F = {float(r.objective):.10g}" for k, r in view.results.items()
               if np.isfinite(r.objective)][:3]
    else:
        sub = ["no exact optimum among the fits: the objective itself"]
    if axes.log_x:
        sub.append("most of the fall is in the first tenth of the run: log iteration axis")
    return alt.Title("objective gap per iteration" if axes.gap else "objective per iteration",
                     subtitle=sub)


def loss_layers(view: FitView) -> tuple[list[alt.Chart], LossAxes]:
    """The loss chart's layers, and the axes (offset, floor, scales) they are drawn on."""
    df = history_frame(view)
    axes = loss_axes(view, df)
    df["shown"] = np.maximum(df["objective"].to_numpy(dtype=float) - axes.offset, axes.floor)
    tips = [alt.Tooltip("fit:N"), alt.Tooltip("epoch:Q"),
            alt.Tooltip("objective:Q", format=".10g"),
            alt.Tooltip("grad_norm:Q", title="gradient norm", format=".3g"),
            alt.Tooltip("lr:Q", title="learning rate", format=".3g")]
    if axes.gap:
        tips.insert(3, alt.Tooltip("shown:Q", title="F − F*", format=".3g"))
    layers = []
    if len(df):
        names = view.path_names
        base = alt.Chart(df).encode(x=axes.x(), y=axes.y(),
                                    color=color(view, names, symbol="stroke"))
        layers += [base.mark_line(strokeWidth=2).encode(strokeDash=dash(view, names)),
                   base.mark_point(size=40, filled=True, opacity=0).encode(
                       tooltip=tips, color=color(view, names, legend=False))]
    if not layers:
        layers = [alt.Chart(pd.DataFrame({"t": ["no iterations recorded (a closed form "
                                                "solves in one step)"]})).mark_text(
            size=13).encode(text="t:N")]
    return layers, axes
