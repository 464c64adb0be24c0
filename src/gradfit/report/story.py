"""The report's explanatory text, written from the fit it shows.

For each iterative fit the text says what its path actually did, measured on its history:

* **turns**: steps that went back against the previous step, i.e. successive steps
  ``s_t = theta_{t+1} - theta_t`` with ``s_t . s_{t+1} < 0``, measured in the coordinates
  the solver stepped in: the caller's units for a fit without standardization (e.g. a
  numeric learning rate), else standardized coordinates (each coefficient times its
  feature's standard deviation; the intercept at the feature means).  Plain gradient
  descent above 1/L turns back while the steep direction still dominates its steps (a
  zig-zag across the valley); below 1/L each direction decays without overshoot, so its
  path has no turn; a momentum method turns as it overshoots and swings back.
* **restarts** of the momentum (adaptive restart of the accelerated solver), from
  ``FitResult.info``.
* **epochs to a relative objective gap of 1e-6**: the first recorded epoch with
  ``(F - F*) <= 1e-6 |F*|`` (``F*`` the exact optimum's objective, else the lowest among
  the fits; ``1e-6 (F_0 - F*)`` when ``F* = 0``).

Long histories are thinned (every k-th epoch kept), so the counts are over the recorded
steps, and the text says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from gradfit.charts import landscape as ls
from gradfit.charts.view import FitView

__all__ = ["PathFacts", "path_facts", "story_html", "GAP"]

GAP = 1e-6
MOMENTUM = ("momentum", "nesterov", "adam", "rmsprop", "adagrad")  # turns = overshoots


@dataclass
class PathFacts:
    """What one fit's recorded path did (see the module docstring for the measures)."""

    name: str
    solver: str
    epochs: int
    converged: bool
    stop_reason: str
    steps: int          # recorded steps (records - 1)
    turns: int          # steps that went back against the previous one
    stride: int         # epochs between records (1: every epoch recorded)
    restarts: int | None
    epoch_to_gap: int | None   # first recorded epoch within GAP of F*, None if never
    final_gap: float    # (F_end - F*) / scale, relative
    learning_rate: float | None


def _standardized(view: FitView, coef: np.ndarray, icpt: np.ndarray) -> np.ndarray:
    s = view.weights() / view.weights().sum()
    mean = s @ view.X
    sd = np.sqrt(np.maximum(s @ (view.X - mean) ** 2, 0.0))
    sd = np.where(sd > 0, sd, 1.0)
    return np.column_stack([coef * sd, icpt + coef @ mean])


def count_turns(theta: np.ndarray) -> tuple[int, int]:
    """``(turns, steps)`` of a path ``theta`` (m, p): steps whose dot product with the
    previous step is negative, and the number of non-zero steps."""
    steps = np.diff(np.asarray(theta, dtype=float), axis=0)
    steps = steps[np.isfinite(steps).all(axis=1)]
    steps = steps[np.linalg.norm(steps, axis=1) > 0]
    if len(steps) < 2:
        return 0, len(steps)
    dots = np.einsum("ij,ij->i", steps[:-1], steps[1:])
    return int(np.sum(dots < 0)), len(steps)


def _reference_objective(view: FitView) -> float:
    if view.exact is not None and np.isfinite(view.exact.objective):
        return float(view.exact.objective)
    vals = [float(r.objective) for r in view.results.values() if np.isfinite(r.objective)]
    for k in view.path_names:
        h = view.results[k].history.objective
        vals += [float(v) for v in h[np.isfinite(h)]]
    return min(vals) if vals else np.nan


def path_facts(view: FitView, name: str) -> PathFacts:
    """The measures of fit `name`'s recorded path."""
    r = view.results[name]
    h = r.history
    coef, icpt = view.history_params(name)
    scaled = isinstance(r.info, dict) and bool(r.info.get("standardized"))
    theta = _standardized(view, coef, icpt) if scaled else np.column_stack([coef, icpt])
    turns, steps = count_turns(theta) if len(h) else (0, 0)
    epochs = np.asarray(h.epoch)
    stride = int(np.median(np.diff(epochs))) if len(epochs) > 2 else 1
    fstar = _reference_objective(view)
    obj = np.asarray(h.objective, dtype=float)
    scale = abs(fstar) if fstar != 0 else (float(obj[0]) - fstar if len(obj) else 1.0)
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    gap = (obj - fstar) / scale
    hit = np.flatnonzero(np.isfinite(gap) & (gap <= GAP))
    final = (float(r.objective) - fstar) / scale if np.isfinite(r.objective) else np.inf
    restarts = r.info.get("restarts") if isinstance(r.info, dict) else None
    return PathFacts(name=name, solver=str(r.solver), epochs=int(r.n_iter),
                     converged=bool(r.converged), stop_reason=str(r.stop_reason),
                     steps=steps, turns=turns, stride=max(stride, 1),
                     restarts=None if restarts is None else int(restarts),
                     epoch_to_gap=int(epochs[hit[0]]) if hit.size else None,
                     final_gap=float(final), learning_rate=r.learning_rate)


def _esc(v) -> str:
    return html.escape(str(v), quote=True)


def describe_path(f: PathFacts) -> str:
    """One sentence (HTML) on the shape of the path."""
    over = "recorded steps" + ("" if f.stride == 1 else f" (one every {f.stride} epochs)")
    if f.steps < 2:
        return "it took a single step" if f.steps == 1 else "its path has no steps recorded"
    if f.turns == 0:
        return f"its path went straight downhill: none of its {f.steps} {over} turned back"
    if f.solver not in MOMENTUM:
        return (f"its path <b>zig-zagged</b>: {f.turns} of {f.steps} {over} went back "
                "against the step before, bouncing across the valley")
    return (f"its path turned back {f.turns} time{'s' if f.turns != 1 else ''} in "
            f"{f.steps} {over}, overshooting and swinging back")


def _gap_text(f: PathFacts, reference: str) -> str:
    if f.epoch_to_gap is not None:
        return (f"it came within a relative objective gap of 10<sup>&minus;6</sup> of "
                f"{reference} at epoch {f.epoch_to_gap}")
    if not np.isfinite(f.final_gap):
        return "it diverged: the objective blew up"
    return (f"it never came within 10<sup>&minus;6</sup> of {reference}: its final "
            f"relative gap is {f.final_gap:.2g}")


def fit_item(view: FitView, f: PathFacts) -> str:
    """The story's line on one fit (HTML)."""
    reference = ("the exact optimum" if view.exact is not None else "the best fit shown")
    rate = "" if f.learning_rate is None else f", learning rate {f.learning_rate:.3g}"
    status = "converged" if f.converged else "did not converge"
    parts = [describe_path(f)]
    if f.restarts:
        parts.append(f"its momentum was restarted {f.restarts} time"
                     f"{'s' if f.restarts != 1 else ''} (adaptive restart)")
    parts.append(_gap_text(f, reference))
    epochs = f"{f.epochs} epoch" + ("" if f.epochs == 1 else "s")
    return (f"<li><b>{_esc(f.name)}</b> ({_esc(f.solver)}{rate}): {epochs}, "
            f"{status}; " + "; ".join(parts) + ".</li>")


def story_html(view: FitView) -> str:
    """The report's "How the fit was found" section, from the fits in `view`."""
    facts = [path_facts(view, k) for k in view.path_names]
    guess = ("The first slider position shows the start: slope 0 and intercept 0 here."
             if view.start is not None and not np.any(view.start[0]) and view.start[1] == 0
             else "The first slider position shows each fit's start.")
    if facts:
        fits = "<ul>" + "".join(fit_item(view, f) for f in facts) + "</ul>"
        descend = ("The gradient of <i>F</i> points uphill; each step moves the parameters "
                   "a little against it (the learning rate sets how far) and measures "
                   "again.  The contour map shows <i>F</i> as a landscape over two "
                   f"parameters ({_esc(_axes_words(view))}).  What the paths did:{fits}"
                   "A <i>turn</i> is a step that goes back against the one before (their "
                   "dot product, in the coordinates the solver stepped in, is negative).  "
                   "Drag the "
                   "<b>iteration slider</b> to move the fitted line over the data, the "
                   "marker along each path and the marker on the loss curve together.")
    else:
        descend = ("No iterative fit is shown: the exact solver finds the optimum in one "
                   "solve, without a path.")
    if view.exact is not None:
        compare = (f"For squared error the best line also has a closed form (least squares): "
                   f"<i>F</i>* = {float(view.exact.objective):.10g}.  The loss curve shows "
                   "each fit's gap <i>F</i> &minus; <i>F</i>* on a log scale, the paths end "
                   "on (or short of) its diamond, and the residuals show what no line can "
                   "explain.")
    else:
        compare = ("No exact optimum is shown; the diamond marks the fit of lowest objective, "
                   "and the residuals show what the fits leave unexplained.")
    return f"""
<section class="story">
  <h2>How the fit was found</h2>
  <ol>
    <li><b>Guess.</b> Start from some line: a slope and an intercept (or one coefficient per
      feature).  {guess}</li>
    <li><b>Measure the error.</b> For every point, the guess predicts a value; the
      residual is how far the actual value lies from it.  The objective
      <i>F</i> = &Sigma; s<sub>i</sub> (y<sub>i</sub> &minus; x<sub>i</sub>&middot;w &minus;
      b)<sup>2</sup> / &Sigma; s<sub>i</sub> is the (weighted) mean squared residual: one
      number that says how bad the guess is.</li>
    <li><b>Descend.</b> {descend}</li>
    <li><b>Compare with the exact answer.</b> {compare}</li>
  </ol>
</section>
"""


def _axes_words(view: FitView) -> str:
    axes = ls.default_axes(view)
    d = view.n_features
    names = [view.feature_names[a] if a < d else "intercept" for a in axes]
    if d == 1:
        return f"slope of {names[0]} and intercept"
    return " and ".join(names)
