r"""Covariances robust to autocorrelation (HAC, Newey–West) and to correlation within
clusters, from mergeable statistics of the scores.

The score of row :math:`i` at the fitted parameters is :math:`u_i = s_i e_i z_i`, with
:math:`z_i = (1, x_i)` (or :math:`x_i` without an intercept) and :math:`e_i` the residual —
statsmodels' ``wexog * wresid`` for WLS.  With :math:`A = Z^\top W Z` both covariances are
sandwiches :math:`c\,A^{-1} M A^{-1}`:

* **HAC** (``cov_type="HAC"``, Bartlett kernel, ``maxlags`` :math:`L`):
  :math:`M = \Gamma_0 + \sum_{l=1}^{L} w_l (\Gamma_l + \Gamma_l^\top)`,
  :math:`\Gamma_l = \sum_t u_t u_{t-l}^\top`, :math:`w_l = 1 - l/(L+1)`;
  :math:`c = n/(n-q)` with ``use_correction`` (default off, as statsmodels).
  Rows must come in time order.  Blocks merge exactly: each keeps its first and last
  :math:`L` scores, and the merge adds the cross products that straddle the boundary.
* **cluster** (``cov_type="cluster"``, ``groups``): :math:`M = \sum_g U_g U_g^\top`,
  :math:`U_g = \sum_{i \in g} u_i`; :math:`c = \frac{G}{G-1}\frac{n-1}{n-q}` with
  ``use_correction`` (default on, as statsmodels); t and F tests then use
  :math:`G - 1` denominator degrees of freedom.  Blocks merge by adding :math:`U_g` by key,
  in any order.

Both are built block by block (:meth:`HACScores.from_block`, :meth:`ClusterScores.from_block`)
and merged (``merge``), so one ``map_reduce`` pass of any backend gives them
(:func:`robust_scores`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from gradfit.stats.linalg import psd_factor
from gradfit.stats.sufficient import as_coef, check_block

__all__ = ["ClusterScores", "HACScores", "ROBUST_DESCRIPTIONS", "bartlett_weights",
           "robust_factor", "robust_scores", "scores"]

ROBUST_DESCRIPTIONS = {
    "HAC": "Standard Errors are heteroscedasticity and autocorrelation robust (HAC) using "
           "{maxlags} lags and {correction} small sample correction",
    "cluster": "Standard Errors are robust to cluster correlation (cluster)",
}


def bartlett_weights(maxlags: int) -> np.ndarray:
    r"""Bartlett (Newey–West) kernel weights :math:`w_l = 1 - l/(L+1)`, :math:`l = 0..L`."""
    return 1 - np.arange(maxlags + 1) / (maxlags + 1)


def scores(X, y, s, coef, intercept, fit_intercept, dtype=np.float64) -> np.ndarray:
    r"""Scores :math:`u_i = s_i e_i z_i` (n, q) of the rows with positive weight, in order;
    :math:`z_i = (1, x_i)` with an intercept."""
    X, y, s = check_block(X, y, s, d=len(coef))
    if s is not None:
        keep = s > 0
        X, y, s = X[keep], y[keep], s[keep]
    X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
    e = y - X @ np.asarray(coef).astype(dtype) - dtype(intercept)
    se = e if s is None else s.astype(dtype) * e
    z = np.column_stack([np.ones(len(y), dtype), X]) if fit_intercept else X
    return se[:, None] * z


def _check_groups(groups, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.ndim != 1 or len(g) != n:
        raise ValueError(f"groups must be one label per row ({n}); got shape {g.shape}")
    if g.dtype.kind == "f" and not np.all(np.isfinite(g)):
        raise ValueError("groups must not contain NaN or inf")
    return g


@dataclass(frozen=True, eq=False)
class ClusterScores:
    r"""Per-cluster sums of scores :math:`U_g = \sum_{i \in g} u_i`, mergeable by key.

    Attributes
    ----------
    keys : ndarray (G,)
        Sorted cluster labels.
    sums : ndarray (G, q)
    n : int
        Rows with positive weight.
    """

    keys: np.ndarray
    sums: np.ndarray
    n: int

    @classmethod
    def from_block(cls, X, y, s, groups, coef, intercept, *, fit_intercept=True,
                   dtype=np.float64) -> ClusterScores:
        """The cluster sums of one block; ``groups`` holds the block's labels."""
        coef, intercept = as_coef(coef, intercept, fit_intercept)
        g = _check_groups(groups, len(np.asarray(y)))
        if s is not None:
            g = g[np.asarray(s) > 0]
        u = scores(X, y, s, coef, intercept, fit_intercept, np.dtype(dtype).type)
        keys, inv = np.unique(g, return_inverse=True)
        sums = np.zeros((len(keys), u.shape[1]), u.dtype)
        np.add.at(sums, inv.ravel(), u)
        return cls(keys, sums, len(u))

    def merge(self, other: ClusterScores) -> ClusterScores:
        """Both blocks' clusters; sums of a label seen in both are added."""
        if self.sums.shape[1:] != other.sums.shape[1:]:
            raise ValueError("cannot merge cluster scores of different models")
        keys, inv = np.unique(np.concatenate([self.keys, other.keys]), return_inverse=True)
        dtype = np.result_type(self.sums.dtype, other.sums.dtype)
        sums = np.zeros((len(keys), self.sums.shape[1]), dtype)
        np.add.at(sums, inv.ravel(), np.concatenate([self.sums, other.sums]).astype(dtype))
        return ClusterScores(keys, sums, self.n + other.n)

    @property
    def n_groups(self) -> int:
        return len(self.keys)

    def meat(self) -> np.ndarray:
        r""":math:`M = \sum_g U_g U_g^\top`."""
        return self.sums.T @ self.sums

    def correction(self, n: int, q: int) -> float:
        r""":math:`\frac{G}{G-1}\frac{n-1}{n-q}` (statsmodels' ``use_correction=True``)."""
        g = self.n_groups
        return g / (g - 1) * (n - 1) / (n - q)


@dataclass(frozen=True, eq=False)
class HACScores:
    r"""The Bartlett-weighted score autocovariance :math:`M` of consecutive rows, mergeable
    in row order.

    Attributes
    ----------
    maxlags : int
    meat : ndarray (q, q)
        :math:`\Gamma_0 + \sum_l w_l(\Gamma_l + \Gamma_l^\top)` over the pairs inside the rows
        seen so far.
    head, tail : ndarray (<= maxlags, q)
        The first and last ``maxlags`` scores (all of them for fewer rows).
    n : int
    """

    maxlags: int
    meat: np.ndarray
    head: np.ndarray
    tail: np.ndarray
    n: int

    @classmethod
    def from_block(cls, X, y, s, coef, intercept, *, maxlags, fit_intercept=True,
                   dtype=np.float64) -> HACScores:
        """The HAC statistics of one block of consecutive rows."""
        maxlags = _check_maxlags(maxlags)
        coef, intercept = as_coef(coef, intercept, fit_intercept)
        u = scores(X, y, s, coef, intercept, fit_intercept, np.dtype(dtype).type)
        return cls.of_scores(u, maxlags)

    @classmethod
    def of_scores(cls, u: np.ndarray, maxlags: int) -> HACScores:
        r"""From the scores (n, q) of consecutive rows: statsmodels' ``S_hac_simple``."""
        w = bartlett_weights(maxlags)
        meat = u.T @ u
        for lag in range(1, min(maxlags, len(u) - 1) + 1):
            g = u[lag:].T @ u[:-lag]
            meat = meat + w[lag] * (g + g.T)
        return cls(maxlags, meat, u[:maxlags].copy(), u[len(u) - min(maxlags, len(u)):].copy(),
                   len(u))

    def merge(self, other: HACScores) -> HACScores:
        r"""The rows of ``self`` followed by those of ``other``: adds
        :math:`w_l (u_t u_{t-l}^\top + u_{t-l} u_t^\top)` for :math:`t` among ``other``'s
        first rows and :math:`t - l` among ``self``'s last."""
        if other.maxlags != self.maxlags:
            raise ValueError("cannot merge HAC statistics with different maxlags")
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        w, L = bartlett_weights(self.maxlags), self.maxlags
        meat = self.meat + other.meat
        a, b = self.tail, other.head  # a: the last min(L, n_a) rows, b: the first of other
        for lag in range(1, L + 1):
            for j in range(min(lag, len(b))):  # t = j in other, t - lag = len(a) - lag + j
                i = len(a) - lag + j
                if i < 0:
                    continue
                g = np.outer(b[j], a[i])
                meat = meat + w[lag] * (g + g.T)
        head = np.concatenate([self.head, other.head])[:L]
        both = np.concatenate([self.tail, other.tail])
        tail = both[len(both) - min(L, len(both)):]
        return HACScores(L, meat, head, tail, self.n + other.n)


def _check_maxlags(maxlags) -> int:
    if maxlags is None or int(maxlags) != maxlags or maxlags < 0:
        raise ValueError(f"HAC needs maxlags, a non-negative integer; got {maxlags!r}")
    return int(maxlags)


def robust_factor(geo, meat: np.ndarray, correction: float = 1.0) -> np.ndarray:
    r"""Factor :math:`F`, :math:`F^\top F = c\,A^{-1} M A^{-1}`: with :math:`B B^\top =
    A^{-1}` (:class:`~gradfit.stats.geometry.Geometry`), :math:`F = \sqrt c\,
    P(B^\top M B)\,B^\top`, :math:`P` the symmetric square-root factor
    (:func:`~gradfit.stats.linalg.psd_factor`)."""
    if not geo.full_rank:
        return np.full((geo.q, geo.q), np.nan)
    b = np.asarray(geo.b, float)
    inner = np.asarray(geo.b.T @ meat.astype(geo.b.dtype) @ geo.b, float)
    return np.sqrt(correction) * psd_factor(inner) @ b.T


def robust_scores(data, coef, intercept, *, cov_type, fit_intercept=True, groups=None,
                  maxlags=None, dtype=np.float64):
    r"""The HAC or cluster statistics of a backend's rows in one ``map_reduce`` pass.

    Parameters
    ----------
    data : gradfit.model.backend.Backend
        Arrays, files or Dask.  For HAC its blocks must be combined in row order (they are:
        ``map_reduce`` combines in a fixed order, the rows' order).
    coef, intercept
        The fitted parameters (single output).
    cov_type : {"HAC", "cluster"}
    groups : callable, int or array_like
        For "cluster": a function of a block's ``X`` giving its rows' labels (``X``, all of
        it, is the design); or the index ``j`` of the backend's column that holds the labels
        (read with the features, e.g. ``FileBackend(path, "y", features=[*names, "firm"])``,
        and left out of the design); or an array of labels for in-memory data (``data``
        then an ``(X, y, sample_weight)`` tuple).
    maxlags : int
        For "HAC".

    Returns
    -------
    HACScores or ClusterScores
    """
    coef, intercept = as_coef(coef, intercept, fit_intercept)
    if cov_type == "HAC":
        fn = partial(_hac_block, coef=coef, intercept=intercept, fit_intercept=fit_intercept,
                     maxlags=_check_maxlags(maxlags), dtype=dtype)
    elif cov_type == "cluster":
        if groups is None:
            raise ValueError('cov_type="cluster" needs groups (cov_kwds={"groups": ...})')
        if isinstance(data, tuple):
            X, y, s = data
            return ClusterScores.from_block(X, y, s, groups, coef, intercept,
                                            fit_intercept=fit_intercept, dtype=dtype)
        if isinstance(groups, (int, np.integer)):
            if data.d != len(coef) + 1:
                raise ValueError(f"groups={groups} names the backend's column that holds the "
                                 f"labels (not a regressor): the backend must have "
                                 f"{len(coef) + 1} columns; it has {data.d}")
            label = partial(_label_column, j=int(groups))
        elif callable(groups):
            label = groups
        else:
            raise ValueError("groups for a backend must be a function of a block's X or the "
                             "index of its label column; an array of labels works for "
                             "in-memory data")
        fn = partial(_cluster_block, label=label, coef=coef, intercept=intercept,
                     fit_intercept=fit_intercept, dtype=dtype)
    else:
        raise ValueError(f'cov_type must be "HAC" or "cluster"; got {cov_type!r}')
    if isinstance(data, tuple):
        X, y, s = data
        return fn(np.asarray(X), np.asarray(y).reshape(len(y), -1), s)[0]
    return data.map_reduce(fn, _merge)[0]


def _hac_block(X, Y, s, *, coef, intercept, fit_intercept, maxlags, dtype):
    return (HACScores.from_block(X, np.asarray(Y)[:, 0], s, coef, intercept, maxlags=maxlags,
                                 fit_intercept=fit_intercept, dtype=dtype),)


def _label_column(X, j):
    """(labels, design): column j holds the labels and is not a regressor."""
    return X[:, j], np.delete(X, j, axis=1)


def _cluster_block(X, Y, s, *, label, coef, intercept, fit_intercept, dtype):
    out = label(X)
    labels, X = out if isinstance(out, tuple) else (out, X)
    return (ClusterScores.from_block(X, np.asarray(Y)[:, 0], s, labels, coef, intercept,
                                     fit_intercept=fit_intercept, dtype=dtype),)


def _merge(a, b):
    return (a[0].merge(b[0]),)
