"""The objective per iteration, log scale, against the exact optimum."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from gradfit.charts.style import HEIGHT, MAX_ROWS, WIDTH, color, thin_index
from gradfit.charts.view import FitView

__all__ = ["loss_curve_chart", "loss_layers", "history_frame", "log_floor"]


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


def loss_curve_chart(view: FitView) -> alt.LayerChart:
    """The objective per iteration of each iterative fit on a log scale.

    The exact optimum's objective is a dashed horizontal rule.  Values at or below zero
    (a fit that reaches an optimum of 0) are drawn at a positive floor.

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    altair.LayerChart
    """
    layers, _ = loss_layers(view)
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT,
                                         title="objective per iteration")


def loss_layers(view: FitView) -> tuple[list[alt.Chart], float]:
    """The loss chart's layers, and the floor below which values are drawn at the floor."""
    df = history_frame(view)
    exact = view.exact
    ref = [float(exact.objective)] if exact is not None and np.isfinite(exact.objective) else []
    floor = log_floor(np.concatenate([df["objective"].to_numpy(dtype=float), ref]))
    df["shown"] = np.maximum(df["objective"].to_numpy(dtype=float), floor)
    y = alt.Y("shown:Q", title="objective F (log scale)",
              scale=alt.Scale(type="log"))
    tips = [alt.Tooltip("fit:N"), alt.Tooltip("epoch:Q"),
            alt.Tooltip("objective:Q", format=".10g"),
            alt.Tooltip("grad_norm:Q", title="gradient norm", format=".3g"),
            alt.Tooltip("lr:Q", title="learning rate", format=".3g")]
    layers = []
    if len(df):
        base = alt.Chart(df).encode(x=alt.X("epoch:Q", title="iteration (epoch)"), y=y,
                                    color=color(view, view.path_names))
        layers += [base.mark_line(strokeWidth=2),
                   base.mark_point(size=14, filled=True, opacity=0.6).encode(
                       tooltip=tips)]
    if ref:
        rdf = pd.DataFrame({"shown": [max(ref[0], floor)], "objective": ref,
                            "label": [f"exact optimum F* = {ref[0]:.6g}"]})
        rule = alt.Chart(rdf).encode(y=y, tooltip=[alt.Tooltip("label:N", title="reference")])
        layers += [rule.mark_rule(color="#222222", strokeDash=[6, 4], strokeWidth=1.5),
                   rule.mark_text(align="right", baseline="bottom", dy=-3, x="width",
                                  color="#222222").encode(text="label:N")]
    if not layers:
        layers = [alt.Chart(pd.DataFrame({"t": ["no iterations recorded"]})).mark_text(
            size=14).encode(text="t:N")]
    return layers, floor
