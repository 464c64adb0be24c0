"""What the first pass learned about a file (:class:`FileState`), its fingerprint
(:func:`file_digest`), and the check that it did not change since (:func:`check_unchanged`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from gradfit.exceptions import InputError

__all__ = ["FileState", "check_unchanged", "file_digest", "stat_file"]


@dataclass
class FileState:
    """What the first pass learned about one file; later passes check the file against it.

    Attributes
    ----------
    path : Path
    kind : {"csv", "parquet"}
    size, mtime_ns : int
        ``os.stat`` at the scan; a later pass refuses a file whose size or time changed.
    n_records : int
        Data rows read (CSV: rows with the right number of fields).
    n_rows : int
        Rows kept (what the fit uses).
    n_bad : int
        Rows skipped as malformed (``skip_bad_rows``).
    n_missing : int
        Rows with a missing value (dropped with ``drop_missing``, else an error).
    text_mode : bool
        CSV read as text and converted here (a file with values that are not numbers).
    units : list of (int or None, int)
        Parquet: (row group, rows kept in it); CSV: [(None, rows kept)].
    digest : str
        Hash of the file's size and its first and last 64 KiB (a fingerprint that survives
        a copy, unlike the modification time).
    raw_names : list of str
        CSV: the header cells as written (what pyarrow's reader is asked for).
    sep : str
        CSV: the field separator (given, or found in the header line).
    """

    path: Path
    kind: str
    size: int = 0
    mtime_ns: int = 0
    n_records: int = 0
    n_rows: int = 0
    n_bad: int = 0
    n_missing: int = 0
    text_mode: bool = False
    units: list = field(default_factory=list)
    digest: str = ""
    bad_examples: list = field(default_factory=list)
    missing_examples: list = field(default_factory=list)
    raw_names: list = field(default_factory=list)
    sep: str = ","


def file_digest(path: Path, size: int) -> str:
    """A fingerprint of a file: a hash of its size and of its first and last 64 KiB (it
    survives a copy, unlike the modification time)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 16))
        if size > 1 << 17:
            fh.seek(size - (1 << 16))
            h.update(fh.read())
    return h.hexdigest()


def stat_file(path: Path) -> os.stat_result:
    """``os.stat(path)``; a file gone is an InputError saying it vanished during the fit."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path} vanished during the fit: the data of a fit must stay in place "
                         "until it ends (the last checkpoint, if any, is kept; restore the file "
                         "and resume)") from None


def check_unchanged(fs: FileState) -> None:
    """Raise InputError when the file vanished or changed since its scan."""
    st = stat_file(fs.path)
    if st.st_size != fs.size or st.st_mtime_ns != fs.mtime_ns:
        change = (f"its size went from {fs.size} to {st.st_size} bytes" if st.st_size != fs.size
                  else "it was modified")
        raise InputError(f"{fs.path} changed during the fit ({change}): the data of a fit must "
                         "not change until it ends (the last checkpoint, if any, is kept; "
                         "restore the file and resume)")
