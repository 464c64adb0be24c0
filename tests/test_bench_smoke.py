"""`benchmarks/run.py --quick` runs end to end and writes the JSON and Markdown it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"figure", "size", "gradfit", "baseline", "baseline_name", "unit", "ratio",
            "target", "met", "extra"}


def test_quick_benchmark_writes_results(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert set(result) == {"meta", "rows", "skipped"}
    meta = result["meta"]
    for key in ("threadpools", "numba", "fit_kernel", "quick", "seconds", "date"):
        assert key in meta, key
    assert meta["quick"] is True
    assert result["rows"], "no figure was measured"
    for row in result["rows"]:
        assert ROW_KEYS <= set(row), set(row) ^ ROW_KEYS
    figures = {row["figure"][0] for row in result["rows"]}
    skipped = {s["figure"] for s in result["skipped"]}
    assert "a" in figures  # the epoch figure needs only the kernels
    assert figures | skipped == set("abcde"), (figures, result["skipped"])
    assert not [s for s in result["skipped"] if s["reason"].startswith("failed")], \
        result["skipped"]
    epoch = [r for r in result["rows"] if r["figure"].startswith("a epoch:")]
    assert all(r["gradfit"] > 0 and r["baseline"] > 0 and r["ratio"] > 0 for r in epoch)
    md = (tmp_path / "latest.md").read_text()
    assert "| figure | size | gradfit | baseline | ratio | target | met? |" in md
