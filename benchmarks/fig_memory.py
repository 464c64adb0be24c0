"""(d) Peak memory of a fit above what was there before it, as a multiple of X's size.

Measured in a child process (a fresh interpreter: numba's OpenMP threads do not survive a
fork) that makes the data, runs every fit once on small data (imports, numba's cache), then
for each fit: frees what malloc holds (``malloc_trim``), resets the RSS high-water mark
(``/proc/self/clear_refs``), runs the fit and reads ``VmHWM - VmRSS(before)``.  That sees
every allocation: numpy, BLAS and LAPACK work space, numba's.  The one-time costs of the
process (imports, loading compiled code, starting numba's threads) are paid before.  The
same fit is then run under ``tracemalloc`` (numpy's buffers only) as a cross-check
(``extra.tracemalloc_xX``).
Where the mark cannot be reset (not Linux), tracemalloc's figure is the only one.

Target (the issue's): the peak of ANY fit within the size of X plus 10% plus a few MB, i.e.
extra <= 0.1 x X + 8 MiB.  Peers (LinearRegression, Ridge, SGDRegressor, statsmodels) are
measured the same way, without a target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from common import Row, Skip, size_label

HERE = Path(__file__).resolve().parent
TARGET_FRACTION = 0.10  # of X's size
TARGET_SLACK = 8 * 2**20  # "plus a few MB"

# name -> (fit keyword arguments, float32 X?); run by the child (see _fit)
OURS = {
    "defaults (nesterov)": ({}, False),
    "gd full batch, 3 epochs": (dict(solver="gd", max_iter=3, tol=0), False),
    "lbfgs": (dict(solver="lbfgs", max_iter=10), False),
    "cg": (dict(solver="cg", max_iter=10), False),
    "exact": (dict(solver="exact"), False),
    "gd batch_size=1, 1 epoch": (dict(solver="gd", batch_size=1, max_iter=1, tol=0), False),
    "adam batch_size=32, 1 epoch": (dict(solver="adam", batch_size=32, max_iter=1, tol=0),
                                    False),
    "gd batch_size=256, 1 epoch": (dict(solver="gd", batch_size=256, max_iter=1, tol=0),
                                   False),
    "nesterov batch_size=8192, 1 epoch": (dict(batch_size=8192, max_iter=1, tol=0), False),
    "defaults with sample_weight": (dict(sample_weight=True), False),
    "early_stopping, batch_size=32": (dict(batch_size=32, early_stopping=True, max_iter=2,
                                           tol=0), False),
    "defaults, float32 X": ({}, True),
    "gd batch_size=32, float32 X": (dict(solver="gd", batch_size=32, max_iter=1, tol=0),
                                    True),
}
PEERS = ["LinearRegression", "Ridge(cholesky)", "SGDRegressor 1 epoch", "statsmodels OLS"]


# ----------------------------------------------------------------------------- the child
def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _trim():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _fit(name, X, X32, y, sw):
    import warnings

    import gradfit

    warnings.simplefilter("ignore")
    if name in OURS:
        kw, single = OURS[name]
        kw = dict(kw)
        w = sw if kw.pop("sample_weight", False) else None
        return lambda: gradfit.fit(X32 if single else X, y, w, random_state=0, **kw)
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor

    return {"LinearRegression": lambda: LinearRegression().fit(X, y),
            "Ridge(cholesky)": lambda: Ridge(alpha=0.0, solver="cholesky").fit(X, y),
            "SGDRegressor 1 epoch": lambda: SGDRegressor(max_iter=1, tol=None).fit(X, y),
            "statsmodels OLS": lambda: sm.OLS(y, sm.add_constant(X)).fit()}[name]


def child_main(n, d, names):
    """Runs in the child: prints one JSON line {name: {rss, tracemalloc, reset}}."""
    import gc
    import tracemalloc

    import numpy as np
    from common import regression_data

    X, y = regression_data(n, d, "std-well", seed=6)
    X32 = X.astype(np.float32)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, n)
    small = (X[:2000], X32[:2000], y[:2000], sw[:2000])
    for name in names:  # imports, numba's cache, lazy set-ups
        _fit(name, *small)()
    try:  # the parallel kernels too: loading their code and starting numba's threads is a
        # one-time cost of the process (about 40 MB here), not of a fit
        from gradfit.model import kernels_numba
        from gradfit.solvers import minibatch_numba

        kernels_numba.warmup()
        minibatch_numba.warmup()
    except ImportError:
        pass
    out = {}
    for name in names:
        fn = _fit(name, X, X32, y, sw)
        gc.collect()
        _trim()
        ok = _reset_peak()
        before = _status("VmRSS")
        fn()
        rss = _status("VmHWM") - before if ok else None
        del fn
        fn = _fit(name, X, X32, y, sw)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        traced = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        out[name] = dict(rss=rss, tracemalloc=traced, reset=ok)
    print(json.dumps(out))


# ----------------------------------------------------------------------------- the parent
def _measure(n, d, names) -> dict:
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import fig_memory; "
            f"fig_memory.child_main({n}, {d}, {names!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"the memory child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[Row]:
    try:
        import gradfit  # noqa: F401
    except ImportError as e:
        raise Skip(f"gradfit.fit is not importable yet: {e}") from None
    n, d = (20_000, 20) if quick else (1_000_000, 20)
    got = _measure(n, d, list(OURS) + PEERS)
    nb64 = n * d * 8
    size = size_label(n, d)

    def multiple(rec, nbytes):
        value = rec["rss"] if rec["rss"] is not None else rec["tracemalloc"]
        return value / nbytes

    lr = multiple(got["LinearRegression"], nb64)
    rows = []
    for name, (_, single) in OURS.items():
        rec = got[name]
        nbytes = nb64 // 2 if single else nb64
        m = multiple(rec, nbytes)
        bound = TARGET_FRACTION + TARGET_SLACK / nbytes
        rows.append(Row(f"d peak memory: {name}", size + (" float32" if single else ""), m, lr,
                        "LinearRegression", unit="xX",
                        target=f"<= {TARGET_FRACTION:g} xX + {TARGET_SLACK >> 20} MiB",
                        met=m <= bound,
                        extra=dict(bound_xX=bound, rss_MiB=None if rec["rss"] is None
                                   else rec["rss"] / 2**20,
                                   tracemalloc_xX=rec["tracemalloc"] / nbytes,
                                   measured_by="VmHWM" if rec["reset"] else "tracemalloc")))
    for name in PEERS:
        rec = got[name]
        rows.append(Row(f"d peak memory: peer {name}", size, None, multiple(rec, nb64), name,
                        unit="xX", extra=dict(tracemalloc_xX=rec["tracemalloc"] / nb64)))
    return rows
