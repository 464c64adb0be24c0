"""Where batches come from.  Batch, mini-batch and stochastic descent differ only here:
a source yields the batches of one epoch, and the one training loop consumes them.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (type of rng)

__all__ = ["BatchSource"]


class BatchSource:
    """Batches of a backend.  batch_size None: one batch, the whole data (the loop then
    uses full passes).  An integer: shuffled mini-batches of that size (the last one
    smaller), reshuffled every epoch with the fit's random generator by the backend."""

    def __init__(self, data, batch_size=None):
        self.data = data
        self.n = data.n
        self.batch_size = None if batch_size is None else min(int(batch_size), self.n)

    @property
    def full_batch(self) -> bool:
        return self.batch_size is None

    @property
    def batches_per_epoch(self) -> int:
        return 1 if self.full_batch else -(-self.n // self.batch_size)

    def epoch(self, rng: np.random.Generator):
        """The mini-batches of one epoch (full-batch epochs are passes, not batches)."""
        return self.data.minibatches(self.batch_size, rng)
