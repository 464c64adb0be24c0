"""Stream CSV and Parquet files as float64 numpy blocks, with clear errors for bad input.

The readers read; :class:`gradfit.data.files.FileBackend` turns what they read into a
backend.  One module a job:

- :mod:`~gradfit.data.readers.paths` -- :func:`expand_paths` (a file, a folder or a glob, or
  a list of them, into a sorted list of data files) and :func:`file_kind` (CSV, or Parquet by
  extension or by its magic bytes).
- :mod:`~gradfit.data.readers.header` -- :func:`read_column_names` (a CSV header or a
  Parquet schema) and the rule that all files of a fit share one header.
- :mod:`~gradfit.data.readers.plan` -- :class:`ColumnPlan` (which columns are features,
  targets and the weight) and :class:`ReadOptions` (batch size, CSV block size,
  ``skip_bad_rows``, ``drop_missing``).
- :mod:`~gradfit.data.readers.state` -- :class:`FileState` (what the first pass learned about
  a file), its fingerprint, and :func:`check_unchanged`.
- :mod:`~gradfit.data.readers.csv`, :mod:`~gradfit.data.readers.parquet` -- the formats: the
  checked record batches of the first pass, and the fast readers of clean files.
- :mod:`~gradfit.data.readers.scan` -- :func:`scan_file` (the first pass over one file:
  validates every value, counts the rows kept, the bad rows skipped and the rows with missing
  values) and :func:`read_file` (a later pass: the same rows as float64 ``(X, Y, s)``, after
  checking that the file did not change since the scan).
- :mod:`~gradfit.data.readers.batches`, :mod:`~gradfit.data.readers.ahead` -- a batch's
  columns as ``(X, Y, s)``; reading ahead on threads.

CSV files are read with ``pyarrow.csv.open_csv`` (a streaming reader, single-threaded so that
pyarrow reports the line of a bad value), only the needed columns, converted to float64 by
pyarrow.  When ``skip_bad_rows=True`` and a file holds a value that is not a number, that file
is read in *text mode* from then on: its columns come as strings and are converted here, row
by row, so that bad rows can be skipped.  Parquet files are read one row group at a time.
Clean files (nothing skipped or dropped at the scan) are read on later passes by the fast
readers: CSV by pandas' C parser on byte ranges, several at once; Parquet a row group per call.

Every problem is an :class:`~gradfit.exceptions.InputError` naming the file, the line (CSV,
counting the header as line 1; exact for files without blank lines or quoted line breaks) or
the row (Parquet, from 1), the column and the value.

This package is also what the 0.1 path ``gradfit.io.streaming`` resolves to.
"""

from gradfit.data.readers.ahead import read_ahead
from gradfit.data.readers.csv import CSV_RANGE_BYTES
from gradfit.data.readers.header import read_column_names
from gradfit.data.readers.messages import SHOW
from gradfit.data.readers.parquet import PARQUET_GROUP_BYTES
from gradfit.data.readers.paths import (
    COMPRESSED_SUFFIXES,
    CSV_SUFFIXES,
    PARQUET_MAGIC,
    PARQUET_SUFFIXES,
    expand_paths,
    file_kind,
    read_magic,
)
from gradfit.data.readers.plan import ColumnPlan, ReadOptions
from gradfit.data.readers.scan import read_file, scan_file
from gradfit.data.readers.state import FileState, check_unchanged

__all__ = [
    "COMPRESSED_SUFFIXES",
    "CSV_RANGE_BYTES",
    "CSV_SUFFIXES",
    "PARQUET_GROUP_BYTES",
    "PARQUET_MAGIC",
    "PARQUET_SUFFIXES",
    "SHOW",
    "ColumnPlan",
    "FileState",
    "ReadOptions",
    "check_unchanged",
    "expand_paths",
    "file_kind",
    "read_ahead",
    "read_column_names",
    "read_file",
    "read_magic",
    "scan_file",
]
