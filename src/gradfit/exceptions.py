"""Errors gradfit raises.  All user-facing problems are ValueError subclasses with a
message that says what is wrong, where, and what to do."""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning

__all__ = ["GradfitError", "InputError", "DivergenceError", "ClusterError", "ConvergenceWarning"]


class GradfitError(Exception):
    """Base class of gradfit's own errors."""


class InputError(GradfitError, ValueError):
    """Bad input: the message names the column, row or value and what to do."""


class DivergenceError(GradfitError, FloatingPointError):
    """The objective became non-finite or exploded: the step was too large.

    Attributes
    ----------
    learning_rate : float
        The rate that diverged.
    safe_rate : float or None
        2 / L, the largest stable fixed rate for this data (None when unknown).
    epoch : int
    """

    def __init__(self, message: str, *, learning_rate: float, safe_rate: float | None, epoch: int):
        super().__init__(message)
        self.learning_rate = learning_rate
        self.safe_rate = safe_rate
        self.epoch = epoch


class ClusterError(GradfitError, RuntimeError):
    """A pass over data on a Dask cluster failed (a task raised, a worker died beyond
    Dask's retries, or the pass did not see every row).  The fit stops: a partial sum is
    never used."""
