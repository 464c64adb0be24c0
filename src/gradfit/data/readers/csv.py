"""CSV files: pyarrow's streaming reader (typed, or as text to skip bad rows) with its errors
turned into messages naming the line, and the fast parser of clean files (pandas' C reader
on byte ranges, several at once).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gradfit.data.readers.ahead import in_order
from gradfit.data.readers.batches import feature_columns, matrix_of_rows
from gradfit.data.readers.header import raw_csv_names
from gradfit.data.readers.messages import one_line, shown
from gradfit.data.readers.plan import ColumnPlan, ReadOptions
from gradfit.data.readers.state import FileState
from gradfit.exceptions import InputError

__all__ = ["CSV_RANGE_BYTES", "BadValue", "csv_ranges", "fast_csv", "open_reader",
           "record_batches"]

_CONVERSION = re.compile(r"In CSV column #(\d+): Row #(\d+): CSV conversion error to \w+: "
                         r"invalid value '(.*)'", re.S)


def open_reader(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
                text_mode: bool, on_invalid):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not fs.raw_names:
        fs.raw_names = raw_csv_names(fs.path, fs.sep)
    wanted = [fs.raw_names[names.index(c)] for c in plan.columns]
    typ = pa.string() if text_mode else pa.float64()
    return pcsv.open_csv(
        fs.path,
        read_options=pcsv.ReadOptions(use_threads=False, block_size=opts.block_size),
        parse_options=pcsv.ParseOptions(delimiter=fs.sep,
                                        invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(wanted, typ),
                                            include_columns=wanted,
                                            strings_can_be_null=True),
    ), wanted


def _csv_error(exc, invalid: list, names: list[str], fs: FileState) -> Exception:
    """The InputError (or BadValue) for a failed CSV read: a malformed row, a value that is
    not a number, or anything else pyarrow refuses."""
    if invalid:
        row = invalid[0]
        missing = names[row.actual_columns] if row.actual_columns < len(names) else None
        what = (f"no value for column {missing!r}" if missing
                else f"{row.actual_columns - row.expected_columns} field(s) too many")
        return InputError(
            f"line {row.number} of {fs.path} has {row.actual_columns} fields but the header "
            f"has {row.expected_columns} ({what}): {shown(row.text)}; fix the row, or pass "
            "skip_bad_rows=True to skip malformed rows")
    hit = _CONVERSION.search(str(exc))
    if hit is None:
        return InputError(f"cannot parse {fs.path} as CSV: {one_line(exc)}")
    return BadValue(names[int(hit.group(1))], int(hit.group(2)), hit.group(3))


class BadValue(Exception):
    """A typed CSV read met a value that is not a number (column, line, value)."""

    def __init__(self, column, line, value):
        super().__init__(column, line, value)
        self.column, self.line, self.value = column, line, value


CSV_RANGE_BYTES = 4 << 20
"""The fast CSV reader of later passes parses a file in ranges of about this many bytes
(cut at line ends), several at once (:func:`fast_csv`).  4, 8 and 16 MB gave the same
speed on 2 cores; the smaller ranges hold less memory (peak RSS of a fit of a 1 GB CSV:
395 MiB against 548 MiB with 16 MB ranges)."""

_EXACT_FLOATS: dict | None = None


def _exact_floats() -> dict:
    """pandas' option for correctly rounded floats (the default from pandas 3 on)."""
    import pandas as pd

    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def fast_csv(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
             state: list) -> Iterator[tuple]:
    """Rows of a clean CSV file parsed by pandas' C reader (correctly rounded, as pyarrow's).
    It stops (leaving ``state[0]``, the rows handed on, and ``state[1] = True``) at anything
    unexpected -- a parse error, a column not read as numbers, a value that is not finite --
    for the caller to go on with pyarrow's reader from that row (which gives the exact
    message, or the same numbers).

    The file is cut into ranges of about :data:`CSV_RANGE_BYTES` at line ends, parsed by up
    to 4 threads at once (pandas' parser releases the GIL: 1.5x the rows per second of one
    reader on 2 cores) one range ahead of the threads, and handed on in file order: the
    same rows and numbers whatever the threads.  The column types are inferred, not
    forced: pandas parses about 25% faster so than with ``dtype=float64``, and gives the
    same numbers (integer columns come as int64 or uint64 and are rounded to float64
    exactly as a float parser rounds their text)."""
    import pandas as pd

    global _EXACT_FLOATS
    if _EXACT_FLOATS is None:
        _EXACT_FLOATS = _exact_floats()
    idx = [names.index(c) for c in plan.columns]
    used = sorted(set(idx))
    where = [used.index(i) for i in idx]
    d, k = len(plan.features), len(plan.targets)
    sep = fs.sep

    def parse(bounds):
        start, stop = bounds
        with io.BufferedReader(_ByteRange(fs.path, start, stop), 1 << 20) as fh:
            return pd.read_csv(fh, sep=sep, header=0 if start == 0 else None, usecols=used,
                               engine="c", na_filter=False, encoding="utf-8",
                               **_EXACT_FLOATS)

    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        for frame in in_order(parse, csv_ranges(fs), workers, ahead=workers + 1):
            if frame.shape[1] != len(used) or not all(
                    t.kind in "fiu" and t.itemsize == 8 for t in frame.dtypes):
                break
            T = np.ascontiguousarray(frame.to_numpy(dtype=np.float64, copy=False).T)
            del frame
            with np.errstate(invalid="ignore", over="ignore"):
                total = T.sum()
            w = T[where[-1]] if plan.weight else None
            if not np.isfinite(total) or (w is not None and not (w >= 0).all()):
                break
            if T.shape[1]:
                yield feature_columns(T, where[:d]), matrix_of_rows(T, where[d:d + k]), w
            state[0] += T.shape[1]
        else:
            return
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError):
        pass
    state[1] = True


class _ByteRange(io.RawIOBase):
    """Bytes ``start:stop`` of a file, as a readable binary stream."""

    def __init__(self, path: Path, start: int, stop: int):
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._fh.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:want])
        self._left -= got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


def csv_ranges(fs: FileState) -> list[tuple[int, int]]:
    """Byte ranges ``(start, stop)`` covering the file, each of about CSV_RANGE_BYTES and
    ending at a line end (the first holds the header).  One range when a header name spans
    lines (a quoted line break), where a cut could land inside the header."""
    if any("\n" in name or "\r" in name for name in fs.raw_names):
        return [(0, fs.size)]
    starts = [0]
    with open(fs.path, "rb") as fh:
        while starts[-1] + CSV_RANGE_BYTES < fs.size:
            fh.seek(starts[-1] + CSV_RANGE_BYTES)
            start = fh.tell()
            while True:
                chunk = fh.read(1 << 16)
                cut = chunk.find(b"\n")
                if cut >= 0 or not chunk:
                    break
                start += len(chunk)
            if cut < 0 or start + cut + 1 >= fs.size:
                break
            starts.append(start + cut + 1)
    return list(zip(starts, starts[1:] + [fs.size]))


def record_batches(fs: FileState, plan: ColumnPlan, opts: ReadOptions, names: list[str],
                   locate) -> Iterator:
    """(record batch, index of its first record, 0) of the file, read by pyarrow's streaming
    reader (as text in ``fs.text_mode``).  A malformed row is skipped and told to
    ``locate.skipped(line)`` with ``opts.skip_bad_rows``, else an InputError naming its
    line; a value that is not a number raises :class:`BadValue`."""
    import pyarrow as pa

    invalid = []

    def on_invalid(row):
        if opts.skip_bad_rows:
            locate.skipped(row.number)
            return "skip"
        invalid.append(row)
        return "error"

    first = 0
    try:
        reader, wanted = open_reader(fs, plan, opts, names, fs.text_mode, on_invalid)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            yield batch.select(wanted) if batch.schema.names != wanted else batch, first, 0
            first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, invalid, names, fs) from None
