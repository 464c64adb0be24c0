r"""Triangular factors and solves, in float64 (LAPACK) or any wider float (``longdouble``).

Every statistic of :mod:`gradfit.stats` reaches the data through an upper-triangular factor
:math:`R` with :math:`R^\top R = A^\top A` (never through the Gram matrix :math:`A^\top A`
itself): the factor's condition number is the square root of the Gram's, and Householder QR
is column-scaling invariant.  Factors of row blocks merge by factoring the stacked factors
(tall-skinny QR, TSQR): :math:`\operatorname{qr}([R_a; R_b])` is a factor of the union.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg as sla

__all__ = ["EXTENDED", "householder_r", "r_factor", "cholqr2_r", "stack_r", "solve_upper",
           "solve_upper_t", "psd_factor"]

EXTENDED = np.dtype(np.longdouble)
#: float64 blocks with at least this many rows per column use Cholesky-QR2 ...
CHOLQR_MIN_ROWS = 8
#: ... unless the column-scaled block is worse conditioned than this (then Householder).
CHOLQR_MAX_COND = 1e6


def householder_r(a: np.ndarray) -> np.ndarray:
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
    return pad_square(np.triu(a[: min(n, q)]), q)


def pad_square(r: np.ndarray, q: int) -> np.ndarray:
    """Zero-pad the rows of a (m, q) triangular factor to (q, q)."""
    if r.shape[0] == q:
        return r
    out = np.zeros((q, q), dtype=r.dtype)
    out[: r.shape[0]] = r
    return out


def r_factor(a: np.ndarray) -> np.ndarray:
    """Triangular factor ``R`` (q, q) with ``R^T R = a^T a``.

    float64: Cholesky-QR2 on tall blocks (fast BLAS-3, see :func:`cholqr2_r`), else
    LAPACK Householder; other dtypes (longdouble): :func:`householder_r`.
    """
    q = a.shape[1]
    if a.shape[0] == 0:
        return np.zeros((q, q), dtype=a.dtype)
    if a.dtype != np.float64:
        return householder_r(a)
    if a.shape[0] >= CHOLQR_MIN_ROWS * max(q, 1):
        r = cholqr2_r(a)
        if r is not None:
            return r
    return pad_square(np.linalg.qr(a, mode="r"), q)


def cholqr2_r(a: np.ndarray) -> np.ndarray | None:
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


def stack_r(*parts: np.ndarray) -> np.ndarray:
    """Factor of the vertically stacked ``parts`` (the TSQR merge step)."""
    return r_factor(np.vstack(parts))


def solve_upper(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R x = b`` for upper-triangular ``R`` by back substitution."""
    if r.dtype == np.float64 and b.dtype == np.float64:
        return sla.solve_triangular(r, b, lower=False)
    x = np.array(b, dtype=np.result_type(r, b), copy=True)
    for i in range(r.shape[0] - 1, -1, -1):
        x[i] = (x[i] - r[i, i + 1:] @ x[i + 1:]) / r[i, i]
    return x


def solve_upper_t(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R^T x = b`` for upper-triangular ``R`` by forward substitution."""
    if r.dtype == np.float64 and b.dtype == np.float64:
        return sla.solve_triangular(r, b, lower=False, trans="T")
    x = np.array(b, dtype=np.result_type(r, b), copy=True)
    for i in range(r.shape[0]):
        x[i] = (x[i] - r[:i, i] @ x[:i]) / r[i, i]
    return x


def psd_factor(m: np.ndarray) -> np.ndarray:
    r"""A square factor :math:`F` with :math:`F^\top F = M` for a symmetric positive
    semi-definite :math:`M` (from :math:`M = V \Lambda V^\top`: :math:`F = \Lambda^{1/2}
    V^\top`, negative rounding-level eigenvalues set to 0).  For meats that are sums of outer
    products with signed cross terms (HAC), which have no row factor to stack."""
    m = np.asarray(m, float)
    lam, v = np.linalg.eigh((m + m.T) / 2)
    return np.sqrt(np.clip(lam, 0, None))[:, None] * v.T
