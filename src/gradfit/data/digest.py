"""The training data's digest: :func:`train_data_hash` of arrays, and :class:`DataDigest`,
the same digest taken block by block over a pass (the targets spilled to a temporary file,
so memory stays bounded)."""

from __future__ import annotations

import hashlib
import json
import tempfile

import numpy as np

__all__ = ["DataDigest", "train_data_hash"]

_TAG = b"gradfit-data-v1"
_SPILL_READ = 1 << 20


def _header(x_shape, y_shape) -> bytes:
    return json.dumps([list(x_shape), list(y_shape)]).encode()


def train_data_hash(X, y) -> str:
    """SHA-256 of the training data, to tell later whether a model was fit on given data.

    The digest covers ``b"gradfit-data-v1"``, the shapes, then the bytes of ``X`` and
    ``y`` as C-ordered little-endian float64.

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, shape (n,) or (n, k)

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    X = np.ascontiguousarray(X, dtype="<f8")
    y = np.ascontiguousarray(y, dtype="<f8")
    h = hashlib.sha256(_TAG)
    h.update(_header(X.shape, y.shape))
    h.update(X.tobytes())
    h.update(y.tobytes())
    return h.hexdigest()


class DataDigest:
    """:func:`train_data_hash` of ``n`` rows given in consecutive blocks.

    ``update(X_block, Y_block)`` in row order, then ``hexdigest()``; the result equals
    ``train_data_hash(X, y)`` of the whole arrays, with ``y`` of shape (n,) when ``k == 1``
    and (n, k) otherwise.  ``close()`` (or the context manager) removes the spill file.
    """

    def __init__(self, n: int, d: int, k: int = 1):
        self._h = hashlib.sha256(_TAG)
        self._h.update(_header((n, d), (n,) if k == 1 else (n, k)))
        self._spill = tempfile.TemporaryFile()

    def update(self, X, Y) -> None:
        """Add the next block of rows: ``X`` (m, d) and ``Y`` (m,) or (m, k)."""
        self._h.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
        self._spill.write(np.ascontiguousarray(Y, dtype="<f8").tobytes())

    def hexdigest(self) -> str:
        """The digest of every row added (the targets read back from the spill file)."""
        h = self._h.copy()
        self._spill.seek(0)
        while chunk := self._spill.read(_SPILL_READ):
            h.update(chunk)
        self._spill.seek(0, 2)
        return h.hexdigest()

    def close(self) -> None:
        """Remove the spill file."""
        self._spill.close()

    def __enter__(self) -> DataDigest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
