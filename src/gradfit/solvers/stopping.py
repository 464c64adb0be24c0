"""Stopping rules of the training loop: small objects, each watching one thing.

After every epoch the loop asks its rules in order; the first that returns a :class:`Verdict`
ends the fit.  A verdict says whether the rule's criterion was met (``converged``), why it
stopped (one sentence), and which parameters to return:

"current"     the loop's position (its last iterate, or the running average);
"measured"    the point where the criterion was measured (full batch: where the last
              gradient was taken, through the prox for a non-smooth penalty);
"best"        the point of the smallest gradient-mapping norm seen (a fit that stalls at the
              rounding floor returns its best iterate, not its last);
"validation"  the parameters with the best held-out loss (early stopping).

Full batch:  GradientTolerance (||G|| <= tol ||G_0||), CertifiedOptimum (the optimality
certificate's distance to the optimum is below the target, then polishing until progress
stops), Stall (no new smallest ||G|| for the last half of the run).
Mini-batch:  ObjectivePlateau (F improved by less than tol |F_best| for n_iter_no_change
epochs: a noisy gradient's norm says little).
Early stopping:  ValidationPlateau (the held-out loss likewise).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Verdict", "GradientTolerance", "CertifiedOptimum", "Stall", "ObjectivePlateau",
           "ValidationPlateau"]


class Verdict(NamedTuple):
    converged: bool
    reason: str
    returns: str = "current"


class GradientTolerance:
    """Stop when the gradient mapping's norm falls to ``tol`` x its initial value (or to 0)."""

    def __init__(self, tol: float):
        self.tol = float(tol)

    def check(self, s, Gn, loop):
        if Gn <= self.tol * s.G0 or Gn == 0.0:
            return Verdict(True, f"gradient norm {Gn:.3g} fell below tol={self.tol:g} x its "
                                 f"initial value {s.G0:.3g}", "measured")
        return None


class CertifiedOptimum:
    """Stop once the certified relative distance to the optimum (a Newton-step estimate from
    the known curvature, see ``gradfit.solvers.certificate``) is at most ``target``, after
    polishing while it still improves: ``patience`` epochs without a new smallest gradient
    (or a distance at the rounding level) end the fit, at its best iterate."""

    FLOOR = 64 * np.finfo(float).eps

    def __init__(self, certifier, target: float, patience: int):
        self.certifier, self.target, self.patience = certifier, float(target), int(patience)
        self.last = None
        self.best = None  # the smallest distance estimated so far (the message's figure)

    def check(self, s, Gn, loop):
        # the estimate costs d^2 work: take it when the gradient has halved since the last
        # one (the distance cannot have shrunk much otherwise), or every 50 epochs
        if s.target_epoch < 0 and Gn > 0.5 * s.checked_G and s.epoch % 50:
            return None
        s.checked_G = Gn
        rel = self.certifier.relative_error(s.P, s.g)
        self.last = rel
        if rel is None or not np.isfinite(rel):
            return None
        self.best = rel if self.best is None else min(self.best, rel)
        if rel <= self.target and s.target_epoch < 0:
            s.target_epoch = s.epoch
        if s.target_epoch < 0:
            return None
        if rel <= self.FLOOR or s.epoch - s.best_epoch >= self.patience:
            return Verdict(True, f"certified: the coefficients came within {self.best:.2g} "
                                 f"(relative, "
                                 f"from the curvature) of the exact optimum after "
                                 f"{s.target_epoch} epochs, polished to the best iterate",
                           "best")
        return None


class Stall:
    """Stop when the gradient mapping's norm, once below ``floor`` x its start, has not
    reached a new minimum for the last half of the run (at least ``min_window`` epochs):
    rounding in the gradient itself stops progress.  Returns the best iterate; converged only
    if the accuracy target was certified on the way."""

    def __init__(self, min_window: int, floor: float = 1e-6):
        self.min_window = int(min_window)
        self.floor = float(floor)

    def check(self, s, Gn, loop):
        window = max(self.min_window, s.epoch // 2)
        if s.epoch - s.best_epoch < window or s.best_G > self.floor * s.G0:
            return None
        rel = s.best_G / s.G0 if s.G0 > 0 else 0.0
        met = s.target_epoch >= 0
        return Verdict(met, f"the gradient norm has not improved for {s.epoch - s.best_epoch} "
                            f"epochs: its smallest value {s.best_G:.3g} ({rel:.2g} x initial, "
                            f"epoch {s.best_epoch}) is the floor rounding leaves in this "
                            f"problem; returning that iterate", "best")


class ObjectivePlateau:
    """Mini-batches: F improved by less than ``tol`` x |F_best| for ``n_iter_no_change``
    epochs."""

    def __init__(self, tol: float, n_iter_no_change: int):
        self.tol, self.n = float(tol), int(n_iter_no_change)

    def check(self, s, Gn, loop):
        if s.f < s.best_f - self.tol * abs(s.best_f):
            s.best_f, s.no_change = s.f, 0
        else:
            s.no_change += 1
        if s.no_change >= self.n:
            return Verdict(True, f"objective improved by less than tol={self.tol:g} x best for "
                                 f"{self.n} epochs")
        return None


class ValidationPlateau:
    """Early stopping: the loss on the held-out rows improved by less than ``tol`` x its best
    for ``n_iter_no_change`` epochs; the best parameters seen are returned."""

    def __init__(self, validation, tol: float, n_iter_no_change: int):
        self.validation = validation
        self.tol, self.n = float(tol), int(n_iter_no_change)

    def check(self, s, Gn, loop):
        v = loop.obj.data_value_on(loop.current, self.validation)
        if v < s.best_val - self.tol * abs(s.best_val):
            s.best_val, s.best_P, s.no_change = v, loop.current.copy(), 0
        else:
            s.no_change += 1
        if s.no_change >= self.n:
            return Verdict(True, f"validation loss improved by less than tol={self.tol:g} x best "
                                 f"for {self.n} epochs (early stopping); best parameters kept",
                           "validation")
        return None
