"""Saved models: plain JSON with a versioned, fully validated schema.

A model file holds numbers and names only; loading never unpickles or evaluates anything,
and anything that does not match the schema exactly is refused with an
:class:`~gradfit.exceptions.InputError` naming the file and the problem.  The schema is
documented in ``docs/cli.md``.

Version 2 adds one field, ``design``: the design of a model fitted on a formula or with
categorical columns (:meth:`gradfit.data.design.DesignSpec.to_json`: the formula, the levels
of every categorical column, formulaic's encoder and transform state, as plain JSON), so that
``gradfit predict`` and ``predict(DataFrame)`` rebuild the same columns.  A model without a
design is written as version 1, which gradfit 0.1 reads too.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradfit._version import __version__
from gradfit.data.digest import train_data_hash
from gradfit.exceptions import InputError

__all__ = [
    "MODEL_FORMAT",
    "SCHEMA_VERSION",
    "LoadedModel",
    "load_model",
    "save_model",
    "train_data_hash",
]

MODEL_FORMAT = "gradfit-model"
SCHEMA_VERSION = 2
_MAX_BYTES = 64 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = (
    "format", "schema_version", "gradfit_version", "feature_names", "target_name", "coef",
    "intercept", "solver", "params", "n_iter", "converged", "stop_reason", "objective",
    "n_train_rows", "train_data_sha256", "created",
)


# --------------------------------------------------------------------------- saving


def _jsonable(value):
    """A JSON-native version of a parameter value (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None  # e.g. a RandomState instance: not reproducible from a file


def save_model(path, estimator, *, target_name: str, train_hash: str,
               feature_names=None, n_train_rows: int | None = None, design=None) -> Path:
    """Write a fitted single-target estimator to a JSON model file (atomically).

    Parameters
    ----------
    path : str or path-like
    estimator : GDRegressor
        Fitted (``coef_``, ``intercept_``, ``n_iter_``, ``converged_``, ``stop_reason_``,
        ``objective_``).
    target_name : str
    train_hash : str
        :func:`train_data_hash` of the training data.
    feature_names : sequence of str, optional
        Default: the estimator's ``feature_names_in_``, else ``x0, x1, ...``.
    n_train_rows : int, optional
        Rows the model was trained on (stored as null when unknown).
    design : DesignSpec, optional
        The design of a formula or categorical fit (default: the estimator's ``design_``);
        its names are the feature names.  With a design the file is schema version 2.

    Returns
    -------
    Path
        The file written.
    """
    coef = np.asarray(estimator.coef_, dtype=float)
    if coef.ndim != 1:
        raise InputError("model files hold single-target models (coef_ must be 1-D)")
    if design is None:
        design = getattr(estimator, "design_", None)
    if design is not None and feature_names is None:
        feature_names = list(design.names)
    if feature_names is None:
        feature_names = getattr(estimator, "feature_names_in_", None)
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(coef.size)]
    params = {}
    if hasattr(estimator, "get_params"):
        params = {str(k): _jsonable(v) for k, v in estimator.get_params(deep=False).items()}
    record = {
        "format": MODEL_FORMAT,
        "schema_version": 1,  # 2 with a design (below)
        "gradfit_version": __version__,
        "feature_names": [str(f) for f in feature_names],
        "target_name": str(target_name),
        "coef": [float(c) for c in coef],
        "intercept": float(np.asarray(estimator.intercept_, dtype=float).reshape(-1)[0]),
        "solver": str(getattr(estimator, "solver", params.get("solver", "unknown"))),
        "params": params,
        "n_iter": int(getattr(estimator, "n_iter_", 0)),
        "converged": bool(getattr(estimator, "converged_", False)),
        "stop_reason": str(getattr(estimator, "stop_reason_", "")),
        "objective": float(getattr(estimator, "objective_", float("nan"))),
        "n_train_rows": None if n_train_rows is None else int(n_train_rows),
        "train_data_sha256": str(train_hash),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if design is not None:
        record["schema_version"] = 2
        record["design"] = design.to_json()
    path = Path(os.fspath(path))
    _validate(record, str(path))  # never write a file we would refuse to read
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write model file {path}: {exc.strerror or exc}") from None
    return path


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model read back from a model file.

    Attributes mirror the schema fields (``coef`` is an ndarray, ``feature_names`` a
    tuple); ``path`` is the file it came from.
    """

    path: str
    feature_names: tuple[str, ...]
    target_name: str
    coef: np.ndarray
    intercept: float
    solver: str
    params: dict
    n_iter: int
    converged: bool
    stop_reason: str
    objective: float
    n_train_rows: int | None
    train_data_sha256: str
    created: str
    gradfit_version: str
    schema_version: int = SCHEMA_VERSION
    design: object = None

    def to_dict(self) -> dict:
        """The model file's content."""
        out = {
            "format": MODEL_FORMAT,
            "schema_version": self.schema_version,
            "gradfit_version": self.gradfit_version,
            "feature_names": list(self.feature_names),
            "target_name": self.target_name,
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "solver": self.solver,
            "params": dict(self.params),
            "n_iter": self.n_iter,
            "converged": self.converged,
            "stop_reason": self.stop_reason,
            "objective": self.objective,
            "n_train_rows": self.n_train_rows,
            "train_data_sha256": self.train_data_sha256,
            "created": self.created,
        }
        if self.design is not None:
            out["design"] = self.design.to_json()
        return out

    @property
    def columns(self) -> list[str]:
        """The data columns the model reads: the design's inputs, else the feature names."""
        return list(self.design.inputs) if self.design is not None else \
            list(self.feature_names)

    def design_matrix(self, data, *, drop_missing: bool = False):
        """The model's feature columns of ``data`` as a float64 matrix, matched by name.

        Parameters
        ----------
        data : Table or pandas.DataFrame
        drop_missing : bool
            Drop rows with missing values (DataFrame input) instead of refusing them.

        Returns
        -------
        X : ndarray, shape (n, d)
        kept : ndarray of bool
            Which input rows are in ``X``.
        """
        from gradfit.data.tables import Table, frame_to_matrix

        if self.design is not None:
            if isinstance(data, Table):
                raise InputError(f"the model {self.path} builds its design from the data's "
                                 "columns: give it the DataFrame, not a Table")
            X, _, kept = self.design.transform(data.rename(columns=str), target=False,
                                               drop_missing=drop_missing, source="the data")
            return X, kept
        if isinstance(data, Table):
            frame_names = list(data.feature_names)
            self._check_columns(frame_names, data.source)
            idx = [frame_names.index(f) for f in self.feature_names]
            return np.ascontiguousarray(data.X[:, idx]), np.ones(data.n_rows, dtype=bool)
        columns = [str(c) for c in data.columns]
        self._check_columns(columns, "the data")
        return frame_to_matrix(data.rename(columns=str), list(self.feature_names),
                               source="the data", drop_missing=drop_missing)

    def _check_columns(self, columns, where: str) -> None:
        missing = [f for f in self.feature_names if f not in columns]
        if missing:
            raise InputError(
                f"{where} lacks column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} that the model {self.path} needs "
                f"(model features: {', '.join(self.feature_names)})"
            )

    def predict(self, data) -> np.ndarray:
        """Predictions ``X @ coef + intercept`` for a Table, DataFrame or 2-D array.

        Columns are matched by name (a Table or DataFrame may hold extra columns, in any
        order); a plain array must have the model's columns in the model's order.
        """
        if isinstance(data, np.ndarray) or isinstance(data, list):
            X = np.asarray(data, dtype=float)
            if X.ndim != 2 or X.shape[1] != self.coef.size:
                raise InputError(
                    f"expected an array of shape (n, {self.coef.size}) for the model "
                    f"{self.path}, got {X.shape}"
                )
        else:
            X, _ = self.design_matrix(data)
        return X @ self.coef + self.intercept

    def to_estimator(self):
        """A fitted :class:`gradfit.GDRegressor` with this model's parameters.

        Parameters this gradfit does not know are skipped with a warning.
        """
        import inspect

        from gradfit import GDRegressor

        known = inspect.signature(GDRegressor).parameters
        params = {k: v for k, v in self.params.items() if k in known}
        unknown = sorted(set(self.params) - set(params))
        if unknown:
            warnings.warn(f"{self.path}: ignoring unknown parameters {', '.join(unknown)}",
                          stacklevel=2)
        est = GDRegressor(**params)
        est.coef_ = self.coef.copy()
        est.intercept_ = float(self.intercept)
        est.n_features_in_ = int(self.coef.size)
        est.feature_names_in_ = np.asarray(self.feature_names, dtype=object)
        est.n_iter_ = self.n_iter
        est.converged_ = self.converged
        est.stop_reason_ = self.stop_reason
        est.objective_ = self.objective
        if self.design is not None:
            est.design_ = self.design
        return est


def _bad(where: str, problem: str) -> InputError:
    return InputError(f"{where} is not a valid gradfit model file: {problem}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _validate(record, where: str) -> None:
    """Raise InputError unless ``record`` matches its schema version exactly (1, or 2: with
    a design)."""
    if not isinstance(record, dict):
        raise InputError(f"{where} is not a gradfit model file (not a JSON object)")
    if record.get("format") != MODEL_FORMAT:
        raise InputError(f"{where} is not a gradfit model file (no \"format\": "
                         f"\"{MODEL_FORMAT}\")")
    version = record.get("schema_version")
    if not _is_int(version) or version < 1:
        raise _bad(where, f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise InputError(f"{where} uses model schema version {version}, newer than this "
                         f"gradfit ({__version__}) reads (up to {SCHEMA_VERSION}): upgrade gradfit")
    fields = _FIELDS + (("design",) if version >= 2 else ())
    missing = [k for k in fields if k not in record]
    if missing:
        raise _bad(where, f"missing field{'s' if len(missing) > 1 else ''} "
                   f"{', '.join(missing)}")
    extra = sorted(set(record) - set(fields))
    if extra:
        raise _bad(where, f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
    names = record["feature_names"]
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n for n in names)):
        raise _bad(where, "feature_names must be a non-empty list of non-empty strings")
    if len(set(names)) != len(names):
        raise _bad(where, "feature_names has duplicates")
    coef = record["coef"]
    if not isinstance(coef, list) or not all(_is_number(c) for c in coef):
        raise _bad(where, "coef must be a list of finite numbers")
    if len(coef) != len(names):
        raise _bad(where, f"coef has {len(coef)} values for {len(names)} feature_names")
    checks = {
        "gradfit_version": (lambda v: isinstance(v, str), "a string"),
        "target_name": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "intercept": (_is_number, "a finite number"),
        "solver": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "params": (lambda v: isinstance(v, dict) and all(
            isinstance(k, str) and (v[k] is None or isinstance(v[k], (bool, str))
                                    or _is_number(v[k])) for k in v),
            "an object of numbers, strings, booleans and nulls"),
        "n_iter": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        "converged": (lambda v: isinstance(v, bool), "true or false"),
        "stop_reason": (lambda v: isinstance(v, str), "a string"),
        "objective": (_is_number, "a finite number"),
        "n_train_rows": (lambda v: v is None or (_is_int(v) and v >= 0),
                         "a non-negative integer or null"),
        "train_data_sha256": (lambda v: isinstance(v, str) and _SHA256.fullmatch(v),
                              "64 lowercase hex digits"),
        "created": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, what) in checks.items():
        if not ok(record[key]):
            raise _bad(where, f"{key} must be {what}, got {_short(record[key])}")
    if version >= 2:
        _design(record, where)


def _design(record, where: str):
    """The design of a version-2 record (None for null), checked against feature_names."""
    if record["design"] is None:
        return None
    from gradfit.data.design import DesignSpec

    design = DesignSpec.from_json(record["design"], where)
    if list(design.names) != record["feature_names"]:
        raise _bad(where, "design names differ from feature_names")
    return design


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def load_model(path) -> LoadedModel:
    """Read and validate a model file written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    LoadedModel

    Raises
    ------
    InputError
        The file is missing or unreadable, is not JSON, is not a gradfit model, has a
        newer schema version, or any field has the wrong type, shape or a non-finite
        number.  The message names the file and the problem.
    """
    where = str(path)
    p = Path(os.fspath(path))
    if not p.exists():
        raise InputError(f"model file {where}: no such file")
    if p.is_dir():
        raise InputError(f"model file {where} is a directory")
    try:
        if p.stat().st_size > _MAX_BYTES:
            raise InputError(f"{where} is too large to be a gradfit model file")
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read model file {where}: {exc.strerror or exc}") from None
    try:
        record = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{where} is not a gradfit model file (not valid JSON: {msg})") from None
    _validate(record, where)
    return LoadedModel(
        path=where,
        feature_names=tuple(record["feature_names"]),
        target_name=record["target_name"],
        coef=np.asarray(record["coef"], dtype=np.float64),
        intercept=float(record["intercept"]),
        solver=record["solver"],
        params=dict(record["params"]),
        n_iter=record["n_iter"],
        converged=record["converged"],
        stop_reason=record["stop_reason"],
        objective=float(record["objective"]),
        n_train_rows=record["n_train_rows"],
        train_data_sha256=record["train_data_sha256"],
        created=record["created"],
        gradfit_version=record["gradfit_version"],
        schema_version=record["schema_version"],
        design=_design(record, where) if record["schema_version"] >= 2 else None,
    )
