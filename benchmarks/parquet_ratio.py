"""The Parquet epoch against pyarrow's readers over many interleaved runs (figure f has 5):
median ratio and the quartiles of the per-run ratios, for the two Parquet files of figure f.

    .venv/bin/python benchmarks/parquet_ratio.py [--reps 15]

Uses (and, on first use, writes) the data files of ``fig_stream`` in benchmarks/.data.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fig_stream import _epoch, _kernel, _parquet_readers, dataset  # noqa: E402


def main() -> None:
    import pyarrow.parquet as pq

    from gradfit.data.files import FileBackend

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    reps = ap.parse_args().reps
    warnings.simplefilter("ignore")
    kern = _kernel()
    for plain in (True, False):
        path = dataset("parquet", 2_000_000, plain=plain)
        readers = _parquet_readers(path)
        fns = {"epoch": _epoch(FileBackend(path, "y"), kern)} | readers | {
            "read_table memory_map": lambda path=path: pq.read_table(path, memory_map=True)}
        for fn in fns.values():
            fn()
        t = {name: [] for name in fns}
        for _ in range(reps):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                t[name].append(time.perf_counter() - start)
        med = {name: float(np.median(v)) for name, v in t.items()}
        best = min(readers, key=med.get)
        per_run = [min(t[r][i] for r in readers) / t["epoch"][i] for i in range(reps)]
        q1, q2, q3 = np.percentile(per_run, [25, 50, 75])
        print(f"{path.name}: epoch {med['epoch'] * 1e3:.0f} ms; fastest reader {best} "
              f"{med[best] * 1e3:.0f} ms; ratio of medians {med[best] / med['epoch']:.2f}; "
              f"per-run ratios {q1:.2f} / {q2:.2f} / {q3:.2f} (quartiles); against "
              f"read_table(memory_map=True) {med['read_table memory_map'] / med['epoch']:.2f}")


if __name__ == "__main__":
    main()
