"""The one hot loop: a fused pass over X giving the loss and its gradient.

    value_grad(X, y, sw, mu, v, b, loss, epsilon) -> (loss_sum, gz, gb)

with the prediction p_i = (x_i - mu) . v + b and

    loss_sum = sum_i s_i loss(y_i - p_i)                  shape (k,)
    gz       = sum_i s_i loss'(p_i) (x_i - mu)            shape (d, k)
    gb       = sum_i s_i loss'(p_i)                        shape (k,)

Standardization is folded in here: the centring ``mu`` is subtracted block by block, never
as a copy of X, and the solver's scaling is applied to the d-sized results by the caller.
Rows are processed in fixed blocks (the same partition every time), so the summation order,
and hence every digit, does not depend on the machine's thread count.  ``y=None`` means
y = 0 (the power iteration uses it: then gz / 2 = Z' S Z v).

The compiled kernel in ``kernels_numba`` (when numba is installed) gives the same numbers.
"""

from __future__ import annotations

import contextlib

import numpy as np

from gradfit.model.losses import get_loss
from gradfit.model.sparse import is_sparse

__all__ = ["value_grad", "BLOCK_ROWS", "blas_all_threads", "blas_single_thread"]

BLOCK_ROWS = 8192
_controller = None
_NO_LIMIT = contextlib.nullcontext()


def _blas():
    """threadpoolctl's controller and BLAS's thread count when first asked (its default)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        threads = [lib.num_threads for lib in controller.lib_controllers
                   if lib.user_api == "blas"]
        _controller = (controller, max(threads, default=1))
    return _controller


def blas_single_thread():
    """Context manager pinning BLAS to one thread (two threads are slower on tall-skinny
    X' r here: OpenBLAS splits the short dimension)."""
    return _blas()[0].limit(limits=1, user_api="blas")


def blas_all_threads():
    """Context manager giving BLAS its default thread count back, inside
    :func:`blas_single_thread` (a big matrix product: X' B with B of many columns)."""
    controller, threads = _blas()
    return controller.limit(limits=threads, user_api="blas")


def value_grad(X, y, sw, mu, v, b, loss="squared", epsilon=1.35):
    """One fused pass over X (pure numpy, row blocks).  See the module docstring.  A
    scipy.sparse X goes to ``kernels_sparse.numpy_value_grad`` (the same contract, O(nnz))."""
    if is_sparse(X):
        from gradfit.model.kernels_sparse import numpy_value_grad

        return numpy_value_grad(X, y, sw, mu, v, b, loss, epsilon)
    lossf = get_loss(loss)
    n, d = X.shape
    k = v.shape[1]
    center = mu is not None and np.any(mu != 0)
    loss_sum = np.zeros(k)
    gz = np.zeros((d, k))
    gb = np.zeros(k)
    with blas_single_thread() if n > BLOCK_ROWS else _NO_LIMIT:  # 50 us: not per mini-batch
        for start in range(0, n, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, n)
            Zb = X[start:stop]
            if center:
                Zb = Zb - mu
            p = Zb @ v + b
            r = -p if y is None else y[start:stop] - p
            val = lossf.value(r, epsilon)
            dl = lossf.dpred(r, epsilon)
            if sw is not None:
                s = sw[start:stop, None]
                val = val * s
                dl = dl * s
            loss_sum += val.sum(axis=0)
            gb += dl.sum(axis=0)
            gz += Zb.T @ dl
    return loss_sum, gz, gb
