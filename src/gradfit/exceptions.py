"""Errors gradfit raises.  All user-facing problems are ValueError subclasses with a
message that says what is wrong, where, and what to do.

``ConvergenceWarning`` is scikit-learn's (so one warnings filter serves both libraries); it is
imported on first use, so that ``import gradfit`` does not load scikit-learn.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["GradfitError", "InputError", "DivergenceError", "ClusterError",  # noqa: F822
           "ConvergenceWarning", "CompilationWarning", "warn_user"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def __getattr__(name):
    if name == "ConvergenceWarning":
        from sklearn.exceptions import ConvergenceWarning

        globals()["ConvergenceWarning"] = ConvergenceWarning
        return ConvergenceWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def warn_user(message: str, category=None) -> None:
    """Warn at the caller's line: the first frame outside gradfit (so the warning points at
    the user's ``fit`` call, whatever path led to it).  ``category`` defaults to
    ``ConvergenceWarning``."""
    if category is None:
        category = __getattr__("ConvergenceWarning")
    # stacklevel=1 is this function's own line, 2 its caller's (sys._getframe(1)), ...
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


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


class CompilationWarning(UserWarning):
    """gradfit is compiling its numba kernels for this machine: a one-time wait (numba caches
    the machine code on disk).  Silence it with
    ``warnings.filterwarnings("ignore", category=gradfit.exceptions.CompilationWarning)``."""
