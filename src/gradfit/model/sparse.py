"""scipy.sparse rows for the maths: recognising them and the passes over them that never
make X dense (memory O(nnz)).

A sparse backend (``gradfit.data.sparse.SparseBackend``) hands its CSR matrix to
``map_reduce``; the passes that read X ask :func:`is_sparse` and take these forms:

    column sums         sum_i s_i x_ij                       (X' s)
    centred squares     sum_i s_i (x_ij - mu_j)^2
                      = sum_{i: x_ij stored} s_i (x_ij - mu_j)^2 + mu_j^2 (S - sum_{i stored} s_i)
                        (every term >= 0: no cancellation)
    Gram statistics     X'SX - W m m' (its diagonal by the centred squares), X'S(y - ybar)
    row norms           ||(x_i - mu) / sigma||^2
                      = sum_{j stored} [((x_ij - mu_j) / sigma_j)^2 - (mu_j / sigma_j)^2]
                        + sum_j (mu_j / sigma_j)^2

The centring is never applied to X: as in the pass kernel (p_i = x_i.v - mu.v + b), it is
folded into the d-sized results.  Only the dense-by-nature passes (the certificate's
curvature, d <= 256) read :func:`dense_rows` of a block of rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_sparse", "as_csr", "dense_rows", "weighted_colsum", "centred_squares",
           "row_weights", "gram_stats", "max_row_norm2"]


def is_sparse(X) -> bool:
    """True for a scipy.sparse matrix or array (recognised without importing scipy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "nnz")


def as_csr(X):
    """X as a CSR matrix with canonical (sorted, summed) indices; not copied when it is one."""
    if X.format != "csr":
        X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def dense_rows(X):
    """A block of rows as a dense float array (sparse blocks are converted; d <= 256 callers
    only, block by block)."""
    return X.toarray() if is_sparse(X) else X


def row_weights(X, sw):
    """s_i repeated for every stored value of row i (length nnz), or None for unit weights."""
    if sw is None:
        return None
    return np.repeat(np.asarray(sw, np.float64), np.diff(X.indptr))


def _column_totals(X, values):
    """sum over the stored entries of each column of ``values`` (length nnz)."""
    return np.bincount(X.indices, weights=values, minlength=X.shape[1])


def weighted_colsum(X, sw):
    """sum_i s_i x_ij for every column j (a CSR matrix)."""
    X = as_csr(X)
    s = row_weights(X, sw)
    return _column_totals(X, X.data if s is None else X.data * s)


def centred_squares(X, sw, mu):
    """sum_i s_i (x_ij - mu_j)^2 for every column j without densifying (module docstring)."""
    X = as_csr(X)
    s = row_weights(X, sw)
    mu = np.asarray(mu, np.float64)
    z = X.data - mu[X.indices]
    stored_w = _column_totals(X, np.ones(X.nnz) if s is None else s)
    S = float(X.shape[0] if sw is None else np.sum(sw))
    return _column_totals(X, z * z if s is None else s * z * z) + mu * mu * (S - stored_w)


def gram_stats(X, Y, sw):
    """(weight, mean of [X, y], centred cross products of [X, y]) of a CSR block: the
    fields of ``gradfit.model.gram.GramStats`` (module docstring for the forms)."""
    X = as_csr(X)
    n, d = X.shape
    Y = np.asarray(Y, np.float64).reshape(n, -1)
    s = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    W = float(s.sum())
    mx = weighted_colsum(X, sw) / W
    my = (s @ Y) / W
    Yc = Y - my
    sY = Yc * s[:, None]
    Xs = X.multiply(s[:, None]).tocsr() if sw is not None else X
    G = np.asarray((X.T @ Xs).toarray(), np.float64) - W * np.outer(mx, mx)
    G[np.diag_indices(d)] = centred_squares(X, sw, mx)
    XY = np.asarray(X.T @ sY) - np.outer(mx, sY.sum(axis=0))
    k = Y.shape[1]
    cross = np.empty((d + k, d + k))
    cross[:d, :d] = G
    cross[:d, d:] = XY
    cross[d:, :d] = XY.T
    cross[d:, d:] = Yc.T @ sY
    return W, np.concatenate([mx, my]), cross


def max_row_norm2(X, sw, mu, sigma, ones):
    """max_i s_i (||(x_i - mu) / sigma||^2 + ones) of a CSR block (diagonal scalings)."""
    X = as_csr(X)
    n = X.shape[0]
    m = np.asarray(mu, np.float64) / sigma
    z = (X.data - mu[X.indices]) / sigma[X.indices]
    per = z * z - m[X.indices] ** 2
    rows = np.repeat(np.arange(n), np.diff(X.indptr))
    q = np.bincount(rows, weights=per, minlength=n) + float(m @ m) + ones
    if sw is not None:
        q = q * sw
    return float(q.max()) if q.size else 0.0
