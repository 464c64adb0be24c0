"""Input checks with messages that say what is wrong, where, and what to do."""

from __future__ import annotations

import numbers

import numpy as np

from gradfit.exceptions import InputError
from gradfit.model.sparse import is_sparse

__all__ = ["check_finite", "check_sample_weight", "as_float_array", "check_param",
           "prepare_data"]


def _column_label(j, feature_names):
    if feature_names is not None and j < len(feature_names):
        return f"column {j} ({feature_names[j]!r})"
    return f"column {j}"


def check_finite(A, name, feature_names=None):
    """Raise InputError naming the first NaN/inf: count, row, column and value."""
    if A.size == 0:
        return
    with np.errstate(all="ignore"):
        ok = (np.isfinite(A.sum()) or np.isfinite(A).all()) if A.dtype.kind == "f" else True
    if ok:
        return
    bad = ~np.isfinite(A)
    count = int(bad.sum())
    first = np.argwhere(bad)[0]
    where = f"row {first[0]}"
    if A.ndim == 2:
        where += ", " + (_column_label(first[1], feature_names) if name == "X"
                         else f"output {first[1]}")
    raise InputError(
        f"{name} contains NaN or inf: {count} value(s), the first at {where} = "
        f"{float(A[tuple(first)])!r}; drop or impute them (e.g. sklearn.impute.SimpleImputer) "
        "before fitting"
    )


def check_sample_weight(sample_weight, n):
    """Validated float64 weights (n,), or None for unit weights."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n, float(sample_weight))
    sw = np.asarray(sample_weight, dtype=float)
    if sw.ndim != 1 or sw.shape[0] != n:
        raise InputError(f"sample_weight must have shape ({n},) to match X, got {sw.shape}")
    check_finite(sw, "sample_weight")
    if (sw < 0).any():
        i = int(np.argmax(sw < 0))
        raise InputError(f"sample_weight must be >= 0; row {i} has {float(sw[i]):g}")
    if not (sw > 0).any():
        raise InputError("sample_weight is zero for every row: at least one row needs a "
                         "positive weight")
    return sw


def as_float_array(X, name="X"):
    """X as a float32/float64 (or long double) ndarray, not copied when it already is one."""
    A = np.asarray(X)
    if A.dtype.kind == "c":
        raise InputError(f"Complex data not supported: {name} is complex")
    if A.dtype not in (np.float64, np.float32, np.longdouble):
        try:
            A = A.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be numeric: {exc}") from None
    return A


def check_param(name, value, *, choices=None, positive=False, nonneg=False, integer=False,
                unit=False, allow_none=False):
    """Validate one constructor parameter; returns it."""
    if value is None and allow_none:
        return value
    if choices is not None:
        if value not in choices:
            raise ValueError(f"{name}={value!r} is not valid; use one of {list(choices)}")
        return value
    if integer and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonneg and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if unit and not 0 < value < 1:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return value


def describe_non_numeric(X):
    """For a DataFrame with non-numeric columns, raise InputError naming the column, the first
    bad row and its value (scikit-learn's own message names none of them)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return
    import pandas as pd

    for name in X.columns:
        col = X[name]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        conv = pd.to_numeric(col, errors="coerce")
        bad = conv.isna() & col.notna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise InputError(f"column {name!r} is not numeric: row {i} holds {col.iloc[i]!r}; "
                             "encode it (e.g. sklearn.preprocessing.OneHotEncoder) or drop it")


def _as_2d_target(y, n):
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise InputError("y must be numeric") from None
    y = np.asarray(y, dtype=np.longdouble if y.dtype == np.longdouble else float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise InputError(f"y must have {n} rows to match X (shape {y.shape} given)")
    if y.shape[1] == 0:
        raise InputError("y has no columns")
    return y


def prepare_data(X, y, sample_weight, feature_names=None):
    """Validated (X float array, y (n, k), sw or None, single_output).  A scipy.sparse X
    stays sparse: a CSR matrix (``gradfit.data.sparse.check_sparse``)."""
    if is_sparse(X):
        from gradfit.data.sparse import check_sparse

        X = check_sparse(X, feature_names)
        single = np.ndim(y) == 1
        y2 = _as_2d_target(y, X.shape[0])
        check_finite(y2, "y")
        return X, y2, check_sample_weight(sample_weight, X.shape[0]), single
    X = as_float_array(X, "X")
    if X.ndim != 2:
        raise InputError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}. "
                         "Reshape a single feature with X.reshape(-1, 1)")
    n, d = X.shape
    if n == 0:
        raise InputError("X has 0 rows: there is nothing to fit")
    if d == 0:
        raise InputError("X has 0 feature columns")
    single = np.ndim(y) == 1
    y2 = _as_2d_target(y, n)
    check_finite(X, "X", feature_names)
    check_finite(y2, "y")
    sw = check_sample_weight(sample_weight, n)
    return X, y2, sw, single
