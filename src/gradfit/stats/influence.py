r"""Influence of each row on a least-squares fit (statsmodels' ``get_influence()``): leverage,
studentized residuals, Cook's distance, DFFITS — a second pass over the rows with the merged
statistics of the first.

With :math:`h_i = s_i z_i^\top (Z^\top W Z)^{-1} z_i` (from the factor of the statistics,
:meth:`~gradfit.stats.sufficient.InferenceStats.leverages`), whitened residuals
:math:`r_i = \sqrt{s_i} e_i`, :math:`q` parameters and
:math:`\hat\sigma^2 = \mathrm{SSR}/(n - q)`:

* ``resid_studentized_internal`` :math:`t_i = r_i / (\hat\sigma \sqrt{1 - h_i})`;
* ``resid_studentized_external`` :math:`t_i^* = r_i / (\hat\sigma_{(i)} \sqrt{1 - h_i})`,
  :math:`\hat\sigma_{(i)}^2 = (\mathrm{SSR} - r_i^2 / (1 - h_i)) / (n - q - 1)` (the fit
  without row :math:`i`);
* ``cooks_distance`` :math:`D_i = t_i^2 h_i / (q (1 - h_i))`, with p-values from
  F(q, n - q);
* ``dffits`` :math:`t_i^* \sqrt{h_i / (1 - h_i)}`, with the threshold
  :math:`2\sqrt{q / n}`.

With weights these are the measures of the whitened regression
(:math:`\sqrt{s_i} z_i, \sqrt{s_i} y_i`); statsmodels' ``OLSInfluence`` of a WLS fit takes the
leverages from the unweighted design instead.

Rows are independent given the statistics, so the pass is a ``map_reduce`` whose blocks are
concatenated in row order (:func:`influence`); zero-weight rows get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import stats as sst

from gradfit.stats.sufficient import check_block

__all__ = ["Influence", "influence"]


@dataclass(frozen=True, eq=False)
class Influence:
    """Per-row influence measures, as statsmodels' ``OLSInfluence`` (single output).

    Attributes
    ----------
    hat_matrix_diag, resid, resid_studentized_internal, resid_studentized_external : ndarray
    n_params : int
    df_resid : float
    """

    hat_matrix_diag: np.ndarray
    resid: np.ndarray
    resid_studentized_internal: np.ndarray
    resid_studentized_external: np.ndarray
    n_params: int
    df_resid: float

    @property
    def cooks_distance(self) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`D_i`, p-values from F(q, n - q)), as statsmodels."""
        h = self.hat_matrix_diag
        d = self.resid_studentized_internal**2 * h / (1 - h) / self.n_params
        return d, sst.f.sf(d, self.n_params, self.df_resid)

    @property
    def dffits(self) -> tuple[np.ndarray, float]:
        r"""(DFFITS :math:`t_i^* \sqrt{h_i/(1-h_i)}`, the threshold :math:`2\sqrt{q/n}`)."""
        h = self.hat_matrix_diag
        n = np.isfinite(h).sum()
        return (self.resid_studentized_external * np.sqrt(h / (1 - h)),
                2 * np.sqrt(self.n_params / n))

    def summary_frame(self):
        """A pandas DataFrame of the measures (statsmodels' column names)."""
        import pandas as pd

        return pd.DataFrame({"cooks_d": self.cooks_distance[0],
                             "standard_resid": self.resid_studentized_internal,
                             "hat_diag": self.hat_matrix_diag,
                             "dffits_internal": self.resid_studentized_internal
                             * np.sqrt(self.hat_matrix_diag / (1 - self.hat_matrix_diag)),
                             "student_resid": self.resid_studentized_external,
                             "dffits": self.dffits[0]})


def _block(X, Y, s, *, stats, ssr, df_resid):
    """(h, e, t, t*) of one block's rows (NaN for zero weights)."""
    y = np.asarray(Y, float).reshape(len(Y), -1)[:, 0]
    X, y, s = check_block(X, y, s, d=stats.n_features)
    dtype = stats.dtype
    X = X.astype(dtype, copy=False)
    w = np.ones(len(y), dtype) if s is None else s.astype(dtype)
    e = y.astype(dtype) - X @ stats.coef.astype(dtype) - dtype.type(stats.intercept)
    h = stats.leverages(X, w)
    r = np.sqrt(w) * e
    sigma = np.sqrt(ssr / df_resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        internal = r / (sigma * np.sqrt(1 - h))
        sigma_i = np.sqrt((ssr - r * r / (1 - h)) / (df_resid - 1))
        external = r / (sigma_i * np.sqrt(1 - h))
    out = [np.asarray(a, float) for a in (h, e, internal, external)]
    if s is not None:
        for a in (out[0], out[2], out[3]):
            a[s == 0] = np.nan
    return tuple(out)


def _concat(a, b):
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))


def influence(stats, data) -> Influence:
    r"""Influence measures of every row, from the merged statistics and a second pass.

    Parameters
    ----------
    stats : InferenceStats
        The first pass (at the fitted parameters, which should be the optimum).
    data : Backend or tuple
        The same rows: a backend (files, Dask; its blocks are concatenated in row order) or
        ``(X, y, sample_weight)``.

    Returns
    -------
    Influence
    """
    q = stats.n_features + int(stats.fit_intercept)
    df_resid = stats.n - q
    if df_resid < 2:
        raise ValueError(f"influence needs at least q + 2 = {q + 2} rows; got {stats.n}")
    fn = partial(_block, stats=stats, ssr=stats.ssr, df_resid=df_resid)
    if isinstance(data, tuple):
        X, y, s = (tuple(data) + (None,))[:3]
        parts = fn(np.asarray(X), np.asarray(y), s)
    else:
        parts = data.map_reduce(fn, _concat)
    h, e, internal, external = parts
    if np.isfinite(h).sum() != stats.n:
        raise ValueError(f"the influence pass saw {np.isfinite(h).sum()} rows with positive "
                         f"weight; the statistics have {stats.n}: pass the same rows")
    return Influence(h, e, internal, external, q, float(df_resid))
