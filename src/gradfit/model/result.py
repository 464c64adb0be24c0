"""The one result type every solver returns, and its bounded history.

A fit ends in a :class:`FitResult` whether it came from the closed form or from any
gradient solver, so the estimator, the CLI, the charts and the report treat all solvers
alike.  Coefficients are always in the caller's original units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult", "History"]


class History:
    """Per-epoch record of a fit, bounded in memory by thinning.

    Each record holds the epoch number, the objective, the norm of the (proximal) gradient
    in the solver's coordinates, the learning rate used, the elapsed seconds, and the
    parameters in original units (``coef`` of shape ``(d,)`` or ``(d, k)``, ``intercept``
    a float or ``(k,)``).

    When more than ``max_records`` records accumulate, every other one is dropped (the
    first and the latest always stay) and from then on only every ``stride``-th epoch is
    kept: long fits are thinned evenly, never truncated.

    Attributes (read-only views, one entry per kept record)
    ------------------------------------------------------
    epoch : ndarray of int
    objective : ndarray of float
    grad_norm : ndarray of float
    lr : ndarray of float
    time : ndarray of float
    coef : ndarray, shape (m, d) or (m, d, k)
    intercept : ndarray, shape (m,) or (m, k)
    """

    _FIELDS = ("epoch", "objective", "grad_norm", "lr", "time", "coef", "intercept")

    def __init__(self, max_records: int = 1000):
        if max_records < 4:
            raise ValueError("History needs room for at least 4 records")
        self.max_records = int(max_records)
        self.stride = 1
        self._rows: list[tuple] = []
        self._tail: tuple | None = None  # the latest record when it is off the stride

    def append(self, epoch, objective, grad_norm, lr, time, coef, intercept) -> None:
        """Record one epoch; off-stride epochs are kept only until the next one arrives."""
        row = self._row(epoch, objective, grad_norm, lr, time, coef, intercept)
        if row[0] % self.stride != 0:
            self._tail = row
            return
        self._tail = None
        self._rows.append(row)
        if len(self._rows) > self.max_records:
            self.stride *= 2
            self._rows = [self._rows[0]] + [r for r in self._rows[1:] if r[0] % self.stride == 0]

    @property
    def _all(self) -> list[tuple]:
        return self._rows + ([self._tail] if self._tail is not None else [])

    def to_state(self) -> tuple[dict, dict]:
        """(layout, arrays): everything needed to rebuild this history exactly, as JSON-able
        scalars and numpy arrays (checkpoints store them without pickle)."""
        rows = self._all
        arrays = {
            "epoch": np.array([r[0] for r in rows], dtype=np.int64),
            "scalars": np.array([r[1:5] for r in rows], dtype=float).reshape(-1, 4),
            "coef": np.stack([r[5] for r in rows]),
            "intercept": np.stack([r[6] for r in rows]),
        }
        layout = {"max_records": self.max_records, "stride": self.stride,
                  "has_tail": self._tail is not None}
        return layout, arrays

    @classmethod
    def from_state(cls, layout: dict, arrays: dict) -> History:
        """The inverse of :meth:`to_state`."""
        hist = cls(int(layout["max_records"]))
        hist.stride = int(layout["stride"])
        rows = [cls._row(int(e), *s, c, i) for e, s, c, i in zip(
            arrays["epoch"], arrays["scalars"], arrays["coef"], arrays["intercept"])]
        if layout["has_tail"]:
            hist._rows, hist._tail = rows[:-1], rows[-1]
        else:
            hist._rows = rows
        return hist

    def squeeze_output(self) -> None:
        """Turn (d, 1) coefficients and (1,) intercepts into (d,) and scalars (single output)."""
        fix = lambda r: r[:5] + (r[5].reshape(-1), r[6].reshape(()))  # noqa: E731
        self._rows = [fix(r) for r in self._rows]
        if self._tail is not None:
            self._tail = fix(self._tail)

    @staticmethod
    def _row(epoch, objective, grad_norm, lr, time, coef, intercept):
        return (
            int(epoch),
            float(objective),
            float(grad_norm),
            float(lr),
            float(time),
            np.array(coef, dtype=float, copy=True),
            np.array(intercept, dtype=float, copy=True),
        )

    def __len__(self) -> int:
        return len(self._all)

    def __getattr__(self, name):
        if name in History._FIELDS:
            i = History._FIELDS.index(name)
            rows = self._all
            if not rows:
                return np.empty(0)
            return np.array([r[i] for r in rows])
        raise AttributeError(name)

    def to_dict(self) -> dict:
        """Plain lists, JSON-ready."""
        return {f: getattr(self, f).tolist() for f in History._FIELDS}

    def to_frame(self):
        """A pandas DataFrame with one row per kept record (coefficients as columns)."""
        import pandas as pd

        data = {f: getattr(self, f) for f in ("epoch", "objective", "grad_norm", "lr", "time")}
        coef = self.coef.reshape(len(self), -1) if len(self) else np.empty((0, 0))
        for j in range(coef.shape[1]):
            data[f"coef_{j}"] = coef[:, j]
        icp = self.intercept.reshape(len(self), -1) if len(self) else np.empty((0, 0))
        for j in range(icp.shape[1]):
            data["intercept" if icp.shape[1] == 1 else f"intercept_{j}"] = icp[:, j]
        return pd.DataFrame(data)


@dataclass
class FitResult:
    """What every solver returns.

    Attributes
    ----------
    coef : ndarray, shape (d,) or (d, k)
        Coefficients in the original units of X.
    intercept : float or ndarray of shape (k,)
    n_iter : int
        Epochs run (passes of the update rule over the data; 1 for "exact").
    converged : bool
    stop_reason : str
        One sentence saying why the loop stopped.
    objective : float
        Final value of  sum_i s_i loss(y_i, x_i.w + b) / sum_i s_i  +  alpha * R(w).
    history : History
    solver : str
    learning_rate : float or None
        The base step actually used (after "auto" was resolved); None for closed forms.
    lipschitz : float or None
        The estimate of the objective gradient's Lipschitz constant in the solver's
        coordinates (the safe fixed rate is below 2 / lipschitz).
    info : dict
        Solver-specific extras (line-search counts, restarts, standardization used ...).
    certificate : dict
        How close the fit is to the optimum (``gradfit.solvers.certificate``): the relative
        gradient norm, and where the curvature is known the estimated error of every
        coefficient and ``digits``, the significant digits it supports (None when it
        cannot say).
    """

    coef: np.ndarray
    intercept: float | np.ndarray
    n_iter: int
    converged: bool
    stop_reason: str
    objective: float
    history: History = field(default_factory=History)
    solver: str = "gd"
    learning_rate: float | None = None
    lipschitz: float | None = None
    info: dict = field(default_factory=dict)
    certificate: dict = field(default_factory=dict)
