"""Shared benchmark helpers: interleaved timing, test problems, result rows, machine info."""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np


class Skip(Exception):
    """A figure cannot run here (a missing module, say); the message says why."""


@dataclass
class Row:
    """One measured figure.  ``gradfit`` and ``baseline`` are in ``unit`` ("s" for seconds,
    "xX" for a multiple of X's size); ``ratio = gradfit / baseline``; ``target`` is a bound
    on the ratio ("<= 2") or another stated condition; ``met`` is None when there is none."""

    figure: str
    size: str
    gradfit: float | None
    baseline: float | None
    baseline_name: str
    unit: str = "s"
    target: str = ""
    met: bool | None = None
    ratio: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.ratio is None and self.gradfit is not None and self.baseline:
            self.ratio = self.gradfit / self.baseline

    def as_dict(self):
        return asdict(self)


def ratio_row(figure, size, gradfit, baseline, baseline_name, max_ratio=None, unit="s",
              **extra) -> Row:
    """A row whose target is ``gradfit / baseline <= max_ratio`` (None: no target)."""
    row = Row(figure, size, gradfit, baseline, baseline_name, unit, extra=extra)
    if max_ratio is not None:
        row.target = f"<= {max_ratio:g}"
        row.met = row.ratio is not None and row.ratio <= max_ratio
    return row


def size_label(n, d, dtype=np.float64) -> str:
    def short(v):
        e = int(math.log10(v)) if v > 0 else 0
        return f"1e{e}" if v == 10**e else (f"{v / 10**e:g}e{e}" if e >= 3 else str(v))

    tag = "" if np.dtype(dtype) == np.float64 else f" {np.dtype(dtype).name}"
    return f"{short(n)}x{d}{tag}"


def interleaved(fns: dict, repeats: int, warmup: bool = True, blocked: bool = False) -> dict:
    """Median wall seconds of each callable.  By default the callables take turns in every
    repetition, so that a noisy neighbour slows all of them alike; ``blocked=True`` runs
    each one's repetitions back to back instead (after its own warm-up call), so that one
    contender's idle threads, still spinning (OpenBLAS, OpenMP), do not tax the next.
    Returns {name: (median, times)}."""
    times = {k: [] for k in fns}
    if blocked:
        for k, f in fns.items():
            if warmup:
                f()
            for _ in range(repeats):
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
    else:
        if warmup:
            for f in fns.values():
                f()
        for _ in range(repeats):
            for k, f in fns.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
    return {k: (float(np.median(v)), [round(x, 6) for x in v]) for k, v in times.items()}


@contextmanager
def quiet():
    """Silence the convergence and ill-conditioning warnings of deliberately short fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def regression_data(n, d, kind="std-well", dtype=np.float64, seed=0):
    """(X, y) with y = X w + noise.  kind = "{std|raw}-{well|ill}": raw columns have scales
    1e-3..1e3 and large offsets; ill columns are correlated (cond(X'X) about 1e4 after
    standardisation)."""
    rng = np.random.default_rng(seed)
    scaling, cond = kind.split("-")
    X = rng.standard_normal((n, d), dtype=np.float32 if dtype == np.float32 else np.float64)
    if cond == "ill" and d > 1:
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        X = (X * np.logspace(0, -2, d)) @ q.T
    w = rng.standard_normal(d)
    y = X @ w.astype(X.dtype)
    y = (y + 0.1 * np.std(y) * rng.standard_normal(n)).astype(np.float64)
    if scaling == "raw":
        X = X * np.logspace(-3, 3, d) + rng.uniform(-1e3, 1e3, d)
    return np.ascontiguousarray(X, dtype=dtype), y


def machine_info() -> dict:
    from threadpoolctl import threadpool_info

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.uname().machine,
        "cpus": os.cpu_count(),
        "threadpools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                   "threading_layer", "architecture", "prefix")}
            for p in threadpool_info()
        ],
    }
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except Exception:  # numba is optional
        info["numba"] = None
    try:
        from gradfit.fitting.driver import NUMBA_MIN_CELLS, kernel_for

        kernel = kernel_for(NUMBA_MIN_CELLS)
        name = getattr(kernel, "__module__", None) or "gradfit.model.kernels (numpy)"
        info["fit_kernel"] = (f"{name} for X of >= {NUMBA_MIN_CELLS:.3g} cells, "
                              "gradfit.model.kernels (numpy) below")
        from gradfit.solvers import minibatch_numba

        if minibatch_numba.available() and name.endswith("kernels_numba"):
            info["fit_kernel"] += (f"; mini-batch epochs of batches <= "
                                   f"{minibatch_numba.MAX_BATCH} rows compiled "
                                   "(gradfit.solvers.minibatch_numba) with the compiled kernel")
    except Exception as e:  # the engine may not exist yet
        info["fit_kernel"] = f"unknown ({type(e).__name__})"
    return info


def fmt(v, unit="s") -> str:
    if v is None:
        return "-"
    if unit == "s":
        if v >= 1:
            return f"{v:.2f} s"
        if v >= 1e-3:
            return f"{v * 1e3:.1f} ms"
        return f"{v * 1e6:.0f} us"
    return f"{v:.3g}{unit}"
