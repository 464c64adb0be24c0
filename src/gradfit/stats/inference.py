r"""Statsmodels-like inference for a fitted single-output linear model.

The statistics are computed **at the parameters you give** (an exact fit or an unconverged
gradient-descent fit alike), and the summary also says how far those parameters are from the
exact least-squares optimum.

Model and objective
-------------------
For rows :math:`(x_i, y_i)` with weights :math:`s_i > 0` the model is
:math:`\hat y_i = x_i^\top w + b` and the objective is

.. math:: F(w, b) = \sum_i s_i (y_i - x_i^\top w - b)^2 \,/\, \sum_i s_i .

Residuals are :math:`e_i = y_i - x_i^\top w - b`; the *whitened* residuals that statsmodels'
WLS uses are :math:`r_i = \sqrt{s_i}\, e_i` (with unit weights, OLS, :math:`r_i = e_i`).
Rows with :math:`s_i = 0` are treated as absent (scikit-learn's convention); statsmodels
would count them in ``nobs``.

Sufficient statistics (:class:`InferenceStats`)
-----------------------------------------------
Everything is computed from statistics that are accumulated block by block and merged,
so the data never need to be in memory at once:

* data part (independent of the parameters): :math:`n`, :math:`S = \sum s_i`,
  :math:`\sum \log s_i`, the weighted means :math:`\bar x, \bar y`, and an upper-triangular
  factor :math:`R` with :math:`R^\top R = \sum_i s_i\, u_i u_i^\top`,
  :math:`u_i = (x_i - \bar x,\; y_i - \bar y)` — the **centred** weighted Gram of
  :math:`[X, y]`, kept as a QR factor rather than as a Gram matrix.  Blocks are merged by a
  tall-skinny QR of the stacked factors plus the mean-shift row (Chan's update in factor
  form):  :math:`C = C_a + C_b + \frac{S_a S_b}{S}\,\delta\delta^\top`,
  :math:`\delta = \bar u_b - \bar u_a`.  Householder QR is column-scaling invariant and the
  factor's condition number is the square root of the Gram's, so nothing here inverts an
  unscaled Gram matrix; every later step is a triangular solve with :math:`R`.
* residual part (at the given :math:`w, b`): the count, mean and central sums
  :math:`M_2, M_3, M_4` of :math:`r_i` (merged with Pébay's formulas), the Durbin–Watson
  numerator :math:`\sum_t (r_t - r_{t-1})^2` with the first and last residual of each block
  carried across the block boundary, :math:`\sum s_i e_i`, the gradient piece
  :math:`g = \sum s_i e_i (x_i - \bar x)`, and the HC0/HC1 "meat"
  :math:`\sum_i (s_i e_i)^2 z_i z_i^\top`, :math:`z_i = (1, x_i - \bar x)`, again as a QR
  factor.
* HC2/HC3 need the leverages :math:`h_{ii} = s_i z_i^\top (Z^\top W Z)^{-1} z_i`, which
  need the finished first pass: call :meth:`InferenceStats.with_leverage` with the same
  blocks again (a **second pass**).  :func:`summarize` does both passes itself.

Precision
---------
Blocks are factorised in float64 (LAPACK) or, when the inputs are ``numpy.longdouble``
or the data are small (``precision="auto"``: :math:`n (d+1)^2 \le 2\cdot 10^7`), by a
Householder QR in extended precision (x86 80-bit ``longdouble``, about 19 digits), with
the residuals and triangular solves in that precision too.  On platforms whose
``longdouble`` is float64 the two paths coincide.

Covariances (statsmodels' conventions)
--------------------------------------
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

import json
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import stats as sst

__all__ = [
    "COV_TYPES",
    "InferenceStats",
    "Summary",
    "prediction_intervals",
    "summarize",
    "summary_from_stats",
]

COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3")
COEF_COLUMNS = ["coef", "std_err", "t", "p_value", "ci_low", "ci_high"]
EXTENDED = np.dtype(np.longdouble)
#: ``precision="auto"`` uses extended precision when n * (d + 1)**2 is at most this.
AUTO_EXTENDED_LIMIT = 2e7
#: rows per block when :meth:`InferenceStats.from_arrays` splits in-memory data.
DEFAULT_BLOCK_BYTES = 32 * 2**20
#: float64 blocks with at least this many rows per column use Cholesky-QR2 ...
CHOLQR_MIN_ROWS = 8
#: ... unless the column-scaled block is worse conditioned than this (then Householder).
CHOLQR_MAX_COND = 1e6
#: relative objective gap above which a summary warns that the fit is not at the optimum.
GAP_WARN_REL = 1e-8

_COV_DESCRIPTIONS = {
    "nonrobust": "Standard Errors assume that the covariance matrix of the errors is "
                 "correctly specified.",
    **{c: f"Standard Errors are heteroscedasticity robust ({c})" for c in COV_TYPES[1:]},
}
_UNCENTERED_NOTE = ("R² is computed without centering (uncentered) since the model does "
                    "not contain a constant: R² = 1 - RSS / Σ s y², and the regression SS is "
                    "Σ s ŷ² at the optimum.")


# ----------------------------------------------------------------------------------------
# small linear-algebra helpers (work in float64 or longdouble alike)
# ----------------------------------------------------------------------------------------

def _householder_r(a: np.ndarray) -> np.ndarray:
    """Upper-triangular ``R`` (q, q) of a Householder QR of ``a`` (n, q), any float dtype.

    Used for ``longdouble``, which LAPACK does not handle.  ``R^T R = a^T a``.
    """
    a = np.array(a, copy=True)
    n, q = a.shape
    for k in range(min(n, q)):
        x = a[k:, k]
        norm = np.sqrt(x @ x)
        if norm == 0:
            continue
        v = x.copy()
        v[0] += norm if x[0] >= 0 else -norm
        tail = a[k:, k:]
        tail -= np.outer(v, (2 / (v @ v)) * (v @ tail))
    return _pad_square(np.triu(a[: min(n, q)]), q)


def _pad_square(r: np.ndarray, q: int) -> np.ndarray:
    """Zero-pad the rows of a (m, q) triangular factor to (q, q)."""
    if r.shape[0] == q:
        return r
    out = np.zeros((q, q), dtype=r.dtype)
    out[: r.shape[0]] = r
    return out


def _r_factor(a: np.ndarray) -> np.ndarray:
    """Triangular factor ``R`` (q, q) with ``R^T R = a^T a``.

    float64: Cholesky-QR2 on tall blocks (fast BLAS-3, see :func:`_cholqr2_r`), else
    LAPACK Householder; other dtypes (longdouble): :func:`_householder_r`.
    """
    q = a.shape[1]
    if a.shape[0] == 0:
        return np.zeros((q, q), dtype=a.dtype)
    if a.dtype != np.float64:
        return _householder_r(a)
    if a.shape[0] >= CHOLQR_MIN_ROWS * max(q, 1):
        r = _cholqr2_r(a)
        if r is not None:
            return r
    return _pad_square(np.linalg.qr(a, mode="r"), q)


def _cholqr2_r(a: np.ndarray) -> np.ndarray | None:
    r"""Cholesky-QR2 of the column-scaled ``a``: :math:`a D^{-1} = Q_1 R_1` with
    :math:`R_1 = \operatorname{chol}(D^{-1} a^\top a D^{-1})`, then one re-orthogonalisation
    :math:`Q_1 = Q R_2`, :math:`R = R_2 R_1 D`.

    As accurate as Householder QR when the scaled block's condition number is below about
    ``CHOLQR_MAX_COND`` (Yamamoto et al. 2015); returns None otherwise (or when the Gram is
    not positive definite) so the caller falls back to Householder.
    """
    norms = np.sqrt(np.einsum("ij,ij->j", a, a))
    if not np.all(norms > 0):
        return None
    s = a / norms
    try:
        r1 = np.linalg.cholesky(s.T @ s).T
        if np.linalg.cond(r1) > CHOLQR_MAX_COND:
            return None
        q1 = sla.solve_triangular(r1, s.T, lower=False, trans="T", check_finite=False).T
        r2 = np.linalg.cholesky(q1.T @ q1).T
    except np.linalg.LinAlgError:
        return None
    return (r2 @ r1) * norms


def _stack_r(*parts: np.ndarray) -> np.ndarray:
    """Factor of the vertically stacked ``parts`` (the TSQR merge step)."""
    return _r_factor(np.vstack(parts))


def _solve_upper(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R x = b`` for upper-triangular ``R`` by back substitution."""
    if r.dtype == np.float64 and b.dtype == np.float64:
        return sla.solve_triangular(r, b, lower=False)
    x = np.array(b, dtype=np.result_type(r, b), copy=True)
    for i in range(r.shape[0] - 1, -1, -1):
        x[i] = (x[i] - r[i, i + 1:] @ x[i + 1:]) / r[i, i]
    return x


def _solve_upper_t(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R^T x = b`` for upper-triangular ``R`` by forward substitution."""
    if r.dtype == np.float64 and b.dtype == np.float64:
        return sla.solve_triangular(r, b, lower=False, trans="T")
    x = np.array(b, dtype=np.result_type(r, b), copy=True)
    for i in range(r.shape[0]):
        x[i] = (x[i] - r[:i, i] @ x[:i]) / r[i, i]
    return x


def _finite_float(x) -> float | None:
    """``float(x)`` for JSON, with NaN and infinities as ``None``."""
    x = float(x)
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------
# residual moments (Pébay's pairwise update)
# ----------------------------------------------------------------------------------------

def _moments(r: np.ndarray) -> np.ndarray:
    r"""``[mean, M2, M3, M4]`` of ``r`` with :math:`M_k = \sum (r - \bar r)^k` (two-pass)."""
    if r.size == 0:
        return np.zeros(4, dtype=r.dtype)
    mean = r.mean()
    d = r - mean
    d2 = d * d
    return np.array([mean, d2.sum(), (d2 * d).sum(), (d2 * d2).sum()], dtype=r.dtype)


def _merge_moments(na: int, a: np.ndarray, nb: int, b: np.ndarray) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------
# input checking
# ----------------------------------------------------------------------------------------

def _as_coef(coef, intercept, fit_intercept: bool) -> tuple[np.ndarray, float]:
    """Validate ``coef`` (d,) and ``intercept``; single output only."""
    c = np.asarray(coef)
    if c.ndim == 2 and 1 in c.shape:
        c = c.ravel()
    if c.ndim != 1:
        raise ValueError(
            f"coef must have shape (n_features,); got {c.shape}. Inference is for a single "
            "output: summarize each output (row of coef_) separately.")
    icp = np.asarray(intercept)
    if icp.size != 1:
        raise ValueError(f"intercept must be a scalar for a single output; got shape "
                         f"{icp.shape}. Summarize each output separately.")
    c = c.astype(np.result_type(c.dtype, np.float64))
    icp = icp.reshape(()).astype(np.result_type(icp.dtype, np.float64))[()]
    if not fit_intercept and icp != 0:
        raise ValueError("fit_intercept=False but intercept is not 0")
    if not (np.all(np.isfinite(c)) and np.isfinite(icp)):
        raise ValueError("coef and intercept must be finite")
    return c, icp


def _work_dtype(arrays: Sequence[np.ndarray], precision: str, n: int, q: int) -> np.dtype:
    """float64, or longdouble for longdouble inputs / small data / ``precision="extended"``."""
    if precision not in ("auto", "double", "extended"):
        raise ValueError(f"precision must be 'auto', 'double' or 'extended'; got {precision!r}")
    if precision == "extended" or any(a.dtype == EXTENDED for a in arrays):
        return EXTENDED
    if precision == "auto" and n * q * q <= AUTO_EXTENDED_LIMIT:
        return EXTENDED
    return np.dtype(np.float64)


def _check_block(X, y, sample_weight, d: int | None = None):
    """Arrays ``(X (n, d), y (n,), s (n,) or None)`` with clear errors for bad input."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (single output); got shape {y.shape}. "
                         "Summarize each output separately.")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} columns; coef has {d}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite (no NaN or inf)")
    s = None
    if sample_weight is not None:
        s = np.asarray(sample_weight)
        if s.shape != y.shape:
            raise ValueError(f"sample_weight has shape {s.shape}; expected {y.shape}")
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError("sample_weight must be finite and non-negative")
    return X, y, s


# ----------------------------------------------------------------------------------------
# sufficient statistics
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class InferenceStats:
    r"""Sufficient statistics for inference, mergeable across data blocks.

    Build with :meth:`from_arrays` (in-memory data) or :meth:`from_blocks` (an iterable of
    ``(X_block, y_block, sample_weight_block)``), combine partial results with
    :meth:`merge` (``a.merge(b)`` means *b's rows follow a's*, which matters only for the
    Durbin–Watson statistic), and run :meth:`with_leverage` as a second pass when HC2/HC3
    standard errors are wanted.  All residual-based fields are taken at ``coef`` and
    ``intercept``; merging requires the same parameters.

    Attributes
    ----------
    coef : ndarray (d,)
    intercept : float
    fit_intercept : bool
    weighted : bool
        Whether sample weights were given (the summary then reports WLS).
    n : int
        Rows with positive weight.
    sw_sum, sum_log_sw : float
        :math:`S = \sum s_i` and :math:`\sum \log s_i` (the WLS log-likelihood term).
    mean_x : ndarray (d,), mean_y : float
        Weighted means :math:`\bar x = \sum s_i x_i / S`, :math:`\bar y`.
    r_xy : ndarray (d+1, d+1)
        Upper triangular, :math:`R^\top R = \sum_i s_i u_i u_i^\top`,
        :math:`u_i = (x_i - \bar x, y_i - \bar y)`.
    res_moments : ndarray (4,)
        Mean and central sums :math:`M_2, M_3, M_4` of :math:`r_i = \sqrt{s_i} e_i`.
    res_first, res_last, dw_num : float
        First and last :math:`r_i` and :math:`\sum_{t \ge 2} (r_t - r_{t-1})^2`.
    sum_se : float
        :math:`\sum s_i e_i`.
    grad_c : ndarray (d,)
        :math:`\sum s_i e_i (x_i - \bar x)`.
    err_scale : float
        :math:`\sum s_i (|y_i| + |x_i|^\top |w| + |b|)^2`: the objective gap that rounding
        the parameters to float64 can leave is about :math:`(\epsilon_{64})^2` times this over
        :math:`S`; smaller gaps are not warned about.
    meat : dict
        ``"HC0"`` (always) and, after :meth:`with_leverage`, ``"HC2"``/``"HC3"``: factors
        :math:`R_m` with :math:`R_m^\top R_m = \sum_i (s_i e_i)^2 c_i z_i z_i^\top`,
        :math:`z_i = (1, x_i - \bar x)`, :math:`c_i = 1, (1 - h_{ii})^{-1}, (1 - h_{ii})^{-2}`.
    max_leverage : float or None
        Largest :math:`h_{ii}` (after :meth:`with_leverage`).
    """

    coef: np.ndarray
    intercept: float
    fit_intercept: bool
    weighted: bool
    n: int
    sw_sum: float
    sum_log_sw: float
    mean_x: np.ndarray
    mean_y: float
    r_xy: np.ndarray
    res_moments: np.ndarray
    res_first: float
    res_last: float
    dw_num: float
    sum_se: float
    grad_c: np.ndarray
    err_scale: float
    meat: dict = field(default_factory=dict)
    max_leverage: float | None = None

    # -- construction ---------------------------------------------------------------------

    @property
    def n_features(self) -> int:
        return len(self.coef)

    @property
    def dtype(self) -> np.dtype:
        """The working precision (float64 or longdouble)."""
        return self.r_xy.dtype

    @classmethod
    def from_arrays(cls, X, y, coef, intercept, *, sample_weight=None, fit_intercept=True,
                    leverage=False, precision="auto", block_rows=None) -> InferenceStats:
        """Accumulate the statistics of in-memory data at ``coef``, ``intercept``.

        Parameters
        ----------
        X : array_like (n, d); y : array_like (n,)
        coef : array_like (d,); intercept : float
            The parameters the residual statistics are taken at (any fit, converged or not).
        sample_weight : array_like (n,), optional
            Non-negative; zero-weight rows are dropped.
        fit_intercept : bool
            Whether ``intercept`` is a fitted parameter (it must be 0 otherwise).
        leverage : bool
            Also run the second pass for HC2/HC3 (see :meth:`with_leverage`).
        precision : {"auto", "double", "extended"}
            "auto" uses extended precision (longdouble) for small data
            (:math:`n (d+1)^2 \\le` ``AUTO_EXTENDED_LIMIT``) and for longdouble inputs.
        block_rows : int, optional
            Rows per block (default: blocks of about 32 MiB).
        """
        X, y, s = _check_block(X, y, sample_weight)
        coef, intercept = _as_coef(coef, intercept, fit_intercept)
        if X.shape[1] != len(coef):
            raise ValueError(f"X has {X.shape[1]} columns; coef has {len(coef)}")
        dtype = _work_dtype([X, y, coef], precision, len(y), X.shape[1] + 1)
        if block_rows is None:
            block_rows = max(1024, DEFAULT_BLOCK_BYTES // (8 * (X.shape[1] + 2)))
        blocks = [(X[i:i + block_rows], y[i:i + block_rows],
                   None if s is None else s[i:i + block_rows])
                  for i in range(0, max(len(y), 1), block_rows)]
        stats = cls.from_blocks(blocks, coef, intercept, fit_intercept=fit_intercept,
                                dtype=dtype, weighted=s is not None)
        return stats.with_leverage(blocks) if leverage else stats

    @classmethod
    def from_blocks(cls, blocks: Iterable, coef, intercept, *, fit_intercept=True,
                    dtype=np.float64, weighted=None) -> InferenceStats:
        """One pass over ``(X_block, y_block, sample_weight_block or None)`` blocks, in order.

        ``dtype`` is the working precision (float64 or ``numpy.longdouble``).  ``weighted``
        (default: whether any block had weights) only sets the OLS/WLS label.
        """
        coef, intercept = _as_coef(coef, intercept, fit_intercept)
        total = cls._empty(coef, intercept, fit_intercept, np.dtype(dtype))
        any_w = False
        for block in blocks:
            X, y, s = _check_block(*block, d=len(coef))
            any_w |= s is not None
            total = total.merge(cls._block(X, y, s, coef, intercept, fit_intercept, total.dtype))
        return replace(total, weighted=any_w if weighted is None else bool(weighted))

    @classmethod
    def _empty(cls, coef, intercept, fit_intercept, dtype) -> InferenceStats:
        d = len(coef)
        z = dtype.type(0)
        return cls(coef=coef, intercept=intercept, fit_intercept=fit_intercept, weighted=False,
                   n=0, sw_sum=z, sum_log_sw=z, mean_x=np.zeros(d, dtype), mean_y=z,
                   r_xy=np.zeros((d + 1, d + 1), dtype), res_moments=np.zeros(4, dtype),
                   res_first=z, res_last=z, dw_num=z, sum_se=z, grad_c=np.zeros(d, dtype),
                   err_scale=z, meat={"HC0": np.zeros((d + 1, d + 1), dtype)})

    @classmethod
    def _block(cls, X, y, s, coef, intercept, fit_intercept, dtype) -> InferenceStats:
        """Statistics of one block (zero-weight rows dropped)."""
        if s is not None:
            keep = s > 0
            X, y, s = X[keep], y[keep], s[keep].astype(dtype)
        X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
        if len(y) == 0:
            return cls._empty(coef, intercept, fit_intercept, dtype)
        n, d = X.shape
        s_arr = np.ones(n, dtype) if s is None else s
        sw = s_arr.sum()
        mx, my = _weighted_mean(X, s_arr, sw), _weighted_mean(y, s_arr, sw)
        w, b = coef.astype(dtype), dtype.type(intercept)
        e = y - X @ w - b
        sq = np.sqrt(s_arr)
        r, se = sq * e, s_arr * e
        u = np.empty((n, d + 1), dtype)  # rows (x - mx, y - my), then scaled by sqrt(s)
        np.subtract(X, mx, out=u[:, :d])
        np.subtract(y, my, out=u[:, d])
        grad_c = u[:, :d].T @ se
        z = np.empty((n, d + 1), dtype)  # rows s e (1, x - mx)
        z[:, 0] = se
        np.multiply(u[:, :d], se[:, None], out=z[:, 1:])
        u *= sq[:, None]
        return cls(
            coef=coef, intercept=intercept, fit_intercept=fit_intercept, weighted=s is not None,
            n=n, sw_sum=sw, sum_log_sw=np.log(s_arr).sum(), mean_x=mx, mean_y=my,
            r_xy=_r_factor(u), res_moments=_moments(r), res_first=r[0], res_last=r[-1],
            dw_num=(np.diff(r) ** 2).sum(), sum_se=se.sum(), grad_c=grad_c,
            err_scale=(s_arr * (np.abs(y) + np.abs(X) @ np.abs(w) + abs(b)) ** 2).sum(),
            meat={"HC0": _r_factor(z)})

    # -- merging ----------------------------------------------------------------------------

    def _check_same_fit(self, other: InferenceStats) -> None:
        if (self.fit_intercept != other.fit_intercept
                or not np.array_equal(self.coef, other.coef)
                or self.intercept != other.intercept):
            raise ValueError("cannot merge statistics taken at different parameters "
                             "(coef, intercept, fit_intercept must be identical)")

    def merge(self, other: InferenceStats) -> InferenceStats:
        r"""Statistics of the rows of ``self`` followed by the rows of ``other``.

        The factor update is :math:`R = \operatorname{qr}([R_a; R_b;
        \sqrt{S_a S_b / S}\,\delta^\top])` with :math:`\delta` the difference of the block
        means; meat factors are re-centred exactly by
        :math:`z \mapsto (1, x - \bar x_a + (\bar x_a - \bar x))`.  The HC2/HC3 second-pass
        terms are dropped (they depend on the whole data): run :meth:`with_leverage` on the
        merged statistics.
        """
        self._check_same_fit(other)
        if other.n == 0:
            return replace(self, weighted=self.weighted or other.weighted)
        if self.n == 0:
            return replace(other, weighted=self.weighted or other.weighted)
        dtype = np.result_type(self.dtype, other.dtype)
        a, b = self._astype(dtype), other._astype(dtype)
        sw = a.sw_sum + b.sw_sum
        mx = a.mean_x + (b.mean_x - a.mean_x) * (b.sw_sum / sw)
        my = a.mean_y + (b.mean_y - a.mean_y) * (b.sw_sum / sw)
        shift = np.append(b.mean_x - a.mean_x, b.mean_y - a.mean_y)
        shift_row = np.sqrt(a.sw_sum * b.sw_sum / sw) * shift[None, :]
        return InferenceStats(
            coef=a.coef, intercept=a.intercept, fit_intercept=a.fit_intercept,
            weighted=a.weighted or b.weighted, n=a.n + b.n, sw_sum=sw,
            sum_log_sw=a.sum_log_sw + b.sum_log_sw, mean_x=mx, mean_y=my,
            r_xy=_stack_r(a.r_xy, b.r_xy, shift_row),
            res_moments=_merge_moments(a.n, a.res_moments, b.n, b.res_moments),
            res_first=a.res_first, res_last=b.res_last,
            dw_num=a.dw_num + b.dw_num + (b.res_first - a.res_last) ** 2,
            sum_se=a.sum_se + b.sum_se,
            grad_c=a.grad_c + (a.mean_x - mx) * a.sum_se + b.grad_c + (b.mean_x - mx) * b.sum_se,
            err_scale=a.err_scale + b.err_scale,
            meat={"HC0": _stack_r(_recentre(a.meat["HC0"], a.mean_x - mx),
                                  _recentre(b.meat["HC0"], b.mean_x - mx))})

    def _astype(self, dtype) -> InferenceStats:
        if self.dtype == dtype:
            return self
        cast = {k: getattr(self, k).astype(dtype) if isinstance(getattr(self, k), np.ndarray)
                else dtype.type(getattr(self, k))
                for k in ("sw_sum", "sum_log_sw", "mean_x", "mean_y", "r_xy", "res_moments",
                          "res_first", "res_last", "dw_num", "sum_se", "grad_c", "err_scale")}
        return replace(self, **cast, meat={k: v.astype(dtype) for k, v in self.meat.items()})

    # -- second pass ------------------------------------------------------------------------

    def leverages(self, X, sample_weight=None) -> np.ndarray:
        r"""Leverages :math:`h_{ii} = s_i z_i^\top (Z^\top W Z)^{-1} z_i` of rows of ``X``.

        With an intercept, in centred coordinates
        :math:`h_{ii} = s_i (1/S + \lVert R_x^{-\top}(x_i - \bar x)\rVert^2)`; without,
        :math:`h_{ii} = s_i \lVert R_0^{-\top} x_i \rVert^2` with :math:`R_0` the factor of
        the uncentred Gram.
        """
        X = np.asarray(X).astype(self.dtype, copy=False)
        s = (np.ones(len(X), self.dtype) if sample_weight is None
             else np.asarray(sample_weight).astype(self.dtype))
        if self.fit_intercept:
            u = _solve_upper_t(self._rx, (X - self.mean_x).T)
            return s * (1 / self.sw_sum + (u * u).sum(0))
        u = _solve_upper_t(self._r0, X.T)
        return s * (u * u).sum(0)

    def with_leverage(self, blocks: Iterable) -> InferenceStats:
        r"""Second pass: add the HC2/HC3 meats, :math:`\sum (s_i e_i)^2 z_i z_i^\top /
        (1 - h_{ii})^k`, :math:`k = 1, 2`.

        ``blocks`` must yield the same rows (same order not required) as the first pass.
        """
        d, dtype = self.n_features, self.dtype
        acc = {"HC2": np.zeros((d + 1, d + 1), dtype), "HC3": np.zeros((d + 1, d + 1), dtype)}
        n, hmax = 0, 0.0
        w, b = self.coef.astype(dtype), dtype.type(self.intercept)
        for block in blocks:
            X, y, s = _check_block(*block, d=d)
            if s is not None:
                keep = s > 0
                X, y, s = X[keep], y[keep], s[keep]
            X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
            if len(y) == 0:
                continue
            s = np.ones(len(y), dtype) if s is None else s.astype(dtype)
            h = self.leverages(X, s)
            se = s * (y - X @ w - b)
            z = np.column_stack([np.ones(len(y), dtype), X - self.mean_x])
            with np.errstate(divide="ignore", invalid="ignore"):
                acc["HC2"] = _stack_r(acc["HC2"], (se / np.sqrt(1 - h))[:, None] * z)
                acc["HC3"] = _stack_r(acc["HC3"], (se / (1 - h))[:, None] * z)
            n += len(y)
            hmax = max(hmax, float(h.max()))
        if n != self.n:
            raise ValueError(f"the leverage pass saw {n} rows with positive weight; the first "
                             f"pass saw {self.n}: pass the same data again")
        return replace(self, meat={"HC0": self.meat["HC0"], **acc}, max_leverage=hmax)

    # -- derived factors ----------------------------------------------------------------------

    @property
    def _rx(self) -> np.ndarray:
        """Factor of the centred weighted Gram of X: :math:`R_x^\\top R_x = C`."""
        return self.r_xy[:-1, :-1]

    @property
    def _r0(self) -> np.ndarray:
        """Factor of the uncentred Gram :math:`X^\\top W X = C + S \\bar x \\bar x^\\top`."""
        return _stack_r(np.sqrt(self.sw_sum) * self.mean_x[None, :], self._rx)

    @property
    def centered_tss(self):
        r""":math:`\sum s_i (y_i - \bar y)^2` (norm of the last column of ``r_xy``)."""
        col = self.r_xy[:, -1]
        return col @ col

    @property
    def ssr(self):
        r""":math:`\sum s_i e_i^2 = M_2 + n \bar r^2`."""
        return self.res_moments[1] + self.n * self.res_moments[0] ** 2

    def to_dict(self) -> dict:
        """Plain lists (in float64), JSON-ready."""
        out = {}
        for k, v in self.__dict__.items():
            if k == "meat":
                out[k] = {m: np.asarray(f, float).tolist() for m, f in v.items()}
            elif isinstance(v, np.ndarray):
                out[k] = np.asarray(v, float).tolist()
            elif isinstance(v, (bool, int, type(None))):
                out[k] = v
            else:
                out[k] = float(v)
        return out


def _weighted_mean(a: np.ndarray, s: np.ndarray, sw) -> np.ndarray:
    """Weighted column mean with one refinement step (accurate when values are far from 0)."""
    m = (s @ a) / sw
    return m + (s @ (a - m)) / sw


def _recentre(meat: np.ndarray, offset: np.ndarray) -> np.ndarray:
    r"""Meat factor for :math:`z = (1, x - \bar x_{new})` from one for
    :math:`(1, x - \bar x_{old})`, ``offset`` :math:`= \bar x_{old} - \bar x_{new}`."""
    out = meat.copy()
    out[:, 1:] += meat[:, :1] * offset[None, :]
    return out


# ----------------------------------------------------------------------------------------
# the summary
# ----------------------------------------------------------------------------------------

@dataclass(eq=False)
class Summary:
    """Inference for one fitted linear model, laid out like statsmodels' ``summary()``.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        Index ``["intercept", *feature_names]`` (no intercept row without one); columns
        ``coef, std_err, t, p_value, ci_low, ci_high``.  ``t`` holds z statistics when
        ``model["use_t"]`` is False (the robust default, as in statsmodels).
    model : dict
        Model-level numbers (see :func:`summary_from_stats` for the list and formulas).
    warnings : list of str
    notes : list of str
        The covariance description followed by the warnings (the text's "Notes").
    cov_params : pandas.DataFrame or None
        Covariance of the parameters (None for penalized fits).
    optimum : dict
        ``coef`` and ``intercept`` of the exact least-squares optimum, from the statistics.
    """

    coefficients: pd.DataFrame
    model: dict
    warnings: list
    notes: list
    cov_params: pd.DataFrame | None
    optimum: dict
    target_name: str = "y"
    alpha: float = 0.05
    _cov_factor: np.ndarray | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return _render(self)

    def _repr_html_(self) -> str:  # notebooks: keep the monospaced layout
        return "<pre>" + _html_escape(str(self)) + "</pre>"

    def to_dict(self) -> dict:
        """JSON-ready dict; NaN and infinities become ``None``."""
        coefs = []
        for name, row in self.coefficients.iterrows():
            coefs.append({"name": str(name), **{c: _finite_float(row[c]) for c in COEF_COLUMNS}})
        model = {k: (_finite_float(v) if isinstance(v, (float, np.floating)) else
                     int(v) if isinstance(v, (np.integer,)) else v)
                 for k, v in self.model.items()}
        cov = None
        if self.cov_params is not None:
            cov = [[_finite_float(v) for v in row] for row in self.cov_params.to_numpy()]
        out = {"target_name": self.target_name, "alpha": self.alpha, "coefficients": coefs,
               "model": model, "warnings": list(self.warnings), "notes": list(self.notes),
               "cov_params": cov,
               "optimum": {"coef": [_finite_float(v) for v in self.optimum["coef"]],
                           "intercept": _finite_float(self.optimum["intercept"])}}
        json.dumps(out)  # guarantee JSON-readiness
        return out


def summarize(X, y, coef, intercept, *, sample_weight=None, fit_intercept=True,
              feature_names=None, target_name="y", cov_type="nonrobust", alpha=0.05,
              penalized_reason=None, use_t=None, precision="auto") -> Summary:
    """Summary of the linear model ``y ~ X coef + intercept`` on in-memory data.

    Builds :class:`InferenceStats` (with the leverage pass when ``cov_type`` is HC2/HC3)
    and calls :func:`summary_from_stats`; see there for the parameters and formulas.
    ``feature_names`` default to ``X``'s columns when it is a DataFrame, else x1..xd.
    """
    if feature_names is None and isinstance(X, pd.DataFrame):
        feature_names = [str(c) for c in X.columns]
    cov_type = _check_cov_type(cov_type)
    stats = InferenceStats.from_arrays(
        X, y, coef, intercept, sample_weight=sample_weight, fit_intercept=fit_intercept,
        leverage=cov_type in ("HC2", "HC3") and penalized_reason is None, precision=precision)
    return summary_from_stats(stats, coef, intercept, fit_intercept=fit_intercept,
                              feature_names=feature_names, target_name=target_name,
                              cov_type=cov_type, alpha=alpha, penalized_reason=penalized_reason,
                              use_t=use_t)


def _check_cov_type(cov_type: str) -> str:
    for c in COV_TYPES:
        if str(cov_type).lower() == c.lower():
            return c
    raise ValueError(f"cov_type must be one of {COV_TYPES}; got {cov_type!r}")


def summary_from_stats(stats: InferenceStats, coef=None, intercept=None, *, sample_weight=None,
                       fit_intercept=None, feature_names=None, target_name="y",
                       cov_type="nonrobust", alpha=0.05, penalized_reason=None,
                       use_t=None) -> Summary:
    r"""Summary from sufficient statistics, at the parameters they were taken at.

    Parameters
    ----------
    stats : InferenceStats
    coef, intercept : optional
        Must equal ``stats.coef``/``stats.intercept`` (the residual statistics depend on
        them); default: those.
    sample_weight : None
        Accepted for symmetry with :func:`summarize` only: the weights are already part of
        ``stats``; anything but None is an error.
    fit_intercept : bool, optional
        Must equal ``stats.fit_intercept`` when given.
    feature_names : sequence of str, optional
    target_name : str
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}
    alpha : float
        Confidence level ``1 - alpha`` for the intervals.
    penalized_reason : str, optional
        For penalized fits: only ``coef`` is reported in the table, with this reason.
    use_t : bool, optional
        t (True) or normal (False) reference distribution for the coefficient tests and
        intervals; default as statsmodels' ``fit(cov_type=...)``: True only for nonrobust.

    Returns
    -------
    Summary
        ``model`` holds (with :math:`q` parameters, :math:`k_c` = 1 with an intercept else 0,
        :math:`\mathrm{SSR} = \sum s_i e_i^2` at the given parameters):

        * ``n``, ``df_model`` :math:`= q - k_c`, ``df_resid`` :math:`= n - q`,
          ``resid_std_err`` :math:`= \sqrt{\mathrm{SSR}/(n-q)}`;
        * ``r_squared`` :math:`= 1 - \mathrm{SSR}/\mathrm{TSS}` with the centred TSS
          :math:`\sum s (y-\bar y)^2` or, without intercept, the uncentred :math:`\sum s y^2`
          (``centered_r_squared`` says which); ``adj_r_squared``
          :math:`= 1 - (n - k_c)/(n-q)\,(1-R^2)`; ``ess`` :math:`= \mathrm{TSS-SSR}`;
        * ``f_statistic`` :math:`= (\mathrm{ESS}/df_{model})/(\mathrm{SSR}/df_{resid})` for
          nonrobust, else the Wald statistic :math:`\hat\beta^\top V^{-1}\hat\beta / q_w` over
          the non-constant coefficients; ``f_pvalue`` from F(df_model, df_resid);
        * ``log_likelihood`` :math:`= -\frac n2 \log \mathrm{SSR} - \frac n2 (1 +
          \log\frac{2\pi}{n}) + \frac12 \sum\log s_i`; ``aic`` :math:`= -2\ell + 2q`;
          ``bic`` :math:`= -2\ell + q\log n`;
        * ``condition_number`` :math:`= \sigma_{max}/\sigma_{min}` of the weighted design
          :math:`W^{1/2}Z` (constant column included), from
          :math:`\lVert T\rVert_2 \lVert T^{-1}\rVert_2` with :math:`T^\top T = Z^\top W Z`;
          ``min_eigenvalue`` :math:`= \sigma_{min}^2`;
        * residual diagnostics of the whitened residuals :math:`r_i`: ``durbin_watson``,
          ``skew`` :math:`= m_3/m_2^{3/2}`, ``kurtosis`` :math:`= m_4/m_2^2` (central
          moments :math:`m_k = M_k/n`), ``jarque_bera`` :math:`= \frac n6 (S^2 +
          (K-3)^2/4)` with its :math:`\chi^2_2` p-value, ``omnibus`` (D'Agostino–Pearson
          :math:`Z_{skew}^2 + Z_{kurt}^2`, NaN for n < 8);
        * optimality: ``objective`` :math:`F(\theta)`, ``grad_norm`` :math:`\lVert\nabla
          F(\theta)\rVert_2` in the original parameters, ``objective_gap``
          :math:`F(\theta) - F(\theta^*) = (\theta-\theta^*)^\top A (\theta-\theta^*)/S`,
          ``objective_gap_rel`` :math:`=` gap / :math:`F(\theta)`, ``coef_rel_distance``
          :math:`= \lVert\theta-\theta^*\rVert/\lVert\theta^*\rVert`.
    """
    if sample_weight is not None:
        raise ValueError("summary_from_stats takes no sample_weight: the weights are part of "
                         "the statistics (pass them to InferenceStats.from_arrays)")
    _check_params(stats, coef, intercept, fit_intercept)
    cov_type = _check_cov_type(cov_type)
    if not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    names = _feature_names(feature_names, stats.n_features)
    if stats.n == 0:
        raise ValueError("no rows with positive weight: nothing to summarize")
    geo = _Geometry(stats)
    model, warns = _model_numbers(stats, geo, cov_type)
    opt = _optimality(stats, geo)
    model.update(opt.numbers)
    if penalized_reason is None:
        warns += opt.warnings(stats)
    use_t = cov_type == "nonrobust" if use_t is None else bool(use_t)
    model["use_t"] = use_t
    params = _theta(stats)
    index = (["intercept"] if stats.fit_intercept else []) + names
    if penalized_reason is not None:
        return _penalized_summary(stats, model, warns, params, index, opt, target_name, alpha,
                                  penalized_reason)
    factor = _cov_factor(stats, geo, cov_type, model["df_resid"])
    if factor is None and cov_type in ("HC2", "HC3"):
        raise ValueError(f"{cov_type} needs leverages, which need a second pass over the data: "
                         "call stats.with_leverage(blocks) first (summarize() does it itself)")
    table, cov = _coef_table(params, factor, model, use_t, alpha, index)
    model.update(_f_test(stats, model, factor, params, cov_type))
    notes = [_COV_DESCRIPTIONS[cov_type]] + warns
    return Summary(coefficients=table, model=model, warnings=warns, notes=notes,
                   cov_params=cov, optimum=opt.optimum, target_name=target_name,
                   alpha=float(alpha), _cov_factor=factor)


def _check_params(stats, coef, intercept, fit_intercept) -> None:
    if fit_intercept is not None and bool(fit_intercept) != stats.fit_intercept:
        raise ValueError(f"fit_intercept={fit_intercept} but the statistics were accumulated "
                         f"with fit_intercept={stats.fit_intercept}")
    c, icp = _as_coef(stats.coef if coef is None else coef,
                      stats.intercept if intercept is None else intercept, True)
    if not np.array_equal(c, stats.coef):
        raise ValueError("coef differs from the parameters the statistics were taken at; "
                         "residual statistics depend on them: rebuild the statistics")
    if icp != stats.intercept:
        raise ValueError("intercept differs from the one the statistics were taken at")


def _feature_names(names, d: int) -> list[str]:
    if names is None:
        return [f"x{j + 1}" for j in range(d)]
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"{len(names)} feature_names for {d} features")
    if len(set(names)) != d or "intercept" in names:
        raise ValueError("feature_names must be unique and must not be 'intercept'")
    return names


def _theta(stats: InferenceStats) -> np.ndarray:
    """Parameter vector in table order: ``[intercept, *coef]`` or ``coef``."""
    w = stats.coef.astype(stats.dtype)
    return np.r_[stats.dtype.type(stats.intercept), w] if stats.fit_intercept else w


class _Geometry:
    r"""The bread: :math:`B` with :math:`B B^\top = A^{-1} = (Z^\top W Z)^{-1}` in parameter
    order, the centred version :math:`B_c = \mathrm{diag}(S^{-1/2}, R_x^{-1})`, the rank, and
    the condition number.

    With an intercept :math:`B = J B_c`, :math:`J = [[1, -\bar x^\top], [0, I]]` (the map from
    the centred intercept :math:`b + \bar x^\top w` back to :math:`b`); without,
    :math:`B = R_0^{-1}`.
    """

    def __init__(self, stats: InferenceStats):
        self.stats = stats
        self.r = stats._rx if stats.fit_intercept else stats._r0
        self.q = stats.n_features + stats.fit_intercept
        self.rank = self._rank()
        self.full_rank = self.rank == self.q
        self.r_inv = None
        if self.full_rank:
            with np.errstate(all="ignore"):
                self.r_inv = _solve_upper(self.r, np.eye(len(self.r), dtype=self.r.dtype))
        self.b_c, self.b = self._bread()
        self.cond, self.min_eig = self._condition()

    def _rank(self) -> int:
        """Numerical rank of the column-scaled factor (and + 1 for the intercept)."""
        st = self.stats
        if self.r.size == 0:
            return int(st.fit_intercept)
        norms = np.sqrt((self.r * self.r).sum(0))
        if np.any(norms == 0):
            scaled = np.where(norms > 0, self.r / np.where(norms > 0, norms, 1), 0)
        else:
            scaled = self.r / norms
        sv = np.linalg.svd(np.asarray(scaled, float), compute_uv=False)
        tol = sv.max() * max(st.n, len(sv)) * np.finfo(self.r.dtype).eps
        return int((sv > tol).sum()) + int(st.fit_intercept)

    def _bread(self):
        st = self.stats
        if not self.full_rank:
            return None, None
        if not st.fit_intercept:
            return None, self.r_inv
        d = st.n_features
        b_c = np.zeros((d + 1, d + 1), dtype=self.r.dtype)
        b_c[0, 0] = 1 / np.sqrt(st.sw_sum)
        b_c[1:, 1:] = self.r_inv
        b = b_c.copy()
        b[0, 1:] = -(st.mean_x @ self.r_inv)
        return b_c, b

    def _t_matrix(self) -> np.ndarray:
        r""":math:`T` with :math:`T^\top T = Z^\top W Z` (raw, weighted design)."""
        st = self.stats
        if not st.fit_intercept:
            return self.r
        d = st.n_features
        t = np.zeros((d + 1, d + 1), dtype=self.r.dtype)
        t[0, 0] = np.sqrt(st.sw_sum)
        t[0, 1:] = np.sqrt(st.sw_sum) * st.mean_x
        t[1:, 1:] = self.r
        return t

    def _condition(self):
        r""":math:`\kappa = \lVert T\rVert_2 \lVert T^{-1}\rVert_2`; both norms are largest
        singular values, so each is accurate to rounding even when :math:`\kappa` is huge."""
        if self.q == 0:
            return np.nan, np.nan
        big = np.linalg.norm(np.asarray(self._t_matrix(), float), 2)
        if not self.full_rank:
            return np.inf, 0.0
        inv = np.linalg.norm(np.asarray(self.b, float), 2)
        return big * inv, 1 / inv**2


def _model_numbers(stats: InferenceStats, geo: _Geometry, cov_type: str):
    """Fit statistics at the given parameters (see :func:`summary_from_stats`)."""
    n, kc = stats.n, int(stats.fit_intercept)
    df_model, df_resid = float(geo.rank - kc), float(n - geo.rank)
    ssr = stats.ssr
    ctss = stats.centered_tss
    utss = ctss + stats.sw_sum * stats.mean_y ** 2
    tss = ctss if kc else utss
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1 - ssr / tss
        mse_resid = ssr / df_resid if df_resid > 0 else np.nan
        mse_model = (tss - ssr) / df_model if df_model > 0 else np.nan
        llf = (-n / 2 * np.log(ssr) - n / 2 * (1 + np.log(2 * np.pi / n))
               + stats.sum_log_sw / 2)
        fval = mse_model / mse_resid
    k_params = df_model + kc
    model = {
        "model": "WLS" if stats.weighted else "OLS", "n": int(n), "df_model": df_model,
        "df_resid": df_resid, "resid_std_err": float(np.sqrt(mse_resid)),
        "r_squared": float(r2), "centered_r_squared": bool(kc),
        "adj_r_squared": float(1 - (n - kc) / df_resid * (1 - r2)) if df_resid > 0 else np.nan,
        "f_statistic": float(fval),
        "f_pvalue": float(sst.f.sf(float(fval), df_model, df_resid)) if df_model > 0 else np.nan,
        "log_likelihood": float(llf), "aic": float(-2 * llf + 2 * k_params),
        "bic": float(-2 * llf + np.log(n) * k_params),
        "condition_number": float(geo.cond), "min_eigenvalue": float(geo.min_eig),
        "ssr": float(ssr), "ess": float(tss - ssr), "centered_tss": float(ctss),
        "uncentered_tss": float(utss), "mse_model": float(mse_model),
        "mse_resid": float(mse_resid), "mse_total": float(tss / (n - kc)),
        "sum_weights": float(stats.sw_sum), "cov_type": cov_type,
        **_residual_diagnostics(stats),
    }
    return model, _model_warnings(stats, geo, model)


def _residual_diagnostics(stats: InferenceStats) -> dict:
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
    omni = _omnibus(n, skew, kurt)
    return {"durbin_watson": dw, "omnibus": omni, "omnibus_pvalue": _chi2_sf(omni, 2),
            "jarque_bera": float(jb), "jb_pvalue": _chi2_sf(jb, 2), "skew": skew,
            "kurtosis": kurt}


def _chi2_sf(x: float, k: int) -> float:
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


def _omnibus(n: int, skew: float, kurt: float) -> float:
    """D'Agostino–Pearson statistic :math:`Z_s^2 + Z_k^2` (NaN for n < 8, as statsmodels)."""
    if n < 8 or not (np.isfinite(skew) and np.isfinite(kurt)):
        return np.nan
    return _skewtest_z(n, skew) ** 2 + _kurtosistest_z(n, kurt) ** 2


def _model_warnings(stats: InferenceStats, geo: _Geometry, model: dict) -> list[str]:
    warns = []
    if not stats.fit_intercept:
        warns.append(_UNCENTERED_NOTE)
    if not geo.full_rank:
        warns.append(f"The design is rank deficient (rank {geo.rank} < {geo.q} parameters): "
                     "the coefficients are not identified; standard errors are not given.")
    elif model["min_eigenvalue"] < 1e-10:
        warns.append(f"The smallest eigenvalue is {model['min_eigenvalue']:6.3g}. This might "
                     "indicate that there are strong multicollinearity problems or that the "
                     "design matrix is singular.")
    elif model["condition_number"] > 1000:
        warns.append(f"The condition number is large, {model['condition_number']:6.3g}. This "
                     "might indicate that there are strong multicollinearity or other "
                     "numerical problems.")
    if model["df_resid"] <= 0:
        warns.append("No residual degrees of freedom (n <= parameters): no inference.")
    if stats.n < 8:
        warns.append(f"The omnibus normality test needs at least 8 observations; got {stats.n}.")
    if not np.isfinite(model["skew"]):
        warns.append("The residuals are all (numerically) zero: skew, kurtosis and the "
                     "normality tests are undefined.")
    if stats.max_leverage is not None and stats.max_leverage >= 1 - 1e-12:
        warns.append("Some observation has leverage 1: HC2/HC3 standard errors are not finite.")
    return warns


@dataclass
class _Optimality:
    numbers: dict
    optimum: dict
    gap: float
    noise: float

    def warnings(self, stats: InferenceStats) -> list[str]:
        rel = self.numbers["objective_gap_rel"]
        if not np.isfinite(rel) or rel <= GAP_WARN_REL or self.gap <= self.noise:
            return []
        return [f"The parameters are not at the least-squares optimum: objective gap "
                f"F(θ) - F(θ*) = {self.gap:.3g} ({rel:.3g} of F(θ)), ||θ - θ*|| / ||θ*|| = "
                f"{self.numbers['coef_rel_distance']:.3g}, gradient norm "
                f"{self.numbers['grad_norm']:.3g}. Residual statistics are computed at the "
                "given parameters; the standard errors and tests assume the optimum."]


def _optimality(stats: InferenceStats, geo: _Geometry) -> _Optimality:
    r"""Gradient, objective gap and distance to the exact optimum :math:`\theta^*`.

    With an intercept, :math:`\delta b = \sum s e / S` and :math:`g = \sum s e (x - \bar x)`:
    :math:`\nabla_w F = -\frac2S (g + \bar x \sum s e)`, :math:`\nabla_b F = -2\,\delta b`,
    :math:`w^* = w + C^{-1} g`, :math:`b^* = b + \delta b - \bar x^\top (w^* - w)` and
    :math:`F - F^* = g^\top C^{-1} g / S + \delta b^2`, with :math:`C^{-1} g` from two
    triangular solves (a Newton step, exact because F is quadratic).  Without:
    :math:`g_0 = \sum s e x`, :math:`w^* = w + (X^\top W X)^{-1} g_0`,
    :math:`F - F^* = g_0^\top (X^\top W X)^{-1} g_0 / S`.
    """
    st = stats
    sw, w, b = st.sw_sum, st.coef.astype(st.dtype), st.dtype.type(st.intercept)
    g0 = st.grad_c + st.mean_x * st.sum_se
    grad = -2 / sw * g0
    if st.fit_intercept:
        grad = np.r_[-2 * st.sum_se / sw, grad]
    obj = st.ssr / sw
    nan = {"grad_norm": float(np.sqrt(grad @ grad)), "objective": float(obj)}
    if not geo.full_rank:
        nan.update(objective_gap=np.nan, objective_gap_rel=np.nan, coef_rel_distance=np.nan,
                   objective_optimum=np.nan)
        return _Optimality(nan, {"coef": np.full(len(w), np.nan), "intercept": np.nan},
                           np.nan, 0.0)
    u = _solve_upper_t(geo.r, g0 if not st.fit_intercept else st.grad_c)
    step = _solve_upper(geo.r, u)
    gap = (u @ u) / sw
    w_star = w + step
    b_star = b
    if st.fit_intercept:
        db = st.sum_se / sw
        gap = gap + db * db
        b_star = b + db - st.mean_x @ step
    theta, theta_star = _theta_of(st, w, b), _theta_of(st, w_star, b_star)
    dist = np.sqrt(((theta - theta_star) ** 2).sum())
    norm_star = np.sqrt((theta_star**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_dist = dist / norm_star if norm_star > 0 else (0.0 if dist == 0 else np.inf)
        rel_gap = gap / obj if obj > 0 else 0.0
    nan.update(objective_gap=float(gap), objective_gap_rel=float(rel_gap),
               coef_rel_distance=float(rel_dist), objective_optimum=float(max(obj - gap, 0)))
    # the gap that rounding theta* to float64 (the parameters' own precision) can leave
    noise = float((16 * np.finfo(np.float64).eps) ** 2 * st.err_scale / sw)
    optimum = {"coef": np.asarray(w_star, float), "intercept": float(b_star)}
    return _Optimality(nan, optimum, float(gap), noise)


def _theta_of(stats, w, b) -> np.ndarray:
    return np.r_[b, w] if stats.fit_intercept else w


def _meat_in_params(stats: InferenceStats, meat: np.ndarray) -> np.ndarray:
    r"""Meat factor in parameter coordinates from the centred one.

    With an intercept the summary works in centred coordinates (returned unchanged);
    without, :math:`z = (1, x - \bar x) \mapsto x = \bar x \cdot 1 + (x - \bar x)`.
    """
    if stats.fit_intercept:
        return meat
    return meat[:, :1] * stats.mean_x[None, :] + meat[:, 1:]


def _cov_factor(stats: InferenceStats, geo: _Geometry, cov_type: str, df_resid: float):
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


def _coef_table(params, factor, model, use_t: bool, alpha: float, index):
    """Coefficient table and covariance DataFrame from the covariance factor."""
    cov = factor.T @ factor
    se = np.sqrt((factor * factor).sum(0))
    params_f, se_f = np.asarray(params, float), np.asarray(se, float)
    df = model["df_resid"]
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.asarray(params / se, float)
        if use_t:
            pval, crit = 2 * sst.t.sf(np.abs(tval), df), sst.t.ppf(1 - alpha / 2, df)
        else:
            pval, crit = 2 * sst.norm.sf(np.abs(tval)), sst.norm.ppf(1 - alpha / 2)
        lo = np.asarray(params - crit * se, float)
        hi = np.asarray(params + crit * se, float)
    table = pd.DataFrame({"coef": params_f, "std_err": se_f, "t": tval, "p_value": pval,
                          "ci_low": lo, "ci_high": hi}, index=index)
    return table, pd.DataFrame(np.asarray(cov, float), index=index, columns=index)


def _f_test(stats, model, factor, params, cov_type) -> dict:
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
    rf = _r_factor(fw)
    with np.errstate(all="ignore"):
        v = _solve_upper_t(rf, beta)
        fval = float(v @ v / qw)
    return {"f_statistic": fval,
            "f_pvalue": float(sst.f.sf(fval, qw, model["df_resid"]))}


def _penalized_summary(stats, model, warns, params, index, opt, target_name, alpha, reason):
    """Summary of a penalized fit: coefficients only, no classical inference."""
    table = pd.DataFrame(np.nan, index=index, columns=COEF_COLUMNS)
    table["coef"] = np.asarray(params, float)
    model.update(f_statistic=np.nan, f_pvalue=np.nan, penalized=True, penalized_reason=reason)
    msg = (f"Penalized fit ({reason}): classical standard errors, t statistics, p-values, "
           "confidence intervals and the F test are not given, because they assume the "
           "unpenalized least-squares estimator. The optimality numbers measure the distance "
           "to the unpenalized least-squares optimum.")
    warns = [msg] + warns
    return Summary(coefficients=table, model=model, warnings=warns, notes=list(warns),
                   cov_params=None, optimum=opt.optimum, target_name=target_name,
                   alpha=float(alpha), _cov_factor=None)


# ----------------------------------------------------------------------------------------
# prediction intervals
# ----------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------
# text rendering
# ----------------------------------------------------------------------------------------

_WIDTH = 78


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _forg(x: float, prec: int = 3) -> str:
    """statsmodels' number format: fixed decimals, or %g for very large/small values."""
    if not np.isfinite(x):
        return f"{x!s:>9}"
    if abs(x) >= 1e4 or (abs(x) < 1e-4 and x != 0):
        return f"{x:9.{prec}g}"
    return f"{x:9.{prec}f}"


def _two_columns(left: list, right: list, width: int) -> list[str]:
    """Pairs of (label, value) side by side, like statsmodels' header tables."""
    half = (width - 3) // 2
    rows = []
    for i in range(max(len(left), len(right))):
        lab_l, val_l = left[i] if i < len(left) else ("", "")
        lab_r, val_r = right[i] if i < len(right) else ("", "")
        lpart = f"{lab_l:<{half - len(val_l)}}{val_l}" if lab_l else " " * half
        rpart = f"{lab_r:<{width - half - 3 - len(val_r)}}{val_r}" if lab_r else ""
        rows.append((lpart + "   " + rpart).rstrip())
    return rows


def _header_block(s: Summary, width: int) -> list[str]:
    m = s.model
    rtype = "" if m["centered_r_squared"] else " (uncentered)"
    left = [("Dep. Variable:", s.target_name), ("Model:", m["model"]),
            ("Method:", "Least Squares"), ("No. Observations:", f"{m['n']:d}"),
            ("Df Residuals:", f"{m['df_resid']:.0f}"), ("Df Model:", f"{m['df_model']:.0f}"),
            ("Covariance Type:", m["cov_type"] if not m.get("penalized") else "none")]
    right = [("R-squared" + rtype + ":", f"{m['r_squared']:#8.3f}"),
             ("Adj. R-squared" + rtype + ":", f"{m['adj_r_squared']:#8.3f}"),
             ("F-statistic:", f"{m['f_statistic']:#8.4g}"),
             ("Prob (F-statistic):", f"{m['f_pvalue']:#6.3g}"),
             ("Log-Likelihood:", f"{m['log_likelihood']:#8.5g}"),
             ("AIC:", f"{m['aic']:#8.4g}"), ("BIC:", f"{m['bic']:#8.4g}")]
    return _two_columns(left, right, width)


def _coef_block(s: Summary) -> tuple[list[str], int]:
    tab = s.coefficients
    namew = max([len(str(i)) for i in tab.index] + [9])
    penal = bool(s.model.get("penalized"))
    stat = "t" if s.model.get("use_t", True) else "z"
    lo, hi = f"[{s.alpha / 2:.3g}", f"{1 - s.alpha / 2:.3g}]"
    heads = ["coef"] if penal else ["coef", "std err", stat, f"P>|{stat}|", lo, hi]
    lines = [" " * namew + "".join(f"{h:>11}" for h in heads)]
    for name, row in tab.iterrows():
        cells = [_forg(row["coef"], 4)]
        if not penal:
            cells += [_forg(row["std_err"]), _forg(row["t"]), f"{row['p_value']:9.3f}",
                      _forg(row["ci_low"]), _forg(row["ci_high"])]
        lines.append(f"{str(name):<{namew}}" + "".join(f"{c:>11}" for c in cells))
    return lines, max(len(line) for line in lines)


def _diag_block(s: Summary, width: int) -> list[str]:
    m = s.model
    left = [("Omnibus:", f"{m['omnibus']:#6.3f}"),
            ("Prob(Omnibus):", f"{m['omnibus_pvalue']:#6.3f}"),
            ("Skew:", f"{m['skew']:#6.3f}"), ("Kurtosis:", f"{m['kurtosis']:#6.3f}")]
    right = [("Durbin-Watson:", f"{m['durbin_watson']:#8.3f}"),
             ("Jarque-Bera (JB):", f"{m['jarque_bera']:#8.3f}"),
             ("Prob(JB):", f"{m['jb_pvalue']:#8.3g}"),
             ("Cond. No.", f"{m['condition_number']:#8.3g}")]
    return _two_columns(left, right, width)


def _optimality_block(s: Summary, width: int) -> list[str]:
    m = s.model
    left = [("Resid. Std. Err.:", f"{m['resid_std_err']:#8.5g}"),
            ("Objective F(θ):", f"{m['objective']:#9.4g}")]
    right = [("Gradient norm:", f"{m['grad_norm']:#9.3g}"),
             ("Objective gap:", f"{m['objective_gap']:#9.3g}"),
             ("||θ-θ*||/||θ*||:", f"{m['coef_rel_distance']:#9.3g}")]
    return _two_columns(left, right, width)


def _render(s: Summary) -> str:
    coef_lines, coef_w = _coef_block(s)
    width = max(_WIDTH, coef_w)
    title = ("Penalized " if s.model.get("penalized") else "") + f"{s.model['model']} " \
        "Regression Results (gradfit)"
    out = [title.center(width).rstrip(), "=" * width, *_header_block(s, width), "=" * width,
           coef_lines[0], "-" * width, *coef_lines[1:], "=" * width,
           *_diag_block(s, width), "=" * width, *_optimality_block(s, width), "=" * width]
    if s.notes:
        out += ["", "Notes:"] + [textwrap.fill(f"[{i}] {note}", width)
                                 for i, note in enumerate(s.notes, 1)]
    return "\n".join(out)
