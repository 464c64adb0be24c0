"""Where batches come from.  Batch, mini-batch and stochastic descent differ only here:
a source yields the batches of one epoch, and the one training loop consumes them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ArraySource"]


class ArraySource:
    """In-memory (X, y, s).  batch_size None: one batch, the whole data, in order.
    An integer: shuffled mini-batches of that size (the last one smaller), reshuffled
    every epoch with the fit's random generator."""

    def __init__(self, X, y, sw, batch_size=None):
        self.X, self.y, self.sw = X, y, sw
        self.n = X.shape[0]
        self.batch_size = None if batch_size is None else min(int(batch_size), self.n)

    @property
    def full_batch(self) -> bool:
        return self.batch_size is None

    @property
    def batches_per_epoch(self) -> int:
        return 1 if self.full_batch else -(-self.n // self.batch_size)

    def epoch(self, rng: np.random.Generator):
        if self.full_batch:
            yield self.X, self.y, self.sw
            return
        order = rng.permutation(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = np.sort(order[start:start + self.batch_size])
            yield self.X[idx], self.y[idx], None if self.sw is None else self.sw[idx]
