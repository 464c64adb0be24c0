"""The pass kernel on CSR rows: the contract of :func:`gradfit.model.kernels.value_grad`
(docs/CORE_API.md, "Pass kernel") for a scipy.sparse X, in O(nnz) time and memory.

    value_grad(X, y, sw, mu, v, b, loss, epsilon) -> (loss_sum (k,), gz (d, k), gb (k,))

The centring is folded into d-sized results, never applied to X:

    p_i  = x_i . v - mu . v + b
    gz   = X' c - mu (1' c),     gb = 1' c,     c_i = s_i loss'(p_i)

:func:`numpy_value_grad` does it with scipy's sparse products (any registered loss);
:func:`value_grad` is the compiled (numba) kernel for the losses of :data:`LOSSES`: one fused
pass over the stored values, row by row (predictions, then the gradient's scatter), on the
calling thread, so its sums have one fixed order.  :func:`supports` says what it serves; the
fit's kernel chooser (``gradfit.fitting.driver.kernel_for(..., sparse=True)``) asks it and
falls back to the numpy kernel, to which :func:`value_grad` also hands anything else.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.compiling import entry, jit
from gradfit.model.losses import get_loss
from gradfit.model.sparse import as_csr

__all__ = ["LOSSES", "supports", "value_grad", "numpy_value_grad", "loss_and_slope",
           "available"]

_LOSS_CODE = {"squared": 0, "huber": 1}
LOSSES = tuple(_LOSS_CODE)
DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

try:  # numba is a core dependency; guarded so that a broken install still fits (scipy)
    import numba
except Exception:  # pragma: no cover - numba missing
    numba = None


def available() -> bool:
    """True when numba is importable, so :func:`value_grad` runs compiled."""
    return numba is not None


def supports(loss: str, dtype=np.float64) -> bool:
    """True when the compiled CSR kernel computes ``loss`` on stored values of ``dtype``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False
    return numba is not None and loss in _LOSS_CODE and dt in DTYPES


def _shapes(X, y, mu, v, b):
    n, d = X.shape
    v = np.asarray(v, np.float64).reshape(d, -1)
    k = v.shape[1]
    mu = np.zeros(d) if mu is None else np.asarray(mu, np.float64).reshape(d)
    b = np.asarray(b, np.float64).reshape(k)
    return n, d, k, mu, v, b


def numpy_value_grad(X, y, sw, mu, v, b, loss="squared", epsilon=1.35):
    """The pass by scipy's sparse products (see the module docstring); any registered loss."""
    lossf = get_loss(loss)
    X = as_csr(X)
    n, d, k, mu, v, b = _shapes(X, y, mu, v, b)
    p = np.asarray(X @ v).reshape(n, k) + (b - mu @ v)
    r = -p if y is None else np.asarray(y, np.float64).reshape(n, k) - p
    val = lossf.value(r, epsilon)
    dl = lossf.dpred(r, epsilon)
    if sw is not None:
        s = np.asarray(sw, np.float64)[:, None]
        val = val * s
        dl = dl * s
    gb = dl.sum(axis=0)
    gz = np.asarray(X.T @ dl).reshape(d, k) - np.multiply.outer(mu, gb)
    return val.sum(axis=0), gz, gb


if numba is not None:

    @jit(fastmath=False, nogil=True)
    def loss_and_slope(r, s, loss, eps):
        """(s * loss(r), s * dloss/dp) for one residual r = y - p (0 squared, 1 huber)."""
        if loss == 0 or abs(r) <= eps:
            return s * (r * r), s * (-2.0 * r)
        if r > 0:
            return s * (2.0 * eps * r - eps * eps), s * (-2.0 * eps)
        return s * (-2.0 * eps * r - eps * eps), s * (2.0 * eps)

    @entry(vectorize=False)
    def _csr_pass(indptr, indices, data, Y, has_y, sw, has_w, vT, off, loss, eps, acc):
        """acc (k, d + 2) += [X' c | 1' c | loss sum] with p_i = x_i . v_q + off_q."""
        n = indptr.shape[0] - 1
        k = vT.shape[0]
        d = vT.shape[1]
        for i in range(n):
            a = indptr[i]
            z = indptr[i + 1]
            s = sw[i] if has_w else 1.0
            for q in range(k):
                p = 0.0
                for t in range(a, z):
                    p += data[t] * vT[q, indices[t]]
                yq = Y[i, q] if has_y else 0.0
                lq, c = loss_and_slope(yq - (p + off[q]), s, loss, eps)
                acc[q, d + 1] += lq
                acc[q, d] += c
                for t in range(a, z):
                    acc[q, indices[t]] += c * data[t]
else:  # pragma: no cover - numba missing
    loss_and_slope = None


_ONE = np.ones((1, 1))


def value_grad(X, y, sw, mu, v, b, loss="squared", epsilon=1.35):
    """The compiled CSR pass (module docstring); what it does not serve goes to
    :func:`numpy_value_grad`."""
    X = as_csr(X)
    if not supports(loss, X.dtype):
        return numpy_value_grad(X, y, sw, mu, v, b, loss, epsilon)
    n, d, k, mu, v, b = _shapes(X, y, mu, v, b)
    vT = np.ascontiguousarray(v.T)
    has_y, has_w = y is not None, sw is not None
    Y = np.ascontiguousarray(y, np.float64).reshape(n, k) if has_y else _ONE
    s = np.ascontiguousarray(sw, np.float64).reshape(n) if has_w else _ONE[0]
    acc = np.zeros((k, d + 2))
    off = b - (mu[:, None] * v).sum(axis=0)  # mu . v without BLAS (no thread wake-up)
    _csr_pass(X.indptr, X.indices, X.data, Y, has_y, s, has_w, vT, off,
              _LOSS_CODE[loss], float(epsilon), acc)
    gb = acc[:, d]
    return acc[:, d + 1], acc[:, :d].T - np.multiply.outer(mu, gb), gb


value_grad.reads_sparse = True
numpy_value_grad.reads_sparse = True
