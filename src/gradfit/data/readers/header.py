"""The header of a data file: its column names (:func:`read_column_names`), and the rule that
every file of a fit has the same header (:func:`check_same_header`)."""

from __future__ import annotations

from pathlib import Path

from gradfit.data.readers.csv import raw_names
from gradfit.data.readers.messages import one_line
from gradfit.exceptions import InputError

__all__ = ["check_same_header", "read_column_names"]


def read_column_names(path: Path, kind: str) -> list[str]:
    """The column names of a file, as written (CSV header names stripped of spaces)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [name.strip() for name in raw_names(path)]
    except (pa.ArrowException, OSError) as exc:
        what = "Parquet" if kind == "parquet" else "CSV"
        raise InputError(f"cannot read the header of {path} as {what}: {one_line(exc)}") from None


def check_same_header(first, cols_a, path, cols_b) -> None:
    """Raise InputError naming the first difference unless the header ``cols_b`` of ``path``
    equals the header ``cols_a`` of the fit's first file ``first``."""
    if cols_b == cols_a:
        return
    for j, (a, b) in enumerate(zip(cols_a, cols_b)):
        if a != b:
            raise InputError(f"the header of {path} differs from that of {first}: column "
                             f"{j + 1} is {b!r} there but {a!r} in {first}; all files of a "
                             "fit need the same columns in the same order")
    longer, extra = (path, cols_b[len(cols_a)]) if len(cols_b) > len(cols_a) else (
        first, cols_a[len(cols_b)])
    raise InputError(f"the header of {path} differs from that of {first}: {longer} has an "
                     f"extra column {extra!r} ({len(cols_b)} columns against {len(cols_a)}); "
                     "all files of a fit need the same columns in the same order")
