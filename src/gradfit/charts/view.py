"""The one object every chart and the HTML report read: a fitted problem and its fits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradfit.model.result import FitResult

__all__ = ["FitView"]


@dataclass
class FitView:
    """Everything a chart or the report needs about one fitted problem.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Training features in original units (a 1-D array is taken as one feature).
    y : ndarray, shape (n,)
        Training target (one output).
    feature_names : list of str
        One name per column of `X`.
    target_name : str
    results : dict of str to FitResult
        The fits to show, in display order, e.g. ``{"gradient descent": r1, "exact": r0}``.
        Histories may be empty (the closed form usually records none).
    exact_name : str or None, default "exact"
        Which entry of `results` is the exact optimum: the loss chart's reference rule and
        the centre of the descent-path contours.  Ignored when absent from `results`.
    sample_weight : ndarray of shape (n,) or None
    fit_intercept : bool, default True
    settings : dict
        Run settings shown in the report (solver, learning rate, ...).
    summary_rows : list of (str, str)
        The CLI's summary table, shown as-is.
    title : str
    X_test, y_test : ndarray or None
        Held-out data, drawn apart from the training data where given.
    inference_text : str or None
        The statistical summary (``str(model.summary())``), shown as its own section.
    start : (ndarray, float) or None
        An initial guess ``(coef, intercept)`` to draw, e.g. the demo's naive guess.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    results: dict[str, FitResult]
    exact_name: str | None = "exact"
    sample_weight: np.ndarray | None = None
    fit_intercept: bool = True
    settings: dict = field(default_factory=dict)
    summary_rows: list[tuple[str, str]] = field(default_factory=list)
    title: str = "gradfit"
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    start: tuple[np.ndarray, float] | None = None
    inference_text: str | None = None

    def __post_init__(self):
        self.X = _as_2d(self.X, "X")
        self.y = np.asarray(self.y, dtype=float).reshape(-1)
        n, d = self.X.shape
        if self.y.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {self.y.shape[0]}")
        self.feature_names = [str(f) for f in self.feature_names]
        if len(self.feature_names) != d:
            raise ValueError(f"{len(self.feature_names)} feature names for {d} features")
        self.target_name = str(self.target_name)
        if self.sample_weight is not None:
            self.sample_weight = np.asarray(self.sample_weight, dtype=float).reshape(-1)
            if self.sample_weight.shape[0] != n:
                raise ValueError("sample_weight must have one entry per row of X")
        if not self.results:
            raise ValueError("a FitView needs at least one FitResult")
        for name, r in self.results.items():
            if np.asarray(r.coef).reshape(-1).shape[0] != d or np.ndim(r.intercept) > 1:
                raise ValueError(f"result {name!r} is not a single-output fit on {d} features")
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("give both X_test and y_test, or neither")
        if self.X_test is not None:
            self.X_test = _as_2d(self.X_test, "X_test")
            self.y_test = np.asarray(self.y_test, dtype=float).reshape(-1)
            if self.X_test.shape[1] != d or self.X_test.shape[0] != self.y_test.shape[0]:
                raise ValueError("X_test / y_test shapes do not match the training data")
        if self.start is not None:
            coef, b = self.start
            coef = np.asarray(coef, dtype=float).reshape(-1)
            if coef.shape[0] != d:
                raise ValueError(f"start coef has {coef.shape[0]} entries, expected {d}")
            self.start = (coef, float(b))

    # ---------------------------------------------------------------- accessors
    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return self.X.shape[1]

    @property
    def names(self) -> list[str]:
        """Result names in display order."""
        return list(self.results)

    @property
    def exact(self) -> FitResult | None:
        """The exact optimum's result, or None."""
        if self.exact_name is not None and self.exact_name in self.results:
            return self.results[self.exact_name]
        return None

    def is_exact(self, name: str) -> bool:
        """Whether `name` is the exact-optimum entry."""
        return self.exact is not None and name == self.exact_name

    @property
    def path_names(self) -> list[str]:
        """Names of the iterative fits: not the exact entry, with a non-empty history."""
        return [k for k, r in self.results.items()
                if not self.is_exact(k) and len(r.history) > 0]

    @property
    def fit_names(self) -> list[str]:
        """Names of the non-exact fits (or the exact one alone when there is nothing else)."""
        others = [k for k in self.results if not self.is_exact(k)]
        return others or list(self.results)

    def params(self, name: str) -> tuple[np.ndarray, float]:
        """Final ``(coef (d,), intercept)`` of result `name`."""
        r = self.results[name]
        return np.asarray(r.coef, dtype=float).reshape(-1), float(np.asarray(r.intercept))

    @property
    def reference_name(self) -> str:
        """The exact entry's name, else the name of the fit of lowest objective."""
        if self.exact is not None:
            return self.exact_name
        return min(self.results, key=lambda k: _finite_or_inf(self.results[k].objective))

    def reference(self) -> tuple[np.ndarray, float]:
        """The reference parameters: the exact optimum, else the fit of lowest objective."""
        return self.params(self.reference_name)

    def weights(self) -> np.ndarray:
        """Sample weights, ones when none were given."""
        if self.sample_weight is None:
            return np.ones(self.X.shape[0])
        return self.sample_weight

    def history_params(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """History parameters of `name`: coef ``(m, d)`` and intercept ``(m,)``."""
        h = self.results[name].history
        m = len(h)
        if m == 0:
            return np.empty((0, self.n_features)), np.empty(0)
        return (np.asarray(h.coef, dtype=float).reshape(m, self.n_features),
                np.asarray(h.intercept, dtype=float).reshape(m))

    def divergence_bound(self, factor: float = 100.0) -> float:
        """`factor` times the worst objective among the reference, the start guess and
        each history's first record: a state above it belongs to a diverging run."""
        vals = [self.squared_objective(*self.reference())]
        if self.start is not None:
            vals.append(self.squared_objective(*self.start))
        for name in self.path_names:
            vals.append(float(self.results[name].history.objective[0]))
        vals = np.array(vals, dtype=float)
        vals = vals[np.isfinite(vals)]
        return factor * float(vals.max()) if vals.size else np.inf

    def diverged(self, name: str) -> bool:
        """Whether fit `name` ended far above every sane objective (or overflowed)."""
        return not self.squared_objective(*self.params(name)) <= self.divergence_bound()

    # ---------------------------------------------------------------- maths
    @staticmethod
    def predict(X: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
        """Linear prediction ``X @ coef + intercept``."""
        return X @ np.asarray(coef, dtype=float).reshape(-1) + float(intercept)

    def squared_objective(self, coef: np.ndarray, intercept: float) -> float:
        """``sum s (y - X w - b)^2 / sum s`` on the training data (inf on overflow)."""
        s = self.weights()
        with np.errstate(over="ignore", invalid="ignore"):
            r = self.y - self.predict(self.X, coef, intercept)
            value = float(np.sum(s * r * r) / np.sum(s))
        return value if np.isfinite(value) else np.inf


def _as_2d(a, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D")
    return a


def _finite_or_inf(v) -> float:
    v = float(v)
    return v if np.isfinite(v) else np.inf
