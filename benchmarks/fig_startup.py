"""(i) Start-up: ``python -c "import gradfit"`` and ``gradfit --version`` in fresh processes,
against ``python -c pass`` measured in the same run (issue 12 item 6: under 0.5 s and 0.3 s;
the ratio to a bare interpreter is what the machine cannot change), and which heavy modules
an import loads (none of scikit-learn, dask, altair, numba may load until used); and the
cold start of the compiled kernels (issue 15 item 4): the first ``gradfit.fit`` of a 2e6-value
X in a fresh process with an empty numba cache (``NUMBA_CACHE_DIR`` a new folder: everything
the fit needs is compiled) against the same fit in a second fresh process on that cache
(loaded, not compiled); the bound is what ``gradfit.model.compiling.COMPILE_SECONDS`` (the
CompilationWarning's text) promises."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Row

HEAVY = ("sklearn", "dask", "altair", "numba", "pandas", "scipy.stats")
BIN = Path(sys.executable).parent


def _seconds(cmd, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


COLD_BOUND = 60.0  # s: "about 20-60 s on 2 cores" (compiling.COMPILE_SECONDS)
FIRST_FIT = ("import warnings, numpy as np, gradfit\n"
             "warnings.simplefilter('ignore')\n"
             "rng = np.random.default_rng(0)\n"
             "X = rng.standard_normal((100_000, 20)); y = X @ np.ones(20)\n"
             "gradfit.fit(X, y)\n")


def cold_start_row() -> Row:
    """Seconds of the first fit with an empty numba cache, against the same fit on the cache
    that run wrote (both fresh processes, interpreter start-up included)."""
    with tempfile.TemporaryDirectory(prefix="gradfit-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):  # cold, then warm
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", FIRST_FIT], check=True, capture_output=True,
                           env=env)
            times.append(time.perf_counter() - t)
    cold, warm = times
    return Row("i cold start: first gradfit.fit (1e5 x 20), empty numba cache vs cached", "-",
               cold, warm, "same fit, cache filled", target=f"<= {COLD_BOUND:g} s",
               met=cold <= COLD_BOUND, extra={"compile_s": cold - warm})


def run(quick: bool) -> list[Row]:
    repeats = 5 if quick else 15
    base = _seconds([sys.executable, "-c", "pass"], repeats)
    cli = BIN / "gradfit"
    version = [str(cli), "--version"] if cli.exists() else \
        [sys.executable, "-c", "from gradfit.cli import main; main(['--version'])"]
    probe = ("import sys, gradfit; print(','.join(m for m in " + repr(HEAVY) +
             " if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True).stdout.strip()
    rows = []
    for name, cmd, bound in [("import gradfit", [sys.executable, "-c", "import gradfit"], 0.5),
                             ("gradfit --version", version, 0.3)]:
        t = _seconds(cmd, repeats)
        rows.append(Row(f"i start-up: {name} vs python -c pass", "-", t, base, "python -c pass",
                        target=f"<= {bound} s", met=t <= bound,
                        extra={"heavy_modules_loaded": loaded or "none"}))
    rows.append(cold_start_row())
    return rows
