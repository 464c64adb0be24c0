"""(i) Start-up: ``python -c "import gradfit"`` and ``gradfit --version`` in fresh processes,
against ``python -c pass`` measured in the same run (issue 12 item 6: under 0.5 s and 0.3 s;
the ratio to a bare interpreter is what the machine cannot change), and which heavy modules
an import loads (none of scikit-learn, dask, altair, numba may load until used)."""

from __future__ import annotations

import subprocess
import sys
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
    return rows
