"""The objective's landscape over two parameters: grid values, contour lines, paths.

A parameter vector is ``theta = (coef_0, ..., coef_{d-1}, intercept)``; an *axis* is an
index into it (``d`` is the intercept).  The landscape is the squared objective

    F(w, b) = sum_i s_i (y_i - x_i.w - b)^2 / sum_i s_i

over two axes, every other parameter held at the reference point (the exact optimum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradfit.charts.style import MAX_ROWS, START, thin_index
from gradfit.charts.view import FitView

__all__ = ["default_axes", "resolve_axes", "standardized_coef", "axes_note", "axis_label",
           "theta", "path_frame", "extent", "objective_grid", "contour_levels",
           "contour_frame"]


def standardized_coef(view: FitView) -> np.ndarray:
    """The reference fit's coefficients times their feature's (weighted) standard
    deviation: each feature's effect in units of the target, comparable across features."""
    coef, _ = view.reference()
    s = view.weights() / view.weights().sum()
    mean = s @ view.X
    sd = np.sqrt(np.maximum(s @ (view.X - mean) ** 2, 0.0))
    return coef * sd


def default_axes(view: FitView) -> tuple[int, int]:
    """The path chart's two axes when none are named.

    One feature: (slope, intercept), i.e. ``(0, 1)``.  Two: the two coefficients.  More:
    the two largest standardized coefficients (:func:`standardized_coef`, in absolute
    value, the larger on the x axis); ties go to the earlier column.
    """
    d = view.n_features
    if d <= 2:
        return (0, 1)
    order = np.argsort(-np.abs(np.nan_to_num(standardized_coef(view))), kind="stable")
    return int(order[0]), int(order[1])


def resolve_axes(view: FitView, coords=None) -> tuple[int, int]:
    """Axes from `coords`: None (:func:`default_axes`), two feature names (``"intercept"``
    names the intercept) or two indices into ``(coef_0, ..., coef_{d-1}, intercept)``."""
    if coords is None:
        return default_axes(view)
    if isinstance(coords, str) or len(coords) != 2:
        raise ValueError(f"coords must name two parameters, e.g. coords=('x1', 'x3'); "
                         f"got {coords!r}")
    names = list(view.feature_names) + ["intercept"]
    out = []
    for c in coords:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            out.append(int(c))
        elif isinstance(c, str) and c in names:
            out.append(names.index(c))
        else:
            raise ValueError(f"coords: {c!r} is not a parameter of this fit; choose two of "
                             f"{names}")
    return _check_axes(view, out)


def axes_note(view: FitView, axes) -> str | None:
    """One line saying which parameters the path chart shows and why (None for one feature)."""
    d = view.n_features
    if d == 1 and tuple(axes) == (0, 1):
        return None
    labels = " and ".join(view.feature_names[a] if a < d else "intercept" for a in axes)
    why = ""
    if d > 2 and tuple(axes) == default_axes(view):
        why = ", the largest standardized of " + str(d)
    held = "optimum" if view.exact is not None else "best fit"
    return f"over {labels}{why}; the rest held at the {held}"


def axis_label(view: FitView, axis: int) -> str:
    """Human label of parameter `axis`."""
    d = view.n_features
    if axis == d:
        return "intercept"
    if d == 1:
        return f"slope ({view.feature_names[0]})"
    return f"coefficient of {view.feature_names[axis]}"


def theta(coef, intercept) -> np.ndarray:
    """Stack ``(coef..., intercept)`` into one vector (or rows, for 2-D coef)."""
    coef = np.asarray(coef, dtype=float)
    intercept = np.asarray(intercept, dtype=float)
    if coef.ndim == 1:
        return np.append(coef, float(intercept))
    return np.column_stack([coef, intercept.reshape(-1)])


def _check_axes(view: FitView, axes) -> tuple[int, int]:
    a, c = (int(axes[0]), int(axes[1]))
    d = view.n_features
    if a == c or not (0 <= a <= d and 0 <= c <= d):
        raise ValueError(f"axes must be two distinct indices in 0..{d} (d = intercept)")
    return a, c


def path_frame(view: FitView, axes=None, limit: int = MAX_ROWS // 2) -> pd.DataFrame:
    """One row per kept history record of each iterative fit, in the two axes.

    Columns: fit, k (record index), epoch, objective, p, q.  Records of a diverging run
    (objective above ``view.divergence_bound()`` or not finite) are dropped; long
    histories are thinned to `limit` rows in all.
    """
    a, c = resolve_axes(view, axes)
    names = view.path_names
    per = max(limit // max(len(names), 1), 2)
    frames = []
    for name in names:
        coef, icp = view.history_params(name)
        th = theta(coef, icp)
        h = view.results[name].history
        idx = thin_index(th.shape[0], per)
        df = pd.DataFrame({"fit": name, "k": idx, "epoch": h.epoch[idx],
                           "objective": h.objective[idx], "p": th[idx, a], "q": th[idx, c]})
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["fit", "k", "epoch", "objective", "p", "q"])
    df = pd.concat(frames, ignore_index=True)
    obj = df["objective"].to_numpy(dtype=float)
    ok = np.isfinite(df[["p", "q"]].to_numpy(dtype=float)).all(axis=1)
    ok &= np.isfinite(obj) & (obj <= view.divergence_bound())
    return df[ok].reset_index(drop=True)


def _marks(view: FitView, axes) -> list[tuple[str, float, float]]:
    """Points the grid must cover: reference, every fit's end point, the start guess."""
    a, c = axes
    out = []
    for name in view.names:
        th = theta(*view.params(name))
        out.append((name, th[a], th[c]))
    if view.start is not None:
        th = theta(*view.start)
        out.append((START, th[a], th[c]))
    return out


def extent(view: FitView, axes=None, margin: float = 0.12) -> tuple[tuple, tuple]:
    """Grid ranges ``((p_lo, p_hi), (q_lo, q_hi))`` covering paths, fits and start."""
    axes = resolve_axes(view, axes)
    path = path_frame(view, axes)
    marks = [(p, q) for name, p, q in _marks(view, axes)
             if name in (START, view.reference_name) or not view.diverged(name)]
    pts = marks + list(zip(path["p"], path["q"]))
    pts = np.array([pq for pq in pts if np.isfinite(pq).all()], dtype=float).reshape(-1, 2)
    ref = theta(*view.reference())[list(axes)]
    if pts.shape[0] == 0:
        pts = ref[None, :]
    out = []
    for j in range(2):
        lo, hi = float(pts[:, j].min()), float(pts[:, j].max())
        span = hi - lo
        if not span > 0:
            span = max(abs(lo) * 0.5, 1.0)
        out.append((lo - margin * span, hi + margin * span))
    return out[0], out[1]


def _column(view: FitView, axis: int) -> np.ndarray:
    return np.ones(view.X.shape[0]) if axis == view.n_features else view.X[:, axis]


def objective_grid(view: FitView, axes=None, num: int = 60, ext=None):
    """Squared objective on a ``num x num`` grid over two axes.

    Returns ``(p, q, F)`` with ``F[i, j]`` the objective at ``(p[j], q[i])``, every other
    parameter at the reference point.  Computed exactly from weighted moments about the
    reference (a quadratic), which keeps digits near the optimum.
    """
    a, c = resolve_axes(view, axes)
    (plo, phi), (qlo, qhi) = ext or extent(view, (a, c))
    p, q = np.linspace(plo, phi, num), np.linspace(qlo, qhi, num)
    th0 = theta(*view.reference())
    s = view.weights() / view.weights().sum()
    r = view.y - view.predict(view.X, th0[:-1], th0[-1])
    za, zc = _column(view, a), _column(view, c)
    dp, dq = (p - th0[a])[None, :], (q - th0[c])[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        F = (s @ (r * r) - 2 * dp * (s @ (r * za)) - 2 * dq * (s @ (r * zc))
             + dp * dp * (s @ (za * za)) + 2 * dp * dq * (s @ (za * zc))
             + dq * dq * (s @ (zc * zc)))
    F = np.where(np.isfinite(F), F, np.finfo(float).max)
    return p, q, np.maximum(F, 0.0)


def contour_levels(F: np.ndarray, floor: float, count: int = 12, ratio: float = 0.4):
    """Geometrically spaced levels above `floor` (the optimum's value) up to ``F.max()``."""
    top = float(np.max(F)) - floor
    if not top > 0:
        return np.array([])
    return floor + top * ratio ** np.arange(1, count + 1)


def contour_frame(p, q, F, levels, limit: int = 3000) -> pd.DataFrame:
    """Contour lines of ``F`` (marching squares, contourpy) as rows level, line, order, p, q."""
    import contourpy

    gen = contourpy.contour_generator(p, q, F, line_type=contourpy.LineType.Separate)
    rows, line_id = [], 0
    for lev in levels:
        for seg in gen.lines(float(lev)):
            if len(seg) < 2:
                continue
            rows.append((float(lev), line_id, seg))
            line_id += 1
    total = sum(len(seg) for _, _, seg in rows)
    stride = max(1, int(np.ceil(total / limit)))
    frames = []
    for lev, lid, seg in rows:
        idx = thin_index(len(seg), max(len(seg) // stride, 2))
        frames.append(pd.DataFrame({"level": lev, "line": lid, "order": np.arange(len(idx)),
                                    "p": seg[idx, 0], "q": seg[idx, 1]}))
    if not frames:
        return pd.DataFrame(columns=["level", "line", "order", "p", "q"])
    return pd.concat(frames, ignore_index=True)
