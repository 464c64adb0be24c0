"""The cache of parsed rows: CSV and Parquet rows parsed once, then read back as raw float64.

With ``FileBackend(cache=folder)`` the first pass (the validating scan at construction) also
writes the parsed float64 rows to a cache in that folder (:class:`CacheWriter`: raw files
``X.f64``, ``Y.f64``, ``s.f64`` appended to as the rows are parsed, then ``manifest.json``),
and every later pass reads its blocks from there (:class:`Cache`) instead of parsing the
files: the same rows, in the same blocks and order, so the numbers are bit for bit those of
parsing.  A cache is named by its identity (:func:`cache_identity`: the files, absolute, the
columns and the reading options); a later run reuses it (and skips the scan) while the files
keep their sizes, modification times and head/tail hashes, and rebuilds it when they changed
or when it is incomplete (a process killed while writing it) or damaged.  A cache that cannot
be written (no room, no permission) is given up with a warning; the fit goes on from the
files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gradfit.data.readers import FileState, file_kind
from gradfit.data.readers.state import file_digest
from gradfit.exceptions import InputError, warn_user

__all__ = ["CACHE_READ_ROWS", "CACHE_VERSION", "Cache", "CacheWriter", "auto_cache_folder",
           "cache_identity", "cache_manifest", "cache_name", "cache_root", "file_states",
           "give_up", "open_writer", "open_written", "written"]

CACHE_VERSION = 1
"""Layout version of the parsed-data cache (a cache of another version is rebuilt)."""

CACHE_READ_ROWS = 65536
"""Rows read at a time from the cache (a pass cuts them into its blocks)."""

_ARRAYS = ("X.f64", "Y.f64", "s.f64")
_MANIFEST = "manifest.json"
_OFF = frozenset({"", "none", "off", "no", "false"})


def auto_cache_folder() -> Path:
    """Where ``cache="auto"`` keeps caches: ``$GRADFIT_CACHE_DIR``, else
    ``<system temp dir>/gradfit-cache``."""
    env = os.environ.get("GRADFIT_CACHE_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "gradfit-cache"


def cache_root(cache, paths) -> Path | None:
    """The folder that holds caches for ``cache`` (None: no cache).  ``"auto"`` caches CSV
    data only (Parquet decodes about as fast as a cache is read), and only when the disk
    has room for about the size of the CSV files."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, str) and cache.strip().lower() in _OFF:
        return None
    if isinstance(cache, str) and cache.strip().lower() == "auto":
        csv = [p for p in paths if file_kind(Path(p)) == "csv"]
        if not csv:
            return None
        root = auto_cache_folder()
        need = sum(os.stat(p).st_size for p in csv) + (256 << 20)
        try:
            free = shutil.disk_usage(_existing(root)).free
        except OSError:
            return None
        if free < need:
            warn_user(f"cache='auto': not caching the parsed data in {root} (it has "
                      f"{free >> 20} MiB free, the cache needs up to about {need >> 20} "
                      "MiB); every pass parses the files", RuntimeWarning)
            return None
        return root
    return Path(os.fspath(cache)).expanduser()


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def cache_name(identity: dict) -> str:
    blob = json.dumps(identity, sort_keys=True).encode()
    return "gradfit-" + hashlib.blake2b(blob, digest_size=12).hexdigest()


def _file_state(rec: dict, path) -> FileState:
    rec = dict(rec)
    rec["path"] = Path(path)
    rec["units"] = [tuple(u) for u in rec["units"]]
    return FileState(**rec)


def give_up(folder, exc) -> None:
    warn_user(f"cannot write the cache of the parsed data in {folder} "
              f"({getattr(exc, 'strerror', None) or exc}); going on without it (every "
              "pass parses the files)", RuntimeWarning)


def cache_identity(paths, columns, plan, options) -> dict:
    """What names a cache: the files (absolute), the columns and the reading options that
    decide which rows are kept (not the block sizes: they do not change the rows)."""
    return {"version": CACHE_VERSION,
            "files": [str(Path(p).resolve()) for p in paths],
            "columns": list(columns), "features": list(plan.features),
            "targets": list(plan.targets), "weight": plan.weight,
            "skip_bad_rows": options.skip_bad_rows, "drop_missing": options.drop_missing,
            "sep": options.sep}


def cache_manifest(identity: dict, files, paths, *, n: int, d: int, k: int, weighted: bool,
                   S: float, target_sum) -> dict:
    """The manifest of a cache: its identity, the shape of the rows, the scan's results
    (each file's :class:`FileState`, the sum of the weights and the weighted target sums,
    exactly, as hex floats) and when it was written."""
    records = []
    for fs, path in zip(files, paths):
        rec = asdict(fs)
        rec["path"] = str(Path(path).resolve())
        rec["units"] = [list(u) for u in fs.units]
        records.append(rec)
    return {"format": "gradfit parsed-data cache", "version": CACHE_VERSION,
            "identity": identity, "n": n, "d": d, "k": k, "weighted": weighted,
            "S": float(S).hex(), "target_sum": [float(v).hex() for v in target_sum],
            "files": records, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def file_states(manifest: dict, paths) -> tuple[list[FileState], float, np.ndarray]:
    """The scan's results kept in a manifest: the files' states, the sum of the weights and
    the weighted target sums."""
    files = [_file_state(rec, path) for rec, path in zip(manifest["files"], paths)]
    S = float.fromhex(manifest["S"])
    target_sum = np.array([float.fromhex(v) for v in manifest["target_sum"]])
    return files, S, target_sum


def open_writer(folder: Path, layout: tuple[int, int, bool]) -> CacheWriter | None:
    """A :class:`CacheWriter` for the cache ``folder``, or None (with a warning) when the
    folder cannot be written."""
    try:
        return CacheWriter(folder, layout)
    except OSError as exc:
        give_up(folder, exc)
        return None


def open_written(folder: Path, layout: tuple[int, int, bool], n: int) -> Cache | None:
    """The :class:`Cache` just committed to ``folder``, or None (with a warning) when it
    cannot be opened."""
    try:
        return Cache(folder, *layout, n)
    except OSError as exc:
        give_up(folder, exc)
        return None


def written(parts, writer) -> Iterator[tuple]:
    """The parts, each written to the cache by ``writer`` before it is handed on (``parts``
    themselves when ``writer`` is None)."""
    if writer is None:
        return parts
    return _through(parts, writer)


def _through(parts, writer) -> Iterator[tuple]:
    for X, Y, s in parts:
        writer(X, Y, s)
        yield X, Y, s


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class CacheWriter:
    """Writes the parsed rows to a fresh temporary folder beside the cache's, appending raw
    float64 rows to ``X.f64`` (n, d), ``Y.f64`` (n, k) and ``s.f64`` (n,) (C order) as they
    come (memory: none beyond the file buffers); :meth:`commit` adds ``manifest.json`` last
    and renames the folder into place, so a cache folder without a manifest is never seen
    and a killed writer leaves only a temporary folder (removed by the next writer once its
    process is gone).  Any OSError (a full disk, say) gives the cache up with a warning."""

    def __init__(self, final: Path, layout: tuple[int, int, bool]):
        self.final = Path(final)
        self.d, self.k, self.weighted = layout
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._clean_leftovers()
        if self.final.exists():  # stale, partial or damaged (else it would have been used)
            shutil.rmtree(self.final, ignore_errors=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.final.name}.tmp-{os.getpid()}-",
                                         dir=self.final.parent))
        names = _ARRAYS if self.weighted else _ARRAYS[:2]
        self.fh = [open(self.tmp / name, "wb") for name in names]  # noqa: SIM115
        self.rows = 0
        self.failed = False
        self._mark = None

    def _clean_leftovers(self) -> None:
        for tmp in self.final.parent.glob(f"{self.final.name}.tmp-*"):
            try:
                pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
            except (IndexError, ValueError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(tmp, ignore_errors=True)

    def __call__(self, X, Y, s) -> None:
        if self.failed:
            return
        try:
            self.fh[0].write(memoryview(np.ascontiguousarray(X, dtype=np.float64)).cast("B"))
            self.fh[1].write(memoryview(np.ascontiguousarray(Y, dtype=np.float64)).cast("B"))
            if self.weighted:
                self.fh[2].write(memoryview(np.ascontiguousarray(s, dtype=np.float64))
                                 .cast("B"))
            self.rows += len(X)
        except OSError as exc:
            self._fail(exc)

    def mark(self) -> None:
        if not self.failed:
            self._mark = ([fh.tell() for fh in self.fh], self.rows)

    def rollback(self) -> None:
        if self.failed or self._mark is None:
            return
        positions, self.rows = self._mark
        try:
            for fh, pos in zip(self.fh, positions):
                fh.flush()
                fh.truncate(pos)
                fh.seek(pos)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc) -> None:
        give_up(self.final, exc)
        self.abort()

    def abort(self) -> None:
        """Drop what was written (an error, a pass left unfinished, a failed write)."""
        self.failed = True
        for fh in self.fh:
            try:
                fh.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self, manifest: dict) -> Path | None:
        """Close the arrays, write the manifest (with each array's size and head/tail hash)
        and move the folder into place; returns the cache folder (None: given up)."""
        if self.failed:
            return None
        try:
            for fh in self.fh:
                fh.close()
            arrays = {}
            for fh in self.fh:
                path = Path(fh.name)
                size = path.stat().st_size
                arrays[path.name] = {"bytes": size, "digest": file_digest(path, size)}
            manifest = dict(manifest, arrays=arrays)
            with open(self.tmp / _MANIFEST, "w") as out:
                json.dump(manifest, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            for _attempt in range(2):
                try:
                    os.rename(self.tmp, self.final)
                    break
                except OSError:  # another process put a cache there meanwhile: replace it
                    shutil.rmtree(self.final, ignore_errors=True)
            else:
                raise OSError(f"cannot move {self.tmp} to {self.final}")
        except OSError as exc:
            self._fail(exc)
            return None
        self.failed = True  # done: nothing more to write
        return self.final


class Cache:
    """Reads rows from a sealed cache folder (``X.f64``, ``Y.f64``, ``s.f64`` and
    ``manifest.json``): ``read(start, stop)`` copies rows into fresh C-contiguous arrays
    (plain reads, not a memory map, so that the process's memory stays one block however
    big the cache, and a cache file cut short raises instead of crashing)."""

    def __init__(self, folder: Path, d: int, k: int, weighted: bool, n: int):
        self.folder = Path(folder)
        self.shape = (n, d, k, weighted)
        names = _ARRAYS if weighted else _ARRAYS[:2]
        self.fh = [open(self.folder / name, "rb", buffering=0) for name in names]  # noqa: SIM115
        for fh, width in zip(self.fh, (d, k, 1)):
            size = os.fstat(fh.fileno()).st_size
            if size != n * width * 8:
                self.close()
                raise OSError(f"{fh.name} holds {size} bytes, not {n * width * 8}")

    @classmethod
    def open(cls, folder: Path, identity: dict):
        """(cache, manifest) when ``folder`` holds a complete cache of these files as they
        are now, else None (no cache, another identity or version, files changed since,
        array files missing, cut short or altered)."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / _MANIFEST).read_text())
            if (manifest.get("version") != CACHE_VERSION
                    or manifest.get("identity") != identity):
                return None
            for rec in manifest["files"]:
                st = os.stat(rec["path"])
                if (st.st_size, st.st_mtime_ns) != (rec["size"], rec["mtime_ns"]):
                    return None
                if file_digest(Path(rec["path"]), st.st_size) != rec["digest"]:
                    return None
            for name, info in manifest["arrays"].items():
                path = folder / name
                size = path.stat().st_size
                if size != info["bytes"] or file_digest(path, size) != info["digest"]:
                    return None
            cache = cls(folder, int(manifest["d"]), int(manifest["k"]),
                        bool(manifest["weighted"]), int(manifest["n"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cache, manifest

    def close(self) -> None:
        for fh in self.fh:
            fh.close()

    def _fill(self, fh, out: np.ndarray, offset: int) -> None:
        view = memoryview(out).cast("B")
        fh.seek(offset)
        got = 0
        while got < len(view):
            r = fh.readinto(view[got:])
            if not r:
                raise InputError(f"the cache file {fh.name} is shorter than when it was "
                                 "written (it was changed during the fit); delete the folder "
                                 f"{self.folder} and fit again")
            got += r

    def read(self, start: int, stop: int) -> tuple:
        """Rows ``start:stop`` as fresh arrays ``(X, Y, s)``."""
        n, d, k, weighted = self.shape
        m = stop - start
        X = np.empty((m, d))
        Y = np.empty((m, k))
        self._fill(self.fh[0], X, start * d * 8)
        self._fill(self.fh[1], Y, start * k * 8)
        s = None
        if weighted:
            s = np.empty(m)
            self._fill(self.fh[2], s, start * 8)
        return X, Y, s

    def blocks(self, start: int, stop: int, rows: int) -> Iterator[tuple]:
        """Rows ``start:stop`` in consecutive blocks of ``rows`` (the last smaller)."""
        for lo in range(start, stop, rows):
            yield self.read(lo, min(lo + rows, stop))
