"""The one update step and the running average, shared by every loop that moves parameters:
the training loop (full batch and mini-batches), ``partial_fit`` and Dask's local SGD; the
compiled mini-batch epoch is tested against them.

    d, state = update(g, state)
    x        = prox(P - lr d, lr / metric(state))
    P, state = after_step(x, P, state)

``metric`` is the optimizer's scaling at a fixed point (1 for gd and Nesterov, 1 - beta for
heavy ball, sqrt(v_hat) + eps for Adam): the prox must use the step lr / metric, or the
iteration would settle on the optimum of a different penalty weight.

Polyak-Ruppert averaging keeps the running mean of the positions,
``avg_n = avg_{n-1} + (x_n - avg_{n-1}) / n``, updated in place.
"""

from __future__ import annotations

__all__ = ["proximal_step", "running_mean"]


def proximal_step(obj, optimizer, P, state, g, lr):
    """One step of ``optimizer`` from P with gradient ``g`` and rate ``lr``: (P, state)."""
    d, state = optimizer.update(g, state)
    x = obj.prox(P - lr * d, lr / optimizer.metric(state))
    return optimizer.after_step(x, P, state)


def running_mean(avg, n: int, x) -> int:
    """Add ``x`` to the running mean ``avg`` of ``n`` points, in place; returns ``n + 1``."""
    n += 1
    avg += (x - avg) / n
    return n
