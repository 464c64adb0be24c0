r"""Residual diagnostics: mergeable moments, Durbin–Watson, skew, kurtosis, Jarque–Bera and
the omnibus normality test, as statsmodels' summary reports them.

The residual moments of row blocks merge exactly (Pébay 2008), so every diagnostic here is
available from data read block by block, from files or on Dask.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sst

__all__ = ["moments", "merge_moments", "residual_diagnostics", "omnibus", "chi2_sf"]

def moments(r: np.ndarray) -> np.ndarray:
    r"""``[mean, M2, M3, M4]`` of ``r`` with :math:`M_k = \sum (r - \bar r)^k` (two-pass)."""
    if r.size == 0:
        return np.zeros(4, dtype=r.dtype)
    mean = r.mean()
    d = r - mean
    d2 = d * d
    return np.array([mean, d2.sum(), (d2 * d).sum(), (d2 * d2).sum()], dtype=r.dtype)

def merge_moments(na: int, a: np.ndarray, nb: int, b: np.ndarray) -> np.ndarray:
    r"""Combine ``[mean, M2, M3, M4]`` of two disjoint samples (Pébay 2008).

    With :math:`\delta = \bar r_b - \bar r_a`, :math:`n = n_a + n_b`:
    :math:`M_2 = M_{2a} + M_{2b} + \delta^2 n_a n_b / n`,
    :math:`M_3 = \ldots + \delta^3 n_a n_b (n_a - n_b)/n^2 + 3\delta (n_a M_{2b} - n_b M_{2a})/n`,
    :math:`M_4 = \ldots + \delta^4 n_a n_b (n_a^2 - n_a n_b + n_b^2)/n^3
    + 6\delta^2 (n_a^2 M_{2b} + n_b^2 M_{2a})/n^2 + 4\delta (n_a M_{3b} - n_b M_{3a})/n`.
    """
    if na == 0:
        return b.copy()
    if nb == 0:
        return a.copy()
    n = na + nb
    d = b[0] - a[0]
    mean = a[0] + d * nb / n
    m2 = a[1] + b[1] + d * d * na * nb / n
    m3 = (a[2] + b[2] + d**3 * na * nb * (na - nb) / n**2
          + 3 * d * (na * b[1] - nb * a[1]) / n)
    m4 = (a[3] + b[3] + d**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
          + 6 * d * d * (na * na * b[1] + nb * nb * a[1]) / n**2
          + 4 * d * (na * b[2] - nb * a[2]) / n)
    return np.array([mean, m2, m3, m4], dtype=a.dtype)

def residual_diagnostics(stats) -> dict:
    """Durbin–Watson, skew, kurtosis, Jarque–Bera and omnibus of the whitened residuals."""
    n = stats.n
    mean = stats.res_moments[0]
    m2, m3, m4 = stats.res_moments[1:] / n
    with np.errstate(all="ignore"):
        zero = m2 <= (np.finfo(stats.dtype).eps * mean) ** 2
        skew = np.nan if zero else float(m3 / m2**1.5)
        kurt = np.nan if zero else float(m4 / m2**2)
        dw = float(stats.dw_num / stats.ssr)
        jb = n / 6 * (skew**2 + (kurt - 3) ** 2 / 4)
    omni = omnibus(n, skew, kurt)
    return {"durbin_watson": dw, "omnibus": omni, "omnibus_pvalue": chi2_sf(omni, 2),
            "jarque_bera": float(jb), "jb_pvalue": chi2_sf(jb, 2), "skew": skew,
            "kurtosis": kurt}

def chi2_sf(x: float, k: int) -> float:
    return float(sst.chi2.sf(x, k)) if np.isfinite(x) else np.nan

def _skewtest_z(n: int, b2: float) -> float:
    """D'Agostino's skewness z (as ``scipy.stats.skewtest``), n >= 8."""
    y = b2 * math.sqrt(((n + 1) * (n + 3)) / (6.0 * (n - 2)))
    beta2 = (3.0 * (n**2 + 27 * n - 70) * (n + 1) * (n + 3)
             / ((n - 2.0) * (n + 5) * (n + 7) * (n + 9)))
    w2 = -1 + math.sqrt(2 * (beta2 - 1))
    delta = 1 / math.sqrt(0.5 * math.log(w2))
    alpha = math.sqrt(2.0 / (w2 - 1))
    y = 1.0 if y == 0 else y
    return delta * math.log(y / alpha + math.sqrt((y / alpha) ** 2 + 1))

def _kurtosistest_z(n: int, b2: float) -> float:
    """Anscombe–Glynn kurtosis z (as ``scipy.stats.kurtosistest``); ``b2`` is Pearson's."""
    e = 3.0 * (n - 1) / (n + 1)
    varb2 = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) * (n + 1.0) * (n + 3) * (n + 5))
    x = (b2 - e) / math.sqrt(varb2)
    sqrtbeta1 = (6.0 * (n * n - 5 * n + 2) / ((n + 7) * (n + 9))
                 * math.sqrt((6.0 * (n + 3) * (n + 5)) / (n * (n - 2) * (n - 3))))
    a = 6.0 + 8.0 / sqrtbeta1 * (2.0 / sqrtbeta1 + math.sqrt(1 + 4.0 / sqrtbeta1**2))
    term1 = 1 - 2 / (9.0 * a)
    denom = 1 + x * math.sqrt(2 / (a - 4.0))
    if denom == 0:
        return np.nan
    term2 = math.copysign(((1 - 2.0 / a) / abs(denom)) ** (1 / 3), denom)
    return (term1 - term2) / math.sqrt(2 / (9.0 * a))

def omnibus(n: int, skew: float, kurt: float) -> float:
    """D'Agostino–Pearson statistic :math:`Z_s^2 + Z_k^2` (NaN for n < 8, as statsmodels)."""
    if n < 8 or not (np.isfinite(skew) and np.isfinite(kurt)):
        return np.nan
    return _skewtest_z(n, skew) ** 2 + _kurtosistest_z(n, kurt) ** 2

