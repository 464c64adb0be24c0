r"""Covariances of the parameters, statsmodels' conventions, as factors :math:`F` with
:math:`\mathrm{Cov}(\hat\theta) = F^\top F`.

With :math:`A = Z^\top W Z` (the design includes the constant column when there is an
intercept), :math:`\hat\sigma^2 = \sum r_i^2 / (n - q)`:

* ``nonrobust``: :math:`\hat\sigma^2 A^{-1}`; t distribution with :math:`n - q` df.
* ``HC0``: :math:`A^{-1} (\sum r_i^2 \tilde z_i \tilde z_i^\top) A^{-1}`,
  :math:`\tilde z_i = \sqrt{s_i} z_i`; ``HC1`` multiplies by :math:`n / (n - q)`;
  ``HC2`` divides :math:`r_i^2` by :math:`1 - h_{ii}`, ``HC3`` by :math:`(1 - h_{ii})^2`.
  As in ``OLS(...).fit(cov_type="HC1")`` the coefficient tests then use the normal
  distribution (``use_t=False``) while the overall F test stays an F(df_model, df_resid)
  Wald test; pass ``use_t`` to override.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sst

from gradfit.stats.geometry import Geometry
from gradfit.stats.linalg import r_factor, solve_upper_t

__all__ = ["COV_TYPES", "COV_DESCRIPTIONS", "SCORE_COV_TYPES", "check_cov_type", "cov_factor",
           "robust_f_test"]

COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3")
#: covariances from a pass over the scores (:mod:`gradfit.stats.robust`)
SCORE_COV_TYPES = ("HAC", "cluster")
COV_DESCRIPTIONS = {
    "nonrobust": "Standard Errors assume that the covariance matrix of the errors is "
                 "correctly specified.",
    **{c: f"Standard Errors are heteroscedasticity robust ({c})" for c in COV_TYPES[1:]},
}


def check_cov_type(cov_type: str) -> str:
    """The canonical spelling of ``cov_type`` (case-insensitive), or a ValueError."""
    for c in COV_TYPES + SCORE_COV_TYPES:
        if str(cov_type).lower() == c.lower():
            return c
    raise ValueError(f"cov_type must be one of {COV_TYPES + SCORE_COV_TYPES}; got {cov_type!r}")


def _meat_in_params(stats, meat: np.ndarray) -> np.ndarray:
    r"""Meat factor in parameter coordinates from the centred one.

    With an intercept the summary works in centred coordinates (returned unchanged);
    without, :math:`z = (1, x - \bar x) \mapsto x = \bar x \cdot 1 + (x - \bar x)`.
    """
    if stats.fit_intercept:
        return meat
    return meat[:, :1] * stats.mean_x[None, :] + meat[:, 1:]


def cov_factor(stats, geo: Geometry, cov_type: str, df_resid: float):
    r"""Factor :math:`F` with :math:`\mathrm{Cov}(\hat\theta) = F^\top F`.

    nonrobust: :math:`F = \hat\sigma B^\top`.  HC: :math:`F = R_m B B^\top`; with an
    intercept :math:`R_m^{(\theta)} B = R_m^{(c)} B_c` exactly (the centring transform
    cancels), so :math:`F = (R_m^{(c)} B_c) B^\top`.  HC1 scales by :math:`\sqrt{n/(n-q)}`.
    Returns None when the HC2/HC3 meat (second pass) is missing; NaNs when rank deficient.
    """
    q = geo.q
    if not geo.full_rank or df_resid <= 0:
        return np.full((q, q), np.nan)
    if cov_type == "nonrobust":
        return np.sqrt(stats.ssr / df_resid) * geo.b.T
    key = "HC0" if cov_type in ("HC0", "HC1") else cov_type
    if key not in stats.meat:
        return None
    meat = _meat_in_params(stats, stats.meat[key])
    with np.errstate(all="ignore"):
        left = meat @ geo.b_c if stats.fit_intercept else meat @ geo.b
        factor = left @ geo.b.T
    if cov_type == "HC1":
        factor = factor * np.sqrt(stats.n / df_resid)
    return factor


def robust_f_test(stats, model, factor, params, cov_type) -> dict:
    r"""Robust overall test: Wald :math:`F = \hat\beta_w^\top V_{ww}^{-1} \hat\beta_w / q_w`
    over the non-constant coefficients, :math:`V_{ww} = F_w^\top F_w` solved through the QR
    factor of :math:`F_w`; nonrobust keeps the ANOVA F of :func:`_model_numbers`."""
    if cov_type == "nonrobust":
        return {}
    cols = slice(1, None) if stats.fit_intercept else slice(None)
    fw, beta = factor[:, cols], params[cols]
    qw = fw.shape[1]
    if qw == 0 or not np.all(np.isfinite(fw)):
        return {"f_statistic": np.nan, "f_pvalue": np.nan}
    rf = r_factor(fw)
    with np.errstate(all="ignore"):
        v = solve_upper_t(rf, beta)
        fval = float(v @ v / qw)
    df = model.get("df_resid_inference", model["df_resid"])
    return {"f_statistic": fval, "f_pvalue": float(sst.f.sf(fval, qw, df))}

