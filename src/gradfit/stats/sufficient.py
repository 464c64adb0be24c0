r"""Sufficient statistics for inference (:class:`InferenceStats`), mergeable across row blocks.

For rows :math:`(x_i, y_i)` with weights :math:`s_i > 0` the model is
:math:`\hat y_i = x_i^\top w + b`; residuals are :math:`e_i = y_i - x_i^\top w - b` and the
*whitened* residuals that statsmodels' WLS uses are :math:`r_i = \sqrt{s_i}\, e_i`.  Rows with
:math:`s_i = 0` are treated as absent (scikit-learn's convention).

* data part (independent of the parameters): :math:`n`, :math:`S = \sum s_i`,
  :math:`\sum \log s_i`, the weighted means :math:`\bar x, \bar y`, and an upper-triangular
  factor :math:`R` with :math:`R^\top R = \sum_i s_i\, u_i u_i^\top`,
  :math:`u_i = (x_i - \bar x,\; y_i - \bar y)` — the **centred** weighted Gram of
  :math:`[X, y]`, kept as a QR factor rather than as a Gram matrix.  Blocks are merged by a
  tall-skinny QR of the stacked factors plus the mean-shift row (Chan's update in factor
  form):  :math:`C = C_a + C_b + \frac{S_a S_b}{S}\,\delta\delta^\top`,
  :math:`\delta = \bar u_b - \bar u_a`.
* residual part (at the given :math:`w, b`): the count, mean and central sums
  :math:`M_2, M_3, M_4` of :math:`r_i` (merged with Pébay's formulas), the Durbin–Watson
  numerator :math:`\sum_t (r_t - r_{t-1})^2` with the first and last residual of each block
  carried across the block boundary, :math:`\sum s_i e_i`, the gradient piece
  :math:`g = \sum s_i e_i (x_i - \bar x)`, and the HC0/HC1 "meat"
  :math:`\sum_i (s_i e_i)^2 z_i z_i^\top`, :math:`z_i = (1, x_i - \bar x)`, again as a QR
  factor.
* HC2/HC3 need the leverages :math:`h_{ii} = s_i z_i^\top (Z^\top W Z)^{-1} z_i`, which
  need the finished first pass: :meth:`InferenceStats.with_leverage` with the same blocks
  again (a **second pass**).

Precision: blocks are factorised in float64 (LAPACK) or, when the inputs are
``numpy.longdouble`` or the data are small (``precision="auto"``:
:math:`n (d+1)^2 \le 2\cdot 10^7`), by a Householder QR in extended precision (x86 80-bit
``longdouble``, about 19 digits), with the residuals and triangular solves in that precision
too.  On platforms whose ``longdouble`` is float64 the two paths coincide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gradfit.stats.diagnostics import merge_moments, moments
from gradfit.stats.linalg import EXTENDED, r_factor, solve_upper_t, stack_r

__all__ = ["AUTO_EXTENDED_LIMIT", "DEFAULT_BLOCK_BYTES", "InferenceStats", "as_coef",
           "check_block", "work_dtype"]

#: ``precision="auto"`` uses extended precision when n * (d + 1)**2 is at most this.
AUTO_EXTENDED_LIMIT = 2e7
#: rows per block when :meth:`InferenceStats.from_arrays` splits in-memory data.
DEFAULT_BLOCK_BYTES = 32 * 2**20


def as_coef(coef, intercept, fit_intercept: bool) -> tuple[np.ndarray, float]:
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


def work_dtype(arrays: Sequence[np.ndarray], precision: str, n: int, q: int) -> np.dtype:
    """float64, or longdouble for longdouble inputs / small data / ``precision="extended"``."""
    if precision not in ("auto", "double", "extended"):
        raise ValueError(f"precision must be 'auto', 'double' or 'extended'; got {precision!r}")
    if precision == "extended" or any(a.dtype == EXTENDED for a in arrays):
        return EXTENDED
    if precision == "auto" and n * q * q <= AUTO_EXTENDED_LIMIT:
        return EXTENDED
    return np.dtype(np.float64)


def check_block(X, y, sample_weight, d: int | None = None):
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
        X, y, s = check_block(X, y, sample_weight)
        coef, intercept = as_coef(coef, intercept, fit_intercept)
        if X.shape[1] != len(coef):
            raise ValueError(f"X has {X.shape[1]} columns; coef has {len(coef)}")
        dtype = work_dtype([X, y, coef], precision, len(y), X.shape[1] + 1)
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
        coef, intercept = as_coef(coef, intercept, fit_intercept)
        total = cls._empty(coef, intercept, fit_intercept, np.dtype(dtype))
        any_w = False
        for block in blocks:
            X, y, s = check_block(*block, d=len(coef))
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
            r_xy=r_factor(u), res_moments=moments(r), res_first=r[0], res_last=r[-1],
            dw_num=(np.diff(r) ** 2).sum(), sum_se=se.sum(), grad_c=grad_c,
            err_scale=(s_arr * (np.abs(y) + np.abs(X) @ np.abs(w) + abs(b)) ** 2).sum(),
            meat={"HC0": r_factor(z)})

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
            r_xy=stack_r(a.r_xy, b.r_xy, shift_row),
            res_moments=merge_moments(a.n, a.res_moments, b.n, b.res_moments),
            res_first=a.res_first, res_last=b.res_last,
            dw_num=a.dw_num + b.dw_num + (b.res_first - a.res_last) ** 2,
            sum_se=a.sum_se + b.sum_se,
            grad_c=a.grad_c + (a.mean_x - mx) * a.sum_se + b.grad_c + (b.mean_x - mx) * b.sum_se,
            err_scale=a.err_scale + b.err_scale,
            meat={"HC0": stack_r(_recentre(a.meat["HC0"], a.mean_x - mx),
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
        r, Z = (self.rx, X - self.mean_x) if self.fit_intercept else (self.r0, X)
        kept = (r * r).sum(0) > 0  # a column that is 0 (constant, centred) adds no leverage
        if not kept.all():
            r, Z = r_factor(r[:, kept]), Z[:, kept]
        with np.errstate(divide="ignore", invalid="ignore"):  # another singular R: no bread
            u = solve_upper_t(r, Z.T)
        h = (u * u).sum(0)
        return s * (1 / self.sw_sum + h) if self.fit_intercept else s * h

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
            X, y, s = check_block(*block, d=d)
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
                acc["HC2"] = stack_r(acc["HC2"], (se / np.sqrt(1 - h))[:, None] * z)
                acc["HC3"] = stack_r(acc["HC3"], (se / (1 - h))[:, None] * z)
            n += len(y)
            hmax = max(hmax, float(h.max()))
        if n != self.n:
            raise ValueError(f"the leverage pass saw {n} rows with positive weight; the first "
                             f"pass saw {self.n}: pass the same data again")
        return replace(self, meat={"HC0": self.meat["HC0"], **acc}, max_leverage=hmax)

    # -- derived factors ----------------------------------------------------------------------

    @property
    def rx(self) -> np.ndarray:
        """Factor of the centred weighted Gram of X: :math:`R_x^\\top R_x = C`."""
        return self.r_xy[:-1, :-1]

    @property
    def r0(self) -> np.ndarray:
        """Factor of the uncentred Gram :math:`X^\\top W X = C + S \\bar x \\bar x^\\top`."""
        return stack_r(np.sqrt(self.sw_sum) * self.mean_x[None, :], self.rx)

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


