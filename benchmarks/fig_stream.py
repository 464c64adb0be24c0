"""(f) Streaming from files: a streamed epoch against plain readers, the cached epoch, and the
peak memory of streamed fits.

1. One streamed epoch: a full-batch gradient pass, ``FileBackend.map_reduce`` with the
   gradient kernel (numba when available), over a CSV file and over a Parquet file of the
   same rows, against the fastest plain reader of the same file in the same run (CSV:
   ``pyarrow.csv.read_csv``, ``pyarrow.csv.open_csv`` batch by batch, each with pyarrow's
   threads and without, ``pandas.read_csv(chunksize=65536)``; Parquet: ``pq.read_table`` and
   ``ParquetFile.iter_batches``, with and without threads).  Throughput in MB/s of the file;
   the target is >= 70% of the fastest reader.  The readers only read (arrow tables or
   pandas frames, nothing converted to a float64 matrix, no maths).  Two Parquet files of
   the same rows: row groups of 131072 rows, uncompressed, no dictionaries (the fastest to
   read), and pyarrow's defaults (snappy, 1M-row groups).  Informative rows put the Parquet
   epoch beside ``pq.read_table(memory_map=True)`` (faster still from the page cache; the
   epoch does not map files, see ``gradfit.data.readers.parquet.fast_parquet``) and beside a
   reader that builds a float64 matrix per batch.  Also the epoch from
   the cache of the parsed rows (``FileBackend(cache=...)``) against the CSV epoch, and the
   CSV epoch in rows per second beside the anchor "Vowpal Wabbit ~250k examples/s from
   text" (not measured here; target: 3x).  Median of interleaved runs after a warm-up (the
   files sit in the page cache).
2. Peak memory: the RSS high-water mark (``VmHWM``, reset before each fit through
   ``/proc/self/clear_refs``) of a child process fitting a file with ``fit_files``: 3 epochs
   of nesterov (fixed rate 0.1, so that the power iteration's passes do not multiply the
   time), the same from the cache (CSV), and ``exact``; on CSV and Parquet files of two sizes
   (full: CSV 20 MB and 1 GB, Parquet 200 MB and 10 GB; quick: CSV 20 MB, Parquet 17 MB and
   200 MB).  The bound is 1 GiB whatever the file size; the growth rows divide the peak on
   the biggest file of a format by the peak on the smallest.  One child runs every fit (its
   imports and numba's compilation are then paid once); a fit's peak includes what earlier
   fits left in the allocators, which can only raise it.

Data: 20 standard-normal features and y = X w + noise, written with 6 decimals (about 9
characters a value; a second CSV of the same rows with float64's 17 significant digits
gives the rows/s at full precision).  Generated once, with a fixed seed, in
``benchmarks/.data/`` (or ``$GRADFIT_BENCH_DATA``), written to a temporary name and renamed
when complete; later runs reuse the files.  The caches of parsed rows are removed after use.
Full mode keeps about 12.9 GB there (Parquet 10.1 GB, CSV 1 GB, the 2e6-row epoch files,
the quick files), generated in about 1.5 minutes on the first run; delete the folder to
free it.  Quick mode: about 0.25 GB.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from common import Row, Skip, interleaved

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("GRADFIT_BENCH_DATA") or HERE / ".data")

D = 20
GROUP_ROWS = 131_072  # Parquet row group: 131072 x 21 float64 = 22 MB decoded
TARGET_READER = 0.7  # streamed epoch >= 70% of the fastest reader's throughput
TARGET_CACHE = 0.1  # the cached epoch takes <= 1/10 of the CSV epoch
TARGET_MEMORY = 1 << 30  # peak RSS of a streamed fit, whatever the file size
TARGET_GROWTH = 1.25  # peak on the big file <= 1.25 x the peak on the small one
VW_ROWS_PER_S = 250_000  # anchor: Vowpal Wabbit from text on this kind of machine
TARGET_VW = 3.0
NESTEROV = dict(solver="nesterov", max_iter=3, tol=0, learning_rate=0.1)

# memory: (format, rows); the growth rows compare the largest and the smallest of a format
FULL = dict(epoch_rows=2_000_000, full_digits_rows=1_000_000, repeats=5,
            memory=[("csv", 100_000), ("csv", 5_000_000),  # 20 MB, 1 GB
                    ("parquet", 1_200_000), ("parquet", 60_000_000)])  # 200 MB, 10 GB
QUICK = dict(epoch_rows=100_000, full_digits_rows=0, repeats=3,
             memory=[("csv", 100_000), ("parquet", 100_000), ("parquet", 1_200_000)])


# --------------------------------------------------------------------------- data


def _chunks(n_rows: int, seed: int, decimals: int | None, chunk: int = 500_000):
    """(X, y) chunks of the benchmark's rows (the same rows for every format)."""
    rng = np.random.default_rng(seed)
    w = np.linspace(-1.0, 1.0, D)
    for start in range(0, n_rows, chunk):
        m = min(chunk, n_rows - start)
        X = rng.standard_normal((m, D))
        y = X @ w + 0.5 + 0.1 * rng.standard_normal(m)
        if decimals is not None:
            X, y = np.round(X, decimals), np.round(y, decimals)
        yield X, y


def _table(X, y):
    import pyarrow as pa

    cols = {f"x{j}": X[:, j] for j in range(D)}
    cols["y"] = y
    return pa.table(cols)


def dataset(kind: str, n_rows: int, decimals: int | None = 6, plain: bool = True) -> Path:
    """The path of a generated data file, generated on first use.  Parquet: ``plain``
    writes row groups of GROUP_ROWS rows, uncompressed, without dictionaries (the fastest
    file to read, hence the hardest comparison); else pyarrow's defaults (snappy,
    dictionaries tried, row groups of 1M rows), what most writers produce."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    digits = "full" if decimals is None else f"r{decimals}"
    groups = ""
    if kind == "parquet":
        groups = f"_g{GROUP_ROWS}_plain" if plain else "_defaults"
    path = DATA / f"stream_{n_rows}x{D}_{digits}{groups}.{kind}"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    writer = None
    try:
        for X, y in _chunks(n_rows, 7, decimals):
            t = _table(X, y)
            if writer is None:
                options = dict(compression="none", use_dictionary=False) if plain else {}
                writer = (pcsv.CSVWriter(tmp, t.schema) if kind == "csv"
                          else pq.ParquetWriter(tmp, t.schema, **options))
            if kind == "csv" or not plain:
                writer.write_table(t)
            else:
                writer.write_table(t, row_group_size=GROUP_ROWS)
        writer.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def _size(path: Path, n_rows: int) -> str:
    size = path.stat().st_size
    text = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
    return f"{text} {path.suffix[1:]} ({n_rows:.3g}x{D})"


# --------------------------------------------------------------------------- epochs


def _kernel():
    from gradfit.model import kernels, kernels_numba

    if kernels_numba.available():
        kernels_numba.warmup()
        return kernels_numba.value_grad
    return kernels.value_grad


def _epoch(fb, kern):
    mu, v, b = np.zeros(D), np.full((D, 1), 0.01), np.zeros(1)
    return lambda: fb.map_reduce(lambda X, Y, s: kern(X, Y, s, mu, v, b, "squared", 1.35),
                                 any_layout=getattr(kern, "reads_any_layout", False))


def _csv_readers(path: Path) -> dict:
    import pandas as pd
    import pyarrow.csv as pcsv

    def stream(threads):
        def read():
            reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(use_threads=threads))
            for _ in reader:
                pass
        return read

    def pandas_chunks():
        for _ in pd.read_csv(path, chunksize=65536):
            pass

    return {
        "pyarrow.csv.read_csv": lambda: pcsv.read_csv(path),
        "pyarrow.csv.read_csv 1 thread": lambda: pcsv.read_csv(
            path, read_options=pcsv.ReadOptions(use_threads=False)),
        "pyarrow.csv.open_csv": stream(True),
        "pyarrow.csv.open_csv 1 thread": stream(False),
        "pandas.read_csv chunksize": pandas_chunks,
    }


def _parquet_readers(path: Path) -> dict:
    import pyarrow.parquet as pq

    def batches(threads):
        def read():
            for _ in pq.ParquetFile(path).iter_batches(batch_size=65536, use_threads=threads):
                pass
        return read

    return {"pq.read_table": lambda: pq.read_table(path),
            "pq.read_table 1 thread": lambda: pq.read_table(path, use_threads=False),
            "ParquetFile.iter_batches": batches(True),
            "ParquetFile.iter_batches 1 thread": batches(False)}


def _versus_readers(label: str, path: Path, n_rows: int, ours: str, t: dict,
                    readers: list[str]) -> list[Row]:
    mbps = {k: _mb(path) / t[k][0] for k in t}
    best = max(readers, key=lambda k: mbps[k])
    ratio = mbps[ours] / mbps[best]
    extra = dict(MBps={k: round(v, 1) for k, v in mbps.items()},
                 seconds={k: v[0] for k, v in t.items()},
                 rows_per_s={k: round(n_rows / v[0]) for k, v in t.items()})
    rows = [Row(f"f {label} epoch (gradient pass) vs fastest reader", _size(path, n_rows),
                mbps[ours], mbps[best], best, unit=" MB/s", target=f">= {TARGET_READER:g}",
                met=ratio >= TARGET_READER, ratio=ratio, extra=extra)]
    for k in readers:
        rows.append(Row(f"f {label} peer: {k}", _size(path, n_rows), None, mbps[k], k,
                        unit=" MB/s"))
    return rows


def _parquet_epoch_rows(path: Path, label: str, n: int, kern, cfg: dict) -> list[Row]:
    """The Parquet epoch against pyarrow's readers (the target), and, informative, against
    ``pq.read_table(memory_map=True)`` (the epoch maps the file too) and a reader that
    builds a float64 matrix per batch (what the epoch did before it read columns in
    place)."""
    import pyarrow.parquet as pq

    from gradfit.data.files import FileBackend

    def to_matrix():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
            np.column_stack([c.to_numpy() for c in batch.columns])

    readers = _parquet_readers(path)
    fns = {"gradfit Parquet epoch": _epoch(FileBackend(path, "y"), kern),
           "pq.read_table memory_map": lambda: pq.read_table(path, memory_map=True),
           "iter_batches + float64 matrix": to_matrix}
    t = interleaved(fns | readers, cfg["repeats"])
    rows = _versus_readers(label, path, n, "gradfit Parquet epoch", t, list(readers))
    ours = t["gradfit Parquet epoch"][0]
    for name, what in (("pq.read_table memory_map", "pq.read_table(memory_map=True)"),
                       ("iter_batches + float64 matrix", "iter_batches + column_stack")):
        rows.append(Row(f"f {label} epoch vs {what} (informative)", _size(path, n),
                        _mb(path) / ours, _mb(path) / t[name][0], what, unit=" MB/s",
                        ratio=t[name][0] / ours))
    return rows


def epoch_rows(cfg: dict) -> list[Row]:
    from gradfit.data.files import FileBackend

    n = cfg["epoch_rows"]
    csv, parquet = dataset("csv", n), dataset("parquet", n)
    kern = _kernel()
    cache_dir = Path(tempfile.mkdtemp(prefix="cache-", dir=DATA))
    rows = []
    try:
        fb_csv = FileBackend(csv, "y")
        fb_cached = FileBackend(csv, "y", cache=cache_dir)
        assert fb_cached.cache_status == "built"
        fns = {"gradfit CSV epoch": _epoch(fb_csv, kern),
               "gradfit cached epoch": _epoch(fb_cached, kern)}
        readers = _csv_readers(csv)
        t = interleaved(fns | readers, cfg["repeats"])
        fb_cached.close()
        rows += _versus_readers("CSV", csv, n, "gradfit CSV epoch", t, list(readers))
        csv_s, cached_s = t["gradfit CSV epoch"][0], t["gradfit cached epoch"][0]
        rows.insert(1, Row("f cached epoch (cache=) vs CSV epoch", _size(csv, n), cached_s,
                           csv_s, "CSV epoch", target=f"<= {TARGET_CACHE:g}",
                           met=cached_s / csv_s <= TARGET_CACHE,
                           extra=dict(speedup=csv_s / cached_s,
                                      cached_MBps_of_csv=_mb(csv) / cached_s)))
        rate = n / csv_s / 1e6
        rows.insert(2, Row("f CSV epoch rows/s vs Vowpal Wabbit (anchor, not measured)",
                           _size(csv, n), rate, VW_ROWS_PER_S / 1e6,
                           "VW ~250k ex/s from text", unit=" Mrows/s",
                           target=f">= {TARGET_VW:g}", met=rate * 1e6 / VW_ROWS_PER_S >=
                           TARGET_VW, extra=dict(bytes_per_row=csv.stat().st_size / n)))
        if cfg["full_digits_rows"]:
            m = cfg["full_digits_rows"]
            full = dataset("csv", m, decimals=None)
            fb_full = FileBackend(full, "y")
            tf = interleaved({"epoch": _epoch(fb_full, kern)}, cfg["repeats"])
            rate = m / tf["epoch"][0] / 1e6
            rows.insert(3, Row("f CSV epoch rows/s, 17-digit values, vs Vowpal Wabbit",
                               _size(full, m), rate, VW_ROWS_PER_S / 1e6,
                               "VW ~250k ex/s from text", unit=" Mrows/s",
                               target=f">= {TARGET_VW:g}",
                               met=rate * 1e6 / VW_ROWS_PER_S >= TARGET_VW,
                               extra=dict(bytes_per_row=full.stat().st_size / m,
                                          MBps=_mb(full) / tf["epoch"][0])))
        for path, label in ((parquet, "Parquet"),
                            (dataset("parquet", n, plain=False), "Parquet (pyarrow defaults)")):
            gc.collect()
            rows += _parquet_epoch_rows(path, label, n, kern, cfg)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------- memory

_CHILD = r"""
import json, sys, time, warnings
args = json.loads(sys.argv[1])

def hwm():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

def reset():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

import numpy as np
from gradfit.fitting.files import fit_files
from gradfit.model import kernels_numba
if kernels_numba.available():
    kernels_numba.warmup()
out = {"import_peak": hwm(), "fits": []}
for path, name, kw in args:
    ok = reset()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_files(path, "y", **kw)
    out["fits"].append({"peak": hwm(), "reset": ok, "seconds": time.perf_counter() - t,
                        "passes": res.info["passes"], "cache": res.info.get("cache")})
print(json.dumps(out))
"""


def _child(jobs: list) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(jobs)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the memory child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peaks(jobs: list) -> tuple[list, float]:
    """Peak RSS of each fit ``(path, name, kwargs)``, and the child's peak after its
    imports.  One child runs them all, resetting its high-water mark before each; where the
    mark cannot be reset, each fit runs in a child of its own."""
    got = _child(jobs)
    if all(rec["reset"] for rec in got["fits"]):
        return got["fits"], got["import_peak"]
    return [_child([job])["fits"][0] for job in jobs], got["import_peak"]


def memory_rows(cfg: dict) -> list[Row]:
    if not Path("/proc/self/status").exists():
        raise Skip("peak memory needs /proc/self/status (Linux)")
    cache_dir = Path(tempfile.mkdtemp(prefix="cache-", dir=DATA))
    csv_fits = [["nesterov 3 epochs", NESTEROV],
                ["nesterov 3 epochs, cache=", dict(NESTEROV, cache=str(cache_dir))],
                ["exact", dict(solver="exact")]]
    pq_fits = [["nesterov 3 epochs", NESTEROV], ["exact", dict(solver="exact")]]
    jobs, where = [], []
    for kind, n in cfg["memory"]:
        path = dataset(kind, n)
        for name, kw in (csv_fits if kind == "csv" else pq_fits):
            jobs.append([str(path), name, kw])
            where.append((kind, n, name, path))
    rows, peaks = [], {}
    try:
        got, import_peak = _peaks(jobs)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    for (kind, n, name, path), rec in zip(where, got):
        peak = rec["peak"]
        peaks[kind, n, name] = peak
        rows.append(Row(f"f peak RSS of a streamed fit: {name}", _size(path, n),
                        peak / 2**20, path.stat().st_size / 2**20, "file size",
                        unit=" MiB", target=f"<= {TARGET_MEMORY >> 20} MiB",
                        met=peak <= TARGET_MEMORY,
                        extra=dict(seconds=round(rec["seconds"], 2), passes=rec["passes"],
                                   peak_reset=rec["reset"],
                                   after_imports_MiB=round(import_peak / 2**20, 1))))
    for kind in ("csv", "parquet"):
        sizes = sorted({n for k, n, _ in peaks if k == kind})
        if len(sizes) < 2:
            continue
        small, big = sizes[0], sizes[-1]
        for name in [f[0] for f in (csv_fits if kind == "csv" else pq_fits)]:
            a, b = peaks[kind, big, name], peaks[kind, small, name]
            rows.append(Row(f"f peak RSS growth with the file size: {name}",
                            f"{kind} {big:.3g} rows / {small:.3g} rows ({big / small:.3g}x "
                            "the data)", a / 2**20, b / 2**20, "peak on the small file",
                            unit=" MiB", target=f"ratio <= {TARGET_GROWTH:g}",
                            met=a / b <= TARGET_GROWTH))
    return rows


def run(quick: bool) -> list[Row]:
    try:
        import pyarrow  # noqa: F401

        from gradfit.data.files import FileBackend  # noqa: F401
    except ImportError as e:
        raise Skip(f"streaming needs pyarrow and gradfit.data.files: {e}") from None
    cfg = QUICK if quick else FULL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = epoch_rows(cfg)
    return rows + memory_rows(cfg)
