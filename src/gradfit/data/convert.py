"""``as_backend``: any supported source of rows as a backend (``gradfit.model.backend``).

    numpy arrays, a pandas DataFrame (with y a Series, array or column name)  -> InMemory
    a scipy.sparse matrix or array (CSR; CSC converted once)                  -> SparseBackend
    a path, a glob, a folder or a list of them (CSV / Parquet; y the target)  -> FileBackend
    a dask array or DataFrame                                                 -> DaskBackend
    a backend                                                                 -> itself
"""

from __future__ import annotations

import os

import numpy as np

from gradfit.data.validation import describe_non_numeric, prepare_data
from gradfit.exceptions import InputError
from gradfit.model.backend import Backend, InMemory
from gradfit.model.sparse import is_sparse

__all__ = ["as_backend"]


def _is_dask(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "dask"


def _is_paths(obj) -> bool:
    if isinstance(obj, (str, os.PathLike)):
        return True
    return isinstance(obj, (list, tuple)) and bool(obj) and all(
        isinstance(o, (str, os.PathLike)) for o in obj)


def as_backend(X, y=None, sample_weight=None, **options):
    """The backend for ``X`` (see the module docstring).

    Parameters
    ----------
    X : array-like, DataFrame, path(s), dask collection or backend
    y : array-like, Series, or the target column's name (files, data frames)
    sample_weight : array-like, or the weight column's name (files)
    **options
        Passed to the backend: ``features=``, ``batch_rows=``, ``cache=`` ... for files
        (``gradfit.data.files.FileBackend``), ``client=``, ``n_blocks=`` for Dask.
    """
    if isinstance(X, Backend):
        if y is not None or sample_weight is not None:
            raise InputError("X is already a backend: y and sample_weight come with it")
        return X
    if _is_paths(X):
        from gradfit.data.files import FileBackend

        if y is None:
            raise InputError("files need the target column's name: as_backend(paths, 'y')")
        return FileBackend(X, y, options.pop("features", None), weight=sample_weight, **options)
    if _is_dask(X):
        from gradfit.data.dask import DaskBackend

        return DaskBackend(X, y, sample_weight, **options)
    if options:
        raise TypeError(f"arrays in memory take no options; got {sorted(options)}")
    if isinstance(y, str) and hasattr(X, "columns"):  # a DataFrame and its target's name
        if y not in X.columns:
            raise InputError(f"no column {y!r} in the data frame; it has {list(X.columns)}")
        X, y = X.drop(columns=[y]), X[y]
    if is_sparse(X):
        from gradfit.data.sparse import SparseBackend

        return SparseBackend(*prepare_data(X, y, sample_weight)[:3])
    describe_non_numeric(X)
    X, y2, sw, _ = prepare_data(np.asarray(X) if not hasattr(X, "to_numpy") else X.to_numpy(),
                                y, sample_weight)
    return InMemory(X, y2, sw)
