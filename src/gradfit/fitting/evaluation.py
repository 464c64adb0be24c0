r"""Evaluation passes over any backend: R², the inference statistics and the data digest of
a fitted model, in one pass of ``map_reduce`` (arrays, files and Dask alike).

R² comes from mergeable weighted moments of each block, so no pass for the target's mean
is needed first.  For a block with weights :math:`s_i` (ones without weights), targets
:math:`y_i` and residuals :math:`e_i = y_i - x_i \cdot w - b`:

.. math::

    S = \sum_i s_i,\quad \bar y = \frac{1}{S}\sum_i s_i y_i,\quad
    M = \sum_i s_i (y_i - \bar y)^2,\quad R = \sum_i s_i e_i^2

and two blocks merge as Chan et al.'s pairwise update,
:math:`M = M_a + M_b + (\bar y_b - \bar y_a)^2 S_a S_b / (S_a + S_b)`, so that
:math:`R^2 = 1 - R / M` at the end is the weighted :math:`R^2` of scikit-learn's
``r2_score(y, p, sample_weight=s)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from gradfit.data.digest import DataDigest
from gradfit.model.backend import capabilities

__all__ = ["Evaluation", "Moments", "evaluate"]


@dataclass(frozen=True)
class Moments:
    """Weighted moments of the targets and the residuals of some rows (per output).

    Attributes
    ----------
    S : float
        :math:`\\sum s_i`.
    mean : ndarray (k,)
        :math:`\\bar y`, the weighted mean of each target.
    m2 : ndarray (k,)
        :math:`\\sum s_i (y_i - \\bar y)^2`.
    rss : ndarray (k,)
        :math:`\\sum s_i e_i^2`.
    """

    S: float
    mean: np.ndarray
    m2: np.ndarray
    rss: np.ndarray

    @classmethod
    def of_block(cls, Y, s, E) -> Moments:
        """The moments of one block: targets ``Y`` (n, k), weights ``s`` (n,) or None,
        residuals ``E`` (n, k)."""
        if s is None:
            S = float(len(Y))
            mean = Y.mean(axis=0) if len(Y) else np.zeros(Y.shape[1])
            dev = Y - mean
            return cls(S, mean, np.einsum("ij,ij->j", dev, dev), np.einsum("ij,ij->j", E, E))
        S = float(s.sum())
        mean = (s @ Y) / S if S > 0 else np.zeros(Y.shape[1])
        dev = Y - mean
        return cls(S, mean, s @ (dev * dev), s @ (E * E))

    def merge(self, other: Moments) -> Moments:
        """The moments of both row sets (Chan et al.'s pairwise update)."""
        S = self.S + other.S
        if S == 0:
            return self
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.S / S)
        m2 = self.m2 + other.m2 + delta * delta * (self.S * other.S / S)
        return Moments(S, mean, m2, self.rss + other.rss)

    @property
    def r2(self) -> np.ndarray:
        """:math:`1 - R / M` per output; for a constant target, 1 for a perfect fit and 0
        otherwise (scikit-learn's ``r2_score`` convention)."""
        constant = self.m2 <= 0
        return np.where(constant, np.where(self.rss > 0, 0.0, 1.0),
                        1.0 - self.rss / np.where(constant, 1.0, self.m2))


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation pass found.

    Attributes
    ----------
    r2 : float or ndarray (k,)
        The (weighted) coefficient of determination, a float for a single output.
    moments : Moments
        The moments R² was taken from.
    stats : gradfit.stats.sufficient.InferenceStats or None
        The sufficient statistics of the summary (single output), when asked for.
    digest : str or None
        :func:`gradfit.io.train_data_hash` of the rows, when asked for.
    notes : list of str
        Why something asked for is missing.
    """

    r2: float | np.ndarray
    moments: Moments
    stats: object | None = None
    digest: str | None = None
    notes: tuple = ()


def _parameters(coef, intercept, d: int):
    """coef as (d, k) and intercept as (k,), from scikit-learn's (d,), (k, d) layouts."""
    coef = np.asarray(coef, dtype=float)
    W = coef.reshape(d, 1) if coef.ndim == 1 else coef.T
    b = np.broadcast_to(np.asarray(intercept, dtype=float).reshape(-1), (W.shape[1],))
    return W, b


def _block(X, Y, s, *, W, b, stats_of=None, digest=None):
    """One block's (moments, inference statistics or None); runs on Dask workers too."""
    Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
    if digest is not None:  # a sequential backend: the rows come here in order
        digest.update(X, Y)
    moments = Moments.of_block(Y, s, Y - (X @ W + b))
    return moments, (None if stats_of is None else stats_of(X, Y[:, 0], s))


def _combine(a, b):
    stats = None if a[1] is None else a[1].merge(b[1])
    return a[0].merge(b[0]), stats


def evaluate(data, coef, intercept, *, fit_intercept: bool = True, statistics: bool = False,
             digest: bool = False, weighted: bool | None = None) -> Evaluation:
    r"""R² of a fitted linear model on a backend's rows, and optionally the summary's
    sufficient statistics and the rows' digest, in one pass.

    Parameters
    ----------
    data : gradfit.model.backend.Backend
        Arrays (:func:`gradfit.as_backend`), files (``FileBackend``) or a Dask backend.
    coef : array_like (d,) or (k, d)
        The fitted coefficients (scikit-learn's layout).
    intercept : float or array_like (k,)
    fit_intercept : bool
        Whether the intercept is a fitted parameter (the statistics' degrees of freedom).
    statistics : bool
        Also take :class:`gradfit.stats.sufficient.InferenceStats` (single output only;
        extended precision for small data, see ``AUTO_EXTENDED_LIMIT``).
    digest : bool
        Also take :func:`gradfit.io.train_data_hash` of the rows (X's bytes, then y's), on a
        backend whose passes run here in row order (``Capabilities.sequential``); elsewhere
        a note says why there is none.
    weighted : bool, optional
        The statistics' OLS/WLS label (default: whether any block had weights).

    Returns
    -------
    Evaluation
        ``r2`` is :math:`1 - \sum s e^2 / \sum s (y - \bar y)^2` per output.
    """
    W, b = _parameters(coef, intercept, data.d)
    notes, stats_of, digester = [], None, None
    if statistics:
        if W.shape[1] != 1:
            notes.append("no statistical summary: it covers single-output fits")
        else:
            stats_of = _stats_reader(data, W[:, 0], float(b[0]) if fit_intercept else 0.0,
                                     fit_intercept)
    if digest:
        if capabilities(data).sequential:
            digester = DataDigest(data.n, data.d, data.k)
        else:
            notes.append("no row digest: this backend's passes do not run here in row order")
    fn = partial(_block, W=W, b=b, stats_of=stats_of, digest=digester)
    try:
        moments, stats = data.map_reduce(fn, _combine)
        hexdigest = None if digester is None else digester.hexdigest()
    finally:
        if digester is not None:
            digester.close()
    if stats is not None:
        stats = replace(stats, weighted=stats.weighted if weighted is None else bool(weighted))
    r2 = moments.r2
    return Evaluation(float(r2[0]) if len(r2) == 1 else r2, moments, stats, hexdigest,
                      tuple(notes))


def _stats_reader(data, coef, intercept, fit_intercept):
    """The per-block statistics function at the fitted parameters."""
    from gradfit.stats.sufficient import AUTO_EXTENDED_LIMIT, InferenceStats

    small = data.n * (data.d + 1) ** 2 <= AUTO_EXTENDED_LIMIT
    dtype = np.dtype(np.longdouble) if small else np.dtype(np.float64)
    return partial(_stats_block, coef=coef, intercept=intercept, fit_intercept=fit_intercept,
                   dtype=dtype, cls=InferenceStats)


def _stats_block(X, y, s, *, coef, intercept, fit_intercept, dtype, cls):
    return cls.from_blocks([(X, y, s)], coef, intercept, fit_intercept=fit_intercept,
                           dtype=dtype)
