"""The design matrix of a table: a formula (through formulaic) or columns with categorical ones
one-hot encoded, learnt once and applied the same way to every later frame.

:class:`DesignSpec` is the one place for this idea, used by every path: the estimator
(``GDRegressor.fit_formula``, ``predict`` on a DataFrame), ``gradfit.fit("y ~ ...", data=)``,
tables read whole (:func:`gradfit.data.tables.read_table`), files streamed block by block
(:class:`gradfit.data.design_files.DesignBackend`) and model files
(:mod:`gradfit.io.model_file`: :meth:`DesignSpec.to_json` / :meth:`DesignSpec.from_json`,
plain JSON, never a pickle).

Two kinds:

- ``"formula"``: ``"y ~ x1 + C(region) + np.log(x2)"``, materialized by formulaic with its
  defaults (treatment coding, the first level the reference, full rank).  The intercept term
  of the formula is the fit's ``fit_intercept`` (``- 1`` or ``+ 0`` removes it); the
  ``Intercept`` column itself is left out of ``X``.  Term names are formulaic's, which for
  treatment coding are statsmodels' (patsy's): ``C(region)[T.b]``, ``np.log(x2)``.
- ``"columns"``: the feature columns as they are, those named categorical one-hot encoded
  by treatment coding: levels sorted, the first one the reference, a column
  ``name[T.level]`` for every other level (formulaic's names for ``y ~ name``).

Levels.  The levels of a categorical column are its distinct values, sorted (numbers
numerically, text as text), found in the training frame, or in a first pass over streamed
files (:func:`frame_levels`, :func:`merge_levels`), or declared.  A later frame holding a
level the design did not see is refused, naming the column, the level and the known levels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gradfit.exceptions import InputError

__all__ = ["DESIGN_VERSION", "DesignSpec", "RowLocator", "frame_levels", "merge_levels",
           "missing_rows", "sorted_levels"]

DESIGN_VERSION = 1
"""Version of the JSON form of a design (:meth:`DesignSpec.to_json`)."""

_SHOW_ROWS = 5
_SHOW_LEVELS = 12
_C_CALL = re.compile(r"\s*C\(\s*(`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)\s*[,)]")


class RowLocator:
    """Positions of rows as shown in messages: ``row 1`` for the first row (0-based positions
    in, 1-based out).  :func:`gradfit.data.tables.read_table` passes a locator that names
    CSV lines instead (the same interface: a call for one position, ``many`` for several)."""

    def __call__(self, pos: int) -> str:
        return f"row {pos + 1}"

    def many(self, positions) -> str:
        positions = [int(p) for p in positions]
        shown = ", ".join(str(p + 1) for p in positions[:_SHOW_ROWS])
        more = ", ..." if len(positions) > _SHOW_ROWS else ""
        return f"row{'s' if len(positions) > 1 else ''} {shown}{more}"


class _Shifted:
    """A locator for the rows kept (positions in the kept frame -> the original rows)."""

    def __init__(self, locate, rows: np.ndarray):
        self.locate, self.rows = locate, rows

    def __call__(self, pos: int) -> str:
        return self.locate(int(self.rows[pos]))

    def many(self, positions) -> str:
        return self.locate.many([int(self.rows[p]) for p in positions])


# --------------------------------------------------------------------------- levels


def _scalar(value):
    """A level as a plain Python value (str, int, float or bool) for JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    raise InputError(f"the level {value!r} is neither text nor a finite number: categorical "
                     "columns must hold text or numbers")


def sorted_levels(values) -> list:
    """The distinct values of ``values`` (missing ones left out), sorted: numbers numerically,
    text as text; a column mixing both sorts the numbers first.

    Parameters
    ----------
    values : iterable

    Returns
    -------
    list of str, int, float or bool
    """
    found = {_scalar(v) for v in values if not _missing(v)}
    numbers = sorted(v for v in found if not isinstance(v, str))
    text = sorted(v for v in found if isinstance(v, str))
    return numbers + text


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def frame_levels(frame, columns: Sequence[str]) -> dict[str, list]:
    """The sorted levels of each of ``columns`` in ``frame`` (see :func:`sorted_levels`)."""
    out = {}
    for c in columns:
        series = frame[c]
        out[c] = sorted_levels(series.dropna().unique())
    return out


def merge_levels(a: dict, b: dict) -> dict:
    """The union of two ``{column: levels}`` records, sorted (the levels of a streamed file
    are merged batch by batch)."""
    out = dict(a)
    for c, levels in b.items():
        out[c] = sorted_levels(list(out.get(c, [])) + list(levels))
    return out


def _levels_text(levels) -> str:
    shown = ", ".join(repr(v) for v in levels[:_SHOW_LEVELS])
    return shown + (f", ... ({len(levels)} in all)" if len(levels) > _SHOW_LEVELS else "")


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, eq=False)
class DesignSpec:
    """How a frame becomes the design matrix ``X`` (and the target ``y``).

    Attributes
    ----------
    kind : {"formula", "columns"}
    target : str or None
        The target column (``"columns"``), or the left-hand side of the formula (a column
        or an expression such as ``np.log(y)``); None for a design without a target.
    names : tuple of str
        The columns of ``X``, in order (the Intercept left out).
    inputs : tuple of str
        The data columns the right-hand side reads.
    levels : dict
        ``{column: [levels]}`` of the categorical columns.
    formula : str or None
        The formula as written (``"formula"``).
    intercept : bool or None
        Whether the formula has an intercept term (``"formula"``; None for ``"columns"``,
        where ``fit_intercept`` decides).
    state : dict
        The formula's encoder and transform state, as JSON (``"formula"``).
    """

    kind: str
    target: str | None
    names: tuple
    inputs: tuple
    levels: dict = field(default_factory=dict)
    formula: str | None = None
    intercept: bool | None = None
    state: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ learning
    @classmethod
    def from_frame(cls, frame, formula: str | None = None, *, target=None, features=None,
                   categorical=None, levels: dict | None = None, source: str = "<DataFrame>",
                   drop_missing: bool = False, streamed: bool = False) -> DesignSpec:
        """Learn a design from a frame.

        Parameters
        ----------
        frame : pandas.DataFrame
        formula : str, optional
            ``"y ~ x1 + C(region) + np.log(x2)"`` (formulaic's grammar).  Without it, the
            design is the ``features`` columns (``"columns"``).
        target : str, optional
            The target column of a ``"columns"`` design (None: no target).
        features : sequence of str
            The feature columns of a ``"columns"`` design, in order.
        categorical : "auto", sequence of str or None
            Columns of a ``"columns"`` design to one-hot encode; "auto": every feature that
            does not hold numbers.
        levels : dict, optional
            ``{column: levels}`` found beforehand (a first pass over streamed files, or
            declared): used instead of the frame's own levels, which they must cover.
        source : str
            How messages name the data.
        drop_missing : bool
            Learn from the rows without missing values (else such rows are an error).
        streamed : bool
            The frame is the first batch of streamed files: refuse what would need all rows
            at once (a stateful transform such as ``center()``, a categorical term whose
            levels are not those of a column).

        Returns
        -------
        DesignSpec
        """
        if formula is None:
            return cls._from_columns(frame, target, features, categorical, levels, source,
                                     drop_missing)
        return cls._from_formula(frame, formula, levels, source, drop_missing, streamed)

    @classmethod
    def _from_columns(cls, frame, target, features, categorical, levels, source, drop_missing):
        features = [str(f) for f in features]
        cats = _categorical_columns(frame, features, categorical, source)
        rows = _complete_rows(frame, features + ([target] if target else []), drop_missing)
        found = levels if levels is not None else frame_levels(rows, cats)
        known = {c: sorted_levels(found.get(c, [])) for c in cats}
        for c in cats:
            if not known[c]:
                raise InputError(f"the categorical column {c!r} of {source} has no values "
                                 "(every row is missing)")
        names = _column_names(features, known)
        _check_names(names, source)
        return cls("columns", target, tuple(names), tuple(features), known)

    @classmethod
    def _from_formula(cls, frame, formula, levels, source, drop_missing, streamed):
        parsed = _parse(formula)
        lhs = _lhs_text(parsed, formula)
        inputs = _rhs_variables(parsed, frame, source)
        _check_present(frame, inputs + _lhs_variables(parsed), source, "the formula")
        cats = _formula_categoricals(parsed, frame, inputs)
        found = dict(levels) if levels is not None else {}
        missing_levels = [c for c in cats if c not in found]
        if missing_levels:
            rows = _complete_rows(frame, inputs + _lhs_variables(parsed), drop_missing)
            found.update(frame_levels(rows, missing_levels))
        known = {c: sorted_levels(found[c]) for c in cats}
        spec = cls("formula", lhs, (), tuple(inputs), known, formula, None, {})
        work, _ = spec._prepared(frame, target=True, drop_missing=drop_missing, source=source,
                                 locate=RowLocator())
        with np.errstate(all="ignore"):
            from formulaic import model_matrix

            try:
                built = model_matrix(parsed.rhs, work, na_action="ignore")
            except Exception as exc:  # noqa: BLE001 - formulaic's errors, made one line
                raise InputError(f"cannot build the design of {formula!r} on {source}: "
                                 f"{_one_line(exc)}") from None
        model_spec = built.model_spec
        state = {"encoder": _encoder_json(model_spec.encoder_state),
                 "transforms": _to_json_value(model_spec.transform_state, formula)}
        if streamed:
            _check_streamable(model_spec, known, formula)
        columns = [str(c) for c in built.columns]
        intercept = "Intercept" in columns
        names = tuple(c for c in columns if c != "Intercept")
        if not names:
            raise InputError(f"the formula {formula!r} has no terms besides the intercept: "
                             "name at least one column on the right of ~")
        return cls("formula", lhs, names, tuple(inputs), known, formula, intercept, state)

    def fit_intercept(self, given=None) -> bool:
        """The ``fit_intercept`` of a fit of this design: the formula's intercept term; a
        ``"columns"`` design keeps ``given`` (default True).

        Raises
        ------
        InputError
            ``given`` is False and the formula has an intercept (the formula says it:
            ``- 1``).
        """
        if self.kind != "formula":
            return True if given is None else bool(given)
        if self.intercept and given is False:
            raise InputError(f"the formula {self.formula!r} has an intercept but "
                             "fit_intercept is False: write the formula with - 1 (or + 0) to "
                             "fit without one")
        return bool(self.intercept)

    # ------------------------------------------------------------------ applying
    def variables(self, target: bool = True) -> list[str]:
        """The data columns this design reads (with the target's when ``target``)."""
        out = list(self.inputs)
        if target and self.target is not None:
            extra = [self.target] if self.kind == "columns" else \
                _lhs_variables(_parse(self.formula))
            out += [c for c in extra if c not in out]
        return out

    def transform(self, frame, *, target: bool = True, drop_missing: bool = False,
                  source: str = "<DataFrame>", locate=None, batch: bool = False):
        """The design of ``frame``: the same columns, levels and transforms as learnt.

        Parameters
        ----------
        frame : pandas.DataFrame
            Holds at least :meth:`variables` (extra columns are ignored).
        target : bool
            Also return the target (the frame must hold it).
        drop_missing : bool
            Drop rows with a missing value in a column read instead of refusing them.
        source : str
            How messages name the data.
        locate : callable, optional
            Row positions as messages show them (default :class:`RowLocator`).
        batch : bool
            The frame is one batch of streamed files (messages count "in this batch").

        Returns
        -------
        X : ndarray of float64, shape (n_kept, len(names))
        y : ndarray of float64, shape (n_kept,), or None
        kept : ndarray of bool, shape (len(frame),)

        Raises
        ------
        InputError
            A column is absent, a value is missing (without ``drop_missing``), a numeric
            column holds text, a categorical column holds a level the design did not see, or
            a transform gives a value that is not finite.
        """
        locate = locate or RowLocator()
        work, kept = self._prepared(frame, target=target, drop_missing=drop_missing,
                                    source=source, locate=locate, batch=batch)
        rows = np.flatnonzero(kept)
        where = locate if rows.size == len(frame) else _Shifted(locate, rows)
        if self.kind == "columns":
            X = self._columns_matrix(work)
        else:
            X = self._formula_matrix(work, source)
        _check_finite(X, self.names, where, source)
        y = None
        if target and self.target is not None:
            y = self._target_values(work, source, where)
        return X, y, kept

    def _prepared(self, frame, *, target, drop_missing, source, locate, batch=False):
        """The frame's columns read, rows with missing values dropped (or refused), numeric
        columns as float64, categorical ones as pandas Categoricals of the known levels."""
        import pandas as pd

        needed = self.variables(target)
        _check_present(frame, needed, source, "the model" if self.names else "the formula")
        work = pd.DataFrame({c: frame[c] for c in needed})
        work.index = pd.RangeIndex(len(work))
        kept = missing_rows(work.isna().to_numpy(), needed, drop_missing, source, locate)
        if not kept.all():
            work = work.loc[kept].reset_index(drop=True)
        rows = np.flatnonzero(kept)
        where = locate if rows.size == len(kept) else _Shifted(locate, rows)
        for c in needed:
            if c in self.levels:
                work[c] = _as_categorical(work[c], c, self.levels[c], source, where)
            else:
                work[c] = _as_numbers(work[c], c, source, where, self.kind, batch)
        return work, kept

    def _columns_matrix(self, work) -> np.ndarray:
        n = len(work)
        X = np.empty((n, len(self.names)), dtype=np.float64)
        j = 0
        for f in self.inputs:
            if f in self.levels:
                codes = work[f].cat.codes.to_numpy()
                width = len(self.levels[f]) - 1
                X[:, j:j + width] = codes[:, None] == np.arange(1, width + 1)[None, :]
                j += width
            else:
                X[:, j] = work[f].to_numpy(dtype=np.float64)
                j += 1
        return X

    def _model_spec(self, side: str = "rhs"):
        cache = self.__dict__.setdefault("_specs", {})
        if side not in cache:
            from formulaic import ModelSpec

            parsed = _parse(self.formula)
            if side == "rhs":
                cache[side] = ModelSpec(
                    formula=parsed.rhs, encoder_state=_encoder_state(self.state["encoder"]),
                    transform_state=_from_json_value(self.state["transforms"]),
                    na_action="ignore")
            else:
                cache[side] = ModelSpec(formula=parsed.lhs, na_action="ignore",
                                        ensure_full_rank=False)
        return cache[side]

    def _formula_matrix(self, work, source) -> np.ndarray:
        spec = self._model_spec("rhs")
        with np.errstate(all="ignore"):
            try:
                built = spec.get_model_matrix(work)
            except Exception as exc:  # noqa: BLE001 - formulaic's errors, made one line
                raise InputError(f"cannot build the design of {self.formula!r} on {source}: "
                                 f"{_one_line(exc)}") from None
        columns = [str(c) for c in built.columns]
        got = tuple(c for c in columns if c != "Intercept")
        if got != self.names:
            raise InputError(f"the design of {self.formula!r} on {source} has the columns "
                             f"{', '.join(got)}, not those the model was fitted with "
                             f"({', '.join(self.names)})")
        keep = [j for j, c in enumerate(columns) if c != "Intercept"]
        X = np.asarray(built.values if hasattr(built, "values") else built, dtype=np.float64)
        return np.ascontiguousarray(X[:, keep])

    def _target_values(self, work, source, where) -> np.ndarray:
        if self.kind == "columns":
            values = _as_numbers(work[self.target], self.target, source, where, "columns")
            return values.to_numpy(dtype=np.float64)
        spec = self._model_spec("lhs")
        with np.errstate(all="ignore"):
            try:
                built = spec.get_model_matrix(work)
            except Exception as exc:  # noqa: BLE001
                raise InputError(f"cannot compute the left-hand side {self.target!r} of the "
                                 f"formula on {source}: {_one_line(exc)}") from None
        values = np.asarray(built.values if hasattr(built, "values") else built)
        if values.ndim != 2 or values.shape[1] != 1 or values.dtype.kind not in "fiub":
            raise InputError(f"the left-hand side {self.target!r} of the formula must be one "
                             "numeric column (the target)")
        y = np.ascontiguousarray(values[:, 0], dtype=np.float64)
        _check_finite(y[:, None], (self.target,), where, source)
        return y

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict:
        """The design as plain JSON (what model files store)."""
        out = {"version": DESIGN_VERSION, "kind": self.kind, "target": self.target,
               "names": list(self.names), "inputs": list(self.inputs),
               "levels": {c: list(v) for c, v in self.levels.items()}}
        if self.kind == "formula":
            out.update(formula=self.formula, intercept=self.intercept, state=self.state)
        return out

    @classmethod
    def from_json(cls, record, where: str = "the model file") -> DesignSpec:
        """Read back :meth:`to_json`, checking every field.

        Raises
        ------
        InputError
            A field is missing, of the wrong type, or the formula does not rebuild the names.
        """
        def bad(problem):
            return InputError(f"{where} is not a valid gradfit model file: design: {problem}")

        if not isinstance(record, dict):
            raise bad("not an object")
        if record.get("version") != DESIGN_VERSION:
            raise bad(f"version must be {DESIGN_VERSION}, got {record.get('version')!r}")
        kind = record.get("kind")
        keys = {"version", "kind", "target", "names", "inputs", "levels"}
        if kind == "formula":
            keys |= {"formula", "intercept", "state"}
        elif kind != "columns":
            raise bad(f"kind must be 'formula' or 'columns', got {kind!r}")
        if set(record) != keys:
            extra, absent = sorted(set(record) - keys), sorted(keys - set(record))
            raise bad(f"fields {', '.join(absent)} missing" if absent else
                      f"unknown fields {', '.join(extra)}")
        for key in ("names", "inputs"):
            if not _strings(record[key]) or not record[key]:
                raise bad(f"{key} must be a non-empty list of strings")
        if not (record["target"] is None or isinstance(record["target"], str)):
            raise bad("target must be a string or null")
        levels = record["levels"]
        if not _levels_ok(levels):
            raise bad("levels must map columns to non-empty lists of text or numbers")
        if kind == "columns":
            spec = cls("columns", record["target"], tuple(record["names"]),
                       tuple(record["inputs"]), {c: list(v) for c, v in levels.items()})
            if tuple(_column_names(spec.inputs, spec.levels)) != spec.names:
                raise bad("names do not follow from inputs and levels")
            return spec
        if not isinstance(record["formula"], str) or not isinstance(record["intercept"], bool):
            raise bad("formula must be a string and intercept true or false")
        state = record["state"]
        if not isinstance(state, dict) or set(state) != {"encoder", "transforms"}:
            raise bad("state must hold encoder and transforms")
        return cls("formula", record["target"], tuple(record["names"]),
                   tuple(record["inputs"]), {c: list(v) for c, v in levels.items()},
                   record["formula"], record["intercept"], state)


# --------------------------------------------------------------------------- helpers


def _complete_rows(frame, columns, drop_missing: bool):
    """The rows a fit keeps, for learning levels: without a missing value in ``columns``
    when ``drop_missing`` (else all: missing values are refused later)."""
    return frame.dropna(subset=list(columns)) if drop_missing else frame


def missing_rows(holes: np.ndarray, columns, drop_missing: bool, source: str,
                 locate) -> np.ndarray:
    """The rows to keep given where values are missing (``holes``, (n, len(columns)) bool):
    all but those with a hole when ``drop_missing``, else all of them or an InputError
    naming the count, the first rows and the columns."""
    bad = np.flatnonzero(holes.any(axis=1))
    kept = np.ones(holes.shape[0], dtype=bool)
    if bad.size and not drop_missing:
        cols = [c for j, c in enumerate(columns) if holes[:, j].any()]
        raise InputError(
            f"{bad.size} row{'s' if bad.size > 1 else ''} of {source} "
            f"{'have' if bad.size > 1 else 'has'} missing values ({locate.many(bad)}; "
            f"column{'s' if len(cols) > 1 else ''} {', '.join(cols)}); use "
            "--drop-missing (drop_missing=True) to drop them")
    kept[bad] = False
    return kept


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _is_level(v) -> bool:
    return isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _levels_ok(levels) -> bool:
    return isinstance(levels, dict) and all(
        isinstance(v, list) and v and all(_is_level(x) for x in v) for v in levels.values())


def _column_names(features, levels) -> list[str]:
    """The design's columns of a ``"columns"`` design: a feature as it is, or
    ``name[T.level]`` for every level but the first of a categorical one."""
    names = []
    for f in features:
        names += [f"{f}[T.{v}]" for v in levels[f][1:]] if f in levels else [f]
    return names


def _check_names(names, source) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise InputError(f"the design of {source} would have two columns named {n!r}: "
                             "rename the column whose name collides with an encoded level")
        seen.add(n)


def _is_numeric(series) -> bool:
    from pandas.api import types as ptypes

    return ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)


def _categorical_columns(frame, features, categorical, source) -> list[str]:
    if categorical is None:
        return []
    if isinstance(categorical, str) and categorical.strip().lower() == "auto":
        return [f for f in features if not _is_numeric(frame[f])]
    wanted = categorical.split(",") if isinstance(categorical, str) else list(categorical)
    wanted = [str(c).strip() for c in wanted]
    for c in wanted:
        if c not in features:
            from gradfit.data.readers.messages import closest_names

            close = closest_names(c, features)
            hint = f"; did you mean {' or '.join(repr(x) for x in close)}?" if close else ""
            raise InputError(f"column {c!r} given to --categorical is not among the features "
                             f"of {source}{hint} (features: {', '.join(features[:12])}"
                             f"{', ...' if len(features) > 12 else ''})")
    return [f for f in features if f in wanted]


def _check_present(frame, columns, source, who) -> None:
    have = [str(c) for c in frame.columns]
    absent = [c for c in columns if c not in have]
    if absent:
        from gradfit.data.readers.messages import closest_names

        close = closest_names(absent[0], have) if len(absent) == 1 else []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InputError(
            f"{source} lacks column{'s' if len(absent) > 1 else ''} {', '.join(absent)} "
            f"needed by {who}{hint} (data columns: {', '.join(have[:12])}"
            f"{', ...' if len(have) > 12 else ''})")


def _as_categorical(series, column, levels, source, where):
    import pandas as pd

    values = series
    if all(not isinstance(v, str) for v in levels) and not _is_numeric(series):
        numbers = pd.to_numeric(series, errors="coerce")  # "2001" in a text column: 2001
        if not (numbers.isna() & series.notna()).any():
            values = numbers
    codes = pd.Index(levels).get_indexer(values)
    unseen = np.flatnonzero((codes < 0) & series.notna().to_numpy())
    if unseen.size:
        pos = int(unseen[0])
        value = series.iloc[pos]
        value = value.item() if isinstance(value, np.generic) else value
        others = {repr(v) for v in series.iloc[unseen]}
        more = f" (and {len(others) - 1} other unseen level{'s' if len(others) > 2 else ''})" \
            if len(others) > 1 else ""
        raise InputError(
            f"column {column!r} has the level {value!r} at {where(pos)} of {source}, which "
            f"the model did not see in training{more} (known levels: {_levels_text(levels)}); "
            "map it to a known level, leave those rows out, or fit again on data that has it")
    return pd.Categorical.from_codes(codes, categories=levels)


def _as_numbers(series, column, source, where, kind, batch: bool = False):
    import pandas as pd
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(series.dtype):
        return series.astype(np.float64)
    if _is_numeric(series):
        return series.astype(np.float64)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero((numbers.isna() & series.notna()).to_numpy())
    if bad.size:
        pos = int(bad[0])
        more = (f" ({bad.size} such values in {'this batch' if batch else 'all'})"
                if bad.size > 1 else "")
        text = repr(str(series.iloc[pos]))
        text = text if len(text) <= 40 else text[:37] + "...'"
        what = (f"pass --categorical {column} (categorical=[{column!r}]) to one-hot encode it"
                if kind == "columns" else
                f"write C({column}) in the formula to treat it as categorical")
        raise InputError(f"non-numeric value {text} in column {column!r} at {where(pos)} of "
                         f"{source}{more}; the column is numeric in the design: {what}")
    return numbers.astype(np.float64)


def _check_finite(X, names, where, source) -> None:
    fine = np.isfinite(X)
    if fine.all():
        return
    i, j = (int(v) for v in np.argwhere(~fine)[0])
    raise InputError(f"the design column {names[j]!r} is {float(X[i, j])!r} at {where(i)} of "
                     f"{source}: "
                     "a transform left its domain there (np.log of a number <= 0, say) or a "
                     "value is infinite; fix or drop that row, or change the formula")


# --------------------------------------------------------------------------- formulas


def _parse(formula: str):
    from formulaic import Formula

    if not isinstance(formula, str) or "~" not in formula:
        raise InputError(f"a formula needs a target on the left of ~, such as 'y ~ x1 + x2'; "
                         f"got {formula!r}")
    try:
        parsed = Formula(formula)
    except Exception as exc:  # noqa: BLE001 - formulaic's parse errors, made one line
        raise InputError(f"cannot parse the formula {formula!r}: {_one_line(exc)}") from None
    if not hasattr(parsed, "lhs") or not hasattr(parsed, "rhs"):
        raise InputError(f"the formula {formula!r} must have one ~ (target ~ terms)")
    return parsed


def _lhs_text(parsed, formula) -> str:
    terms = [str(t) for t in parsed.lhs]
    if len(terms) != 1:
        raise InputError(f"the formula {formula!r} must have one target on the left of ~, "
                         f"got {len(terms)} terms")
    factors = list(parsed.lhs)[0].factors
    if len(factors) == 1 and str(factors[0].eval_method.value) == "lookup":
        return str(factors[0].expr)
    return terms[0]


def _lhs_variables(parsed) -> list[str]:
    return sorted(str(v) for v in parsed.lhs.required_variables)


def _expr_names(expr: str) -> set[str]:
    """The plain names an expression reads (``x1`` in ``center(x1)``; a backticked name as
    written between the backticks), function names and attribute roots left out."""
    import ast

    quoted: dict[str, str] = {}

    def hide(m):
        key = f"_gradfit_quoted_{len(quoted)}"
        quoted[key] = m.group(1)
        return key

    text = re.sub(r"`([^`]+)`", hide, expr)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return set()
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    roots = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return {quoted.get(n.id, n.id) for n in ast.walk(tree)
            if isinstance(n, ast.Name) and id(n) not in called and id(n) not in roots}


def _rhs_variables(parsed, frame, source) -> list[str]:
    """The data columns the right-hand side reads, in the order of the frame's columns
    (formulaic's ``required_variables``, and the arguments of its stateful transforms, which
    it leaves out)."""
    have = [str(c) for c in frame.columns]
    wanted = {str(v) for v in parsed.rhs.required_variables}
    for term in parsed.rhs:
        for factor in term.factors:
            if str(factor.eval_method.value) == "python":
                wanted |= {v for v in _expr_names(str(factor.expr)) if v in have}
    order = [c for c in have if c in wanted]
    return order + sorted(wanted - set(order))


def _factor_variable(factor) -> str | None:
    """The column a categorical factor encodes (``region`` for ``region`` and
    ``C(region, ...)``), or None for another expression."""
    method = str(factor.eval_method.value)
    if method == "lookup":
        return str(factor.expr)
    m = _C_CALL.match(str(factor.expr))
    return m.group(1).strip("`") if m else None


def _formula_categoricals(parsed, frame, inputs) -> list[str]:
    """Columns the formula treats as categorical: those wrapped in C(...), and those used as
    they are that do not hold numbers (formulaic's rule for text columns)."""
    cats = []
    for term in parsed.rhs:
        for factor in term.factors:
            var = _factor_variable(factor)
            if var is None or var not in inputs or var in cats:
                continue
            wrapped = str(factor.eval_method.value) != "lookup"
            if wrapped or not _is_numeric(frame[var]):
                cats.append(var)
    return cats


def _check_streamable(model_spec, known, formula) -> None:
    if model_spec.transform_state:
        names = ", ".join(sorted(model_spec.transform_state))
        raise InputError(f"the formula {formula!r} uses {names}, which learns from all rows at "
                         "once: streamed files are read a batch at a time; center or scale "
                         "the column beforehand, or fit in memory")
    for name, (kind, _) in model_spec.encoder_state.items():
        if str(getattr(kind, "value", kind)) != "categorical":
            continue
        m = _C_CALL.match(name)
        var = m.group(1).strip("`") if m else name
        if var not in known:
            raise InputError(f"the categorical term {name} of {formula!r} is not a column: its "
                             "levels cannot be found by the first pass over streamed files; "
                             "write C(column), or fit in memory")


def _encoder_json(encoder_state) -> dict:
    out = {}
    for name, (kind, state) in encoder_state.items():
        kind = str(getattr(kind, "value", kind))
        entry = {"kind": kind}
        if "categories" in state:
            entry["categories"] = [_scalar(v) for v in state["categories"]]
        out[str(name)] = entry
    return out


def _encoder_state(record: dict) -> dict:
    from formulaic.parser.types.factor import Factor

    out = {}
    for name, entry in record.items():
        state = {"categories": list(entry["categories"])} if "categories" in entry else {}
        out[name] = (Factor.Kind(entry["kind"]), state)
    return out


def _to_json_value(value, formula):
    if isinstance(value, dict):
        return {str(k): _to_json_value(v, formula) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, formula) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return {"ndarray": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InputError(f"the formula {formula!r} keeps a transform state that is not plain "
                     f"numbers ({type(value).__name__}); a model file cannot hold it: "
                     "transform the column beforehand")


def _from_json_value(value):
    if isinstance(value, dict):
        if set(value) == {"ndarray", "dtype"}:
            return np.asarray(value["ndarray"], dtype=np.dtype(value["dtype"]))
        return {k: _from_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json_value(v) for v in value]
    return value
