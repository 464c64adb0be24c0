r"""Analysis of variance of one fitted linear model, as statsmodels'
``anova_lm(results, typ=1 | 2)`` with one term per feature column — from the merged
statistics alone (no pass over the rows).

* **Type 1** (sequential): the sum of squares of feature :math:`j` is the decrease in SSR
  when it is added after the intercept and features :math:`1..j-1`.  With the
  triangular factor :math:`R` of the (weighted, centred) matrix :math:`[X, y]`, whose last
  column is :math:`(Q^\top y)`, it is :math:`R_{j,\,d+1}^2` (without an intercept, the
  factor of the uncentred :math:`[X, y]`).
* **Type 2** (each term after all the others; with main effects only, type 3 too):
  :math:`\mathrm{SS}_j = \hat\theta_j^2 / (A^{-1})_{jj}`, :math:`A = Z^\top W Z`.

Each row has ``df`` 1, ``F`` :math:`= \mathrm{SS}_j / \hat\sigma^2`, ``PR(>F)`` from
F(1, df_resid); the Residual row holds SSR and df_resid.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sst

from gradfit.stats.geometry import Geometry
from gradfit.stats.linalg import stack_r

__all__ = ["anova_table"]


def anova_table(res, typ=1):
    """ANOVA table of a :class:`~gradfit.stats.results.RegressionResults`.

    Parameters
    ----------
    res : RegressionResults
        With its statistics (any fit built by gradfit has them); nonrobust.
    typ : {1, 2}

    Returns
    -------
    pandas.DataFrame
        Index: the features, then ``"Residual"``.  Type 1: columns ``df, sum_sq, mean_sq,
        F, PR(>F)``; type 2: ``sum_sq, df, F, PR(>F)`` (statsmodels' layouts).
    """
    import pandas as pd

    stats = res.stats
    if stats is None or res.cov is None:
        raise ValueError("an ANOVA table needs a least-squares fit with its statistics: "
                         f"{res.model.get('penalized_reason', 'no statistics')}")
    typ = {"1": 1, "I": 1, "2": 2, "II": 2}.get(str(typ).upper())
    if typ is None:
        raise ValueError("typ must be 1 or 2 ('I' or 'II')")
    geo = Geometry(stats)
    if not geo.full_rank:
        raise ValueError("the design is rank deficient: no ANOVA table")
    d = stats.n_features
    names = [str(n) for n in res.params.index[int(stats.fit_intercept):]]
    if typ == 1:
        r = stats.r_xy
        if not stats.fit_intercept:
            row = np.sqrt(stats.sw_sum) * np.r_[stats.mean_x, stats.mean_y]
            r = stack_r(row[None, :], r)
        ss = np.asarray(r[:d, d] ** 2, float)
    else:
        inv_diag = np.asarray((geo.b * geo.b).sum(1), float)[int(stats.fit_intercept):]
        ss = res.params.to_numpy()[int(stats.fit_intercept):] ** 2 / inv_diag
    df_resid, ssr = res.df_resid, res.ssr
    f = ss / (ssr / df_resid)
    p = sst.f.sf(f, 1, df_resid)
    index = [*names, "Residual"]
    sum_sq, df = np.r_[ss, ssr], np.r_[np.ones(d), df_resid]
    fcol, pcol = np.r_[f, np.nan], np.r_[p, np.nan]
    if typ == 1:
        return pd.DataFrame({"df": df, "sum_sq": sum_sq, "mean_sq": sum_sq / df, "F": fcol,
                             "PR(>F)": pcol}, index=index)
    return pd.DataFrame({"sum_sq": sum_sq, "df": df, "F": fcol, "PR(>F)": pcol}, index=index)
