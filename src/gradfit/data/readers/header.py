"""The header of a data file: the CSV field separator (:func:`separator`: given, implied by the
name, or found in the header line), the column names (:func:`read_column_names`, normalised by
:func:`header_names`: stripped, an unnamed column called ``Unnamed: j`` as pandas calls it,
duplicates refused), the leading values of the first column (:func:`leading_values`, for
telling an index column), and the rule that every file of a fit has the same header
(:func:`check_same_header`).  Used alike by the streamed files and by tables read whole."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

import numpy as np

from gradfit.data.readers.messages import one_line
from gradfit.data.readers.paths import delimiter
from gradfit.exceptions import InputError

__all__ = ["INDEX_ROWS", "SEPARATORS", "check_same_header", "header_names", "leading_values",
           "read_column_names", "separator", "sniff_separator"]

SEPARATORS = (",", ";", "\t")
"""The separators found in a header line when none is given (the most frequent one)."""

INDEX_ROWS = 10_000
"""Rows of the first column looked at to tell an index column (0, 1, 2, ...)."""

_HEAD_BYTES = 1 << 16
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def sniff_separator(head: bytes) -> str:
    """The separator of a CSV text from its first line: the most frequent of
    :data:`SEPARATORS` outside quotes (a comma when none occurs, or on a tie)."""
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(SEPARATORS, key=lambda s: counts[s])  # max keeps the first of equals: ","
    return best if counts[best] > counts[","] else ","


def separator(source, sep: str | None = None) -> str:
    """The CSV field separator of ``source`` (a path, or the bytes of the data): ``sep`` when
    given; a tab for a .tsv or .tab name; else the most frequent of , ; and tab in the
    header line (:func:`sniff_separator`)."""
    if sep is not None:
        return sep
    if isinstance(source, (bytes, bytearray)):
        return sniff_separator(bytes(source[:_HEAD_BYTES]))
    path = Path(source)
    if delimiter(path) == "\t":
        return "\t"
    opener = _OPENERS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except (OSError, EOFError, lzma.LZMAError):
        return ","
    return sniff_separator(head)


def header_names(raw, where) -> list[str]:
    """The column names of a header as gradfit uses them: stripped of spaces, an empty one
    called ``Unnamed: j`` (j from 0, as pandas calls it).

    Raises
    ------
    InputError
        When two columns have the same name (naming both positions).
    """
    names = [str(n).strip() or f"Unnamed: {j}" for j, n in enumerate(raw)]
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in seen:
            raise InputError(f"{where} has two columns named {name!r} (columns {seen[name] + 1} "
                             f"and {j + 1}): rename one of them in the header")
        seen[name] = j
    return names


def _handle(source):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source


def raw_csv_names(source, sep: str) -> list[str]:
    """The header cells of CSV data (a path or bytes), as written."""
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(  # reads (and skims) the first block only
        _handle(source), read_options=pcsv.ReadOptions(use_threads=False),
        parse_options=pcsv.ParseOptions(delimiter=sep, invalid_row_handler=lambda row: "skip"),
        convert_options=pcsv.ConvertOptions(include_columns=[], auto_dict_encode=False))
    names = list(reader.schema.names)
    reader.close()
    return names


def read_column_names(source, kind: str, sep: str | None = None, where=None) -> list[str]:
    """The column names of a file or of data in memory (bytes), as :func:`header_names` makes
    them; ``sep``: the CSV separator (None: :func:`separator`)."""
    import pyarrow as pa

    where = str(source) if where is None else where
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            raw = list(pq.read_schema(_handle(source)).names)
        else:
            raw = raw_csv_names(source, separator(source, sep))
    except (pa.ArrowException, OSError) as exc:
        what = "Parquet" if kind == "parquet" else "CSV"
        raise InputError(f"cannot read the header of {where} as {what}: {one_line(exc)}") \
            from None
    return header_names(raw, where)


def leading_values(source, kind: str, column: int, sep: str | None = None,
                   rows: int = INDEX_ROWS):
    """The first ``rows`` values of the column at position ``column`` as float64, or None
    when they are not all numbers (or cannot be read)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(_handle(source))
            name = pf.schema_arrow.names[column]
            batch = next(pf.iter_batches(batch_size=rows, columns=[name]), None)
            col = None if batch is None else batch.column(0)
        else:
            import pyarrow.csv as pcsv

            sep = separator(source, sep)
            raw = raw_csv_names(source, sep)[column]
            reader = pcsv.open_csv(
                _handle(source), read_options=pcsv.ReadOptions(use_threads=False),
                parse_options=pcsv.ParseOptions(delimiter=sep),
                convert_options=pcsv.ConvertOptions(include_columns=[raw]))
            batch = reader.read_next_batch()
            reader.close()
            col = batch.column(0).slice(0, rows)
        if col is None or not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            return None
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowException, OSError, StopIteration, IndexError):
        return None


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
