r"""Tests of linear restrictions :math:`R\theta = q` on fitted parameters (statsmodels'
``t_test``, ``f_test``, ``wald_test``) and of nested models (``compare_f_test``,
``compare_lr_test``).

With :math:`V` the results' covariance (of its ``cov_type``) and :math:`J` rows of
:math:`R`:

* t test, row by row: :math:`t_j = (R_j\hat\theta - q_j) / \sqrt{(R V R^\top)_{jj}}`, p from
  t(df) or N(0, 1) as the results' ``use_t``;
* Wald: :math:`W = (R\hat\theta - q)^\top (R V R^\top)^{-1} (R\hat\theta - q)`;
  ``f_test`` reports :math:`F = W / J` with F(J, df), ``wald_test`` F (``use_f``, default
  the results' ``use_t``) or :math:`\chi^2_J` = W.

``df`` is ``df_resid`` (:math:`G - 1` for cluster covariances).  Restrictions are a matrix
``R`` (with ``q`` = 0), a pair ``(R, q)``, or a string such as ``"x1 = x2, x3 = 0"`` or
``"2*x1 - x2 = 1"`` over the parameter names (``intercept``; ``const`` and ``Intercept``
are accepted for it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import stats as sst

__all__ = ["ContrastResults", "compare_f_test", "compare_lr_test", "f_test",
           "linear_restrictions", "t_test", "wald_test"]

_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTERCEPT_ALIASES = ("intercept", "const", "Intercept")


@dataclass(frozen=True)
class ContrastResults:
    r"""The outcome of a test of :math:`R\theta = q`.

    Attributes
    ----------
    statistic : float or ndarray
        t (or z) values per row for t tests; F or :math:`\chi^2` for joint tests.
    pvalue : float or ndarray
    distribution : {"t", "z", "F", "chi2"}
    df_denom, df_num : float
    effect, sd : ndarray or None
        :math:`R\hat\theta` and its standard errors (t tests).
    q : ndarray
    """

    statistic: object
    pvalue: object
    distribution: str
    df_denom: float
    df_num: float
    effect: np.ndarray | None = None
    sd: np.ndarray | None = None
    q: np.ndarray | None = None

    @property
    def tvalue(self):
        """The t (or z) statistics of a t test."""
        return self.statistic

    @property
    def fvalue(self):
        """The F statistic of an F test."""
        return self.statistic

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        r"""Intervals :math:`R_j\hat\theta \pm c\,\mathrm{sd}_j` of a t test, (J, 2)."""
        if self.effect is None:
            raise ValueError("confidence intervals are for t tests")
        crit = (sst.t.ppf(1 - alpha / 2, self.df_denom) if self.distribution == "t"
                else sst.norm.ppf(1 - alpha / 2))
        return np.column_stack([self.effect - crit * self.sd, self.effect + crit * self.sd])

    def __str__(self) -> str:
        if self.effect is not None:
            rows = [f"c{j}: effect {e:.6g}, sd {s:.6g}, {self.distribution} {t:.4f}, "
                    f"P>|{self.distribution}| {p:.4g}"
                    for j, (e, s, t, p) in enumerate(zip(self.effect, self.sd, self.statistic,
                                                         self.pvalue))]
            return "Test for constraints\n" + "\n".join(rows)
        what = "F" if self.distribution == "F" else "chi2"
        return (f"<{what} test: {what}={self.statistic:.6g}, p={self.pvalue:.6g}, "
                f"df_denom={self.df_denom:g}, df_num={self.df_num:g}>")


def linear_restrictions(spec, names) -> tuple[np.ndarray, np.ndarray]:
    """``(R, q)`` from a matrix, an ``(R, q)`` pair or a string over ``names``."""
    names = [str(n) for n in names]
    p = len(names)
    if isinstance(spec, str):
        rows = [_parse_constraint(part, names) for part in spec.split(",")]
        return np.array([r for r, _ in rows], float), np.array([c for _, c in rows], float)
    if isinstance(spec, tuple) and len(spec) == 2:
        R, q = np.atleast_2d(np.asarray(spec[0], float)), np.asarray(spec[1], float).ravel()
    else:
        R = np.atleast_2d(np.asarray(spec, float))
        q = np.zeros(len(R))
    if R.ndim != 2 or R.shape[1] != p:
        raise ValueError(f"R must have {p} columns (one per parameter: {names}); got shape "
                         f"{R.shape}")
    if len(q) != len(R):
        raise ValueError(f"q must have one value per row of R ({len(R)}); got {len(q)}")
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(q))):
        raise ValueError("R and q must be finite")
    return R, q


def _parse_constraint(text: str, names):
    """One ``lhs = rhs`` (or ``lhs``, meaning ``lhs = 0``) as (row, constant)."""
    sides = text.split("=")
    if len(sides) > 2 or not text.strip():
        raise ValueError(f"cannot read the restriction {text.strip()!r}: write it as "
                         "'a = b', e.g. 'x1 = x2' or '2*x1 - x3 = 1'")
    lhs, lc = _parse_side(sides[0], names, text)
    rhs, rc = _parse_side(sides[1], names, text) if len(sides) == 2 else (0 * lhs, 0.0)
    return lhs - rhs, rc - lc


def _parse_side(expr: str, names, whole: str):
    """A linear expression ``[+-][number[*]]name | number ...`` as (coefficients, constant)."""
    lookup = {n: i for i, n in enumerate(names)}
    if "intercept" in lookup:
        for alias in _INTERCEPT_ALIASES:
            lookup.setdefault(alias, lookup["intercept"])
    order = sorted(lookup, key=len, reverse=True)
    row, const, pos, s = np.zeros(len(names)), 0.0, 0, expr.strip()
    if not s:
        raise ValueError(f"empty side in the restriction {whole.strip()!r}")
    while pos < len(s):
        sign, pos = _read_sign(s, pos, first=pos == 0, whole=whole)
        m = _NUMBER.match(s, pos)
        number = None
        if m:
            number, pos = float(m.group(0)), _skip(s, m.end())
            if pos < len(s) and s[pos] == "*":
                pos = _skip(s, pos + 1)
        name = next((n for n in order if s.startswith(n, pos)), None)
        if name is not None:
            row[lookup[name]] += sign * (1.0 if number is None else number)
            pos = _skip(s, pos + len(name))
        elif number is not None:
            const += sign * number
        else:
            raise ValueError(f"cannot read {s[pos:]!r} in the restriction {whole.strip()!r}: "
                             f"the parameters are {names}")
    return row, const


def _skip(s: str, pos: int) -> int:
    while pos < len(s) and s[pos].isspace():
        pos += 1
    return pos


def _read_sign(s: str, pos: int, first: bool, whole: str):
    pos, sign, seen = _skip(s, pos), 1.0, False
    while pos < len(s) and s[pos] in "+-":
        sign, seen = (-sign if s[pos] == "-" else sign), True
        pos = _skip(s, pos + 1)
    if not (first or seen):
        raise ValueError(f"expected + or - at {s[pos:]!r} in the restriction {whole.strip()!r}")
    return sign, pos


def _setup(res, spec):
    if res.cov is None:
        raise ValueError(f"no covariance for these results "
                         f"({res.model.get('penalized_reason', 'no inference')}): no tests")
    R, q = linear_restrictions(spec, res.params.index)
    theta = res.params.to_numpy()
    factor = np.asarray(res._cov_factor, float)
    fr = factor @ R.T  # (R V R^T) = fr^T fr
    return R, q, R @ theta - q, fr


def t_test(res, spec) -> ContrastResults:
    r"""Row-by-row tests of :math:`R\theta = q`: :math:`t_j = (R_j\hat\theta - q_j) /
    \sqrt{(R V R^\top)_{jj}}`; see the module docstring.

    Parameters
    ----------
    res : RegressionResults
    spec : str, array_like (J, p) or (R, q)

    Returns
    -------
    ContrastResults
        ``effect`` :math:`= R\hat\theta`, ``sd``, ``tvalue``, ``pvalue``, ``conf_int()``.
    """
    R, q, diff, fr = _setup(res, spec)
    sd = np.sqrt((fr * fr).sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / sd
    df = res.df_resid_inference
    if res.use_t:
        p, dist = 2 * sst.t.sf(np.abs(t), df), "t"
    else:
        p, dist = 2 * sst.norm.sf(np.abs(t)), "z"
    return ContrastResults(t, p, dist, df, float(len(R)), effect=R @ res.params.to_numpy(),
                           sd=sd, q=q)


def _wald(res, spec):
    R, q, diff, fr = _setup(res, spec)
    cov = fr.T @ fr
    w = float(diff @ np.linalg.lstsq(cov, diff, rcond=None)[0])
    sd = np.sqrt(np.diag(cov))  # the rank of the correlation matrix: scale-free
    rank = int(np.linalg.matrix_rank(cov / np.outer(sd, sd))) if np.all(sd > 0) else \
        int(np.linalg.matrix_rank(cov))
    return w, rank, q


def f_test(res, spec) -> ContrastResults:
    r"""Joint F test of :math:`R\theta = q`: :math:`F = W / J \sim F(J, df)`,
    :math:`W = (R\hat\theta - q)^\top (R V R^\top)^{-1} (R\hat\theta - q)`
    (:math:`J` the rank of :math:`R V R^\top`).

    Parameters
    ----------
    res : RegressionResults
    spec : str, array_like (J, p) or (R, q)

    Returns
    -------
    ContrastResults
        ``fvalue``, ``pvalue``, ``df_num`` :math:`= J`, ``df_denom``.
    """
    w, j, q = _wald(res, spec)
    df = res.df_resid_inference
    f = w / j
    return ContrastResults(f, float(sst.f.sf(f, j, df)), "F", df, float(j), q=q)


def wald_test(res, spec, use_f=None) -> ContrastResults:
    r"""Wald test of :math:`R\theta = q`: F :math:`= W/J` on F(J, df) when ``use_f``
    (default: the results' ``use_t``), else :math:`W \sim \chi^2_J`.

    Parameters
    ----------
    res : RegressionResults
    spec : str, array_like (J, p) or (R, q)
    use_f : bool, optional

    Returns
    -------
    ContrastResults
    """
    use_f = res.use_t if use_f is None else bool(use_f)
    if use_f:
        return f_test(res, spec)
    w, j, q = _wald(res, spec)
    return ContrastResults(w, float(sst.chi2.sf(w, j)), "chi2", res.df_resid_inference,
                           float(j), q=q)


def _nested(full, restricted):
    if restricted.nobs != full.nobs:
        raise ValueError(f"the models were fitted on different rows ({full.nobs:g} and "
                         f"{restricted.nobs:g})")
    df_diff = restricted.df_resid - full.df_resid
    if df_diff <= 0:
        raise ValueError("the restricted model must have fewer parameters than the full one "
                         "(call full.compare_f_test(restricted))")
    return df_diff


def compare_f_test(full, restricted) -> tuple[float, float, float]:
    r"""F test of a restricted (nested) model against the full one:
    :math:`F = \frac{(\mathrm{SSR}_r - \mathrm{SSR}_f) / (df_r - df_f)}{\mathrm{SSR}_f /
    df_f}` on F(:math:`df_r - df_f`, :math:`df_f`), :math:`df` the residual degrees of
    freedom.

    Returns
    -------
    (f_value, p_value, df_diff)
    """
    df_diff = _nested(full, restricted)
    f = (restricted.ssr - full.ssr) / df_diff / (full.ssr / full.df_resid)
    return float(f), float(sst.f.sf(f, df_diff, full.df_resid)), float(df_diff)


def compare_lr_test(full, restricted) -> tuple[float, float, float]:
    r"""Likelihood-ratio test of a nested model: :math:`LR = -2(\ell_r - \ell_f)` on
    :math:`\chi^2_{df_r - df_f}`.

    Returns
    -------
    (lr_statistic, p_value, df_diff)
    """
    df_diff = _nested(full, restricted)
    lr = -2 * (restricted.llf - full.llf)
    return float(lr), float(sst.chi2.sf(lr, df_diff)), float(df_diff)
