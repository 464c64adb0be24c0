"""Which files a fit reads, and of which kind.

- :func:`expand_paths` -- a file, a folder or a glob (or a list of them) into a sorted list
  of data files (CSV by default, Parquet by extension or by its magic bytes).
- :func:`file_kind` -- "parquet" by extension or magic bytes, else "csv".
- :func:`delimiter` -- the CSV field separator a file name implies (tab for .tsv/.tab).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from gradfit.exceptions import InputError

__all__ = ["COMPRESSED_SUFFIXES", "CSV_SUFFIXES", "PARQUET_MAGIC", "PARQUET_SUFFIXES",
           "delimiter", "expand_paths", "file_kind", "is_compressed", "is_data_file",
           "read_magic"]

CSV_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".txt"})
COMPRESSED_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".zst", ".lz4"})
PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = frozenset({".parquet", ".pq", ".parq"})
_GLOB_CHARS = re.compile(r"[*?\[]")


def is_data_file(path: Path) -> bool:
    """Whether a folder's entry is read as data: a CSV or Parquet name, optionally compressed."""
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes:
        return False
    last = suffixes[-1]
    if last in COMPRESSED_SUFFIXES and len(suffixes) > 1:
        last = suffixes[-2]
    return last in PARQUET_SUFFIXES or last in CSV_SUFFIXES


def expand_paths(paths) -> list[Path]:
    """Data files named by ``paths``, in a fixed (sorted) order.

    Parameters
    ----------
    paths : str, path-like, or a sequence of them
        Each entry is a file, a folder (its CSV and Parquet files, not recursive: names ending
        in .csv, .tsv, .tab, .txt, .parquet, .pq or .parq, optionally compressed, e.g.
        .csv.gz) or a glob pattern (``data/*.parquet``, ``data/**/*.csv``).

    Returns
    -------
    list of Path
        Without duplicates; entries keep their order, each folder or glob sorted by name.

    Raises
    ------
    InputError
        When an entry names nothing, or nothing at all is found.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for entry in paths:
        text = os.fspath(entry)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and is_data_file(p))
            if not found:
                raise InputError(f"folder {text} holds no CSV or Parquet files")
        elif path.exists():
            found = [path]
        elif _GLOB_CHARS.search(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise InputError(f"no files match {text!r}")
        else:
            raise InputError(f"{text}: no such file")
        out.extend(p for p in found if p not in out)
    if not out:
        raise InputError("no data files given")
    return out


def file_kind(path: Path) -> str:
    """'parquet' by extension or magic bytes, else 'csv'."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    return "parquet" if read_magic(path, str(path)) == PARQUET_MAGIC else "csv"


def delimiter(path: Path) -> str:
    """The CSV field separator a file name implies: a tab for .tsv and .tab (also compressed,
    e.g. .tsv.gz), else a comma."""
    suffixes = [s.lower() for s in path.suffixes]
    return "\t" if ".tsv" in suffixes or ".tab" in suffixes else ","


def is_compressed(path: Path) -> bool:
    """A compressed file (.gz, .bz2, .xz, .zst, .lz4), read through pyarrow's decompression."""
    return Path(path).suffix.lower() in COMPRESSED_SUFFIXES


def read_magic(path: Path, desc: str) -> bytes:
    """The first 4 bytes of a data file (Parquet starts with PAR1); an unreadable or empty
    file is an InputError naming it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InputError(f"cannot read {desc}: {exc.strerror or exc}") from None
    if not head:
        raise InputError(f"{desc} is empty (expected a CSV header line or a Parquet file)")
    return head
