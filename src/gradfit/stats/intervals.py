"""Confidence intervals of predicted means and prediction intervals of new observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sst

from gradfit.stats.results import summary_from_stats
from gradfit.stats.sufficient import InferenceStats

__all__ = ["prediction_intervals"]


def prediction_intervals(stats_or_summary, X_new, *, alpha=0.05, weights=None,
                         cov_type="nonrobust") -> pd.DataFrame:
    r"""Mean and observation intervals for new rows, like statsmodels'
    ``get_prediction(X_new).summary_frame(alpha)``.

    :math:`\hat\mu = x^\top w + b`, ``mean_se`` :math:`= \sqrt{z^\top V z} = \lVert F z\rVert`
    (the summary's covariance), the observation variance adds :math:`\hat\sigma^2 / s_{new}`
    (``weights``, default 1); quantiles from t(df_resid) when the summary uses t, else normal.

    Parameters
    ----------
    stats_or_summary : Summary or InferenceStats
        An InferenceStats is summarized first with ``cov_type``.
    X_new : array_like (m, d) or (d,)
    alpha : float
    weights : array_like (m,) or float, optional

    Returns
    -------
    pandas.DataFrame
        Columns ``mean, mean_se, mean_ci_lower, mean_ci_upper, obs_ci_lower, obs_ci_upper``.
    """
    summ = stats_or_summary
    if isinstance(summ, InferenceStats):
        summ = summary_from_stats(summ, cov_type=cov_type)
    if summ._cov_factor is None:
        raise ValueError("no covariance for this summary (penalized fit): no intervals")
    coef = summ.coefficients["coef"].to_numpy()
    has_icp = "intercept" in summ.coefficients.index
    X_new = np.asarray(X_new, float)
    d = len(coef) - int(has_icp)
    if X_new.ndim == 1:
        X_new = X_new[None, :] if len(X_new) == d else X_new[:, None]
    if X_new.ndim != 2 or X_new.shape[1] != d:
        raise ValueError(f"X_new must have {d} columns; got shape {X_new.shape}")
    z = np.column_stack([np.ones(len(X_new)), X_new]) if has_icp else X_new
    fz = np.asarray(summ._cov_factor, float) @ z.T
    mean = z @ coef
    mean_se = np.sqrt((fz * fz).sum(0))
    m = summ.model
    var_obs = m["resid_std_err"] ** 2 / (1.0 if weights is None else np.asarray(weights, float))
    crit = (sst.t.ppf(1 - alpha / 2, m["df_resid"]) if m["use_t"]
            else sst.norm.ppf(1 - alpha / 2))
    obs_se = np.sqrt(mean_se**2 + var_obs)
    return pd.DataFrame({"mean": mean, "mean_se": mean_se,
                         "mean_ci_lower": mean - crit * mean_se,
                         "mean_ci_upper": mean + crit * mean_se,
                         "obs_ci_lower": mean - crit * obs_se,
                         "obs_ci_upper": mean + crit * obs_se})


