"""`benchmarks/run.py --quick` runs end to end, writes the JSON and Markdown it promises, and
reports every target of the performance issue on a row of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"figure", "size", "gradfit", "baseline", "baseline_name", "unit", "ratio",
            "target", "met", "extra"}

# the issue's targets, each on its own row (figure prefix -> the bound shown in "target")
ISSUE_TARGETS = {
    "a epoch: gradfit.fit (gd), per epoch": None,  # its target shows at 1e7 x 20 only
    "a gradfit.fit(solver='gd', max_iter=": "<= 0.01",
    "b mini-batch epoch, batch_size=1": "<= 1",
    "b mini-batch epoch, batch_size=256": "<= 1",
    "c defaults to 1e-6 gap vs SGDRegressor": "<= 0.1",
    "c defaults reach 1e-6 gap, no tuning": "gap <= 1e-06",
    "d peak memory: defaults (nesterov)": "<= 0.1 xX + 8 MiB",
    "d peak memory: defaults, float32 X": "<= 0.1 xX + 8 MiB",
    "e exact fit vs Ridge(cholesky)": "<= 1",
    "j lasso (default solver": None,  # targets at 5000 x 2000 and 1e5 x 1e3 only
    "j lasso (solver='cd'": None,
    "j lasso path (100 alphas": None,
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("bench")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                          "--only", "abcdej", "--out", str(out_dir)], capture_output=True,
                         text=True, timeout=600, cwd=REPO)  # 2 cores shared with other jobs
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out_dir


def test_quick_benchmark_writes_results(quick):
    result = json.loads((quick / "latest.json").read_text())
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
    assert set("abcdej") <= figures | skipped, (figures, result["skipped"])
    assert not [s for s in result["skipped"] if s["reason"].startswith("failed")], \
        result["skipped"]
    epoch = [r for r in result["rows"] if r["figure"].startswith("a epoch:")]
    assert all(r["gradfit"] > 0 and r["baseline"] > 0 and r["ratio"] > 0 for r in epoch)
    md = (quick / "latest.md").read_text()
    assert "| figure | size | gradfit | baseline | ratio | target | met? |" in md


def test_quick_benchmark_has_the_issue_targets(quick):
    result = json.loads((quick / "latest.json").read_text())
    skipped = {s["figure"] for s in result["skipped"]}
    for prefix, target in ISSUE_TARGETS.items():
        if prefix[0] in skipped:
            continue
        rows = [r for r in result["rows"] if r["figure"].startswith(prefix)]
        assert rows, prefix
        if target is not None:
            assert all(r["target"] == target and r["met"] is not None for r in rows), rows


def test_readme_shows_the_latest_benchmark_results():
    """README.md's table is the one `scripts/bench_readme.py` writes from the committed
    `benchmarks/results/latest.json` (run it after `make bench`)."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_readme.py"), "--check"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, ("README.md's benchmark table is stale: run "
                                 "`.venv/bin/python scripts/bench_readme.py`" + out.stderr)


def test_merge_keeps_the_rows_of_the_figures_not_run():
    """`run.py --only j --merge`: (j)'s rows replace the old (j)'s, the other figures' rows and
    skips stay, in figure order, each figure with the date it was measured on."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import run

    def row(title):
        return {"figure": title, "size": "-", "gradfit": 1.0, "baseline": 1.0,
                "baseline_name": "", "unit": "s", "ratio": 1.0, "target": "", "met": None,
                "extra": {}}

    old = {"meta": {"date": "2026-01-01T00:00:00"},
           "rows": [row("a epoch: x"), row("j lasso old"), row("one full-gradient pass"),
                    row("h small fit")],
           "skipped": [{"figure": "j", "reason": "old"}, {"figure": "f", "reason": "no disk"}]}
    meta = {"date": "2026-02-02T00:00:00", "figure_dates": {"j": "2026-02-02T00:00:00"}}
    rows, skipped = run.merged(old, ["j"], [row("j lasso new")], [], meta)
    assert [r["figure"] for r in rows] == ["a epoch: x", "one full-gradient pass",
                                           "h small fit", "j lasso new"]
    assert skipped == [{"figure": "f", "reason": "no disk"}]
    assert meta["figure_dates"] == {"j": "2026-02-02T00:00:00", "a": "2026-01-01T00:00:00",
                                    "g": "2026-01-01T00:00:00", "h": "2026-01-01T00:00:00"}
    note = run.dates_note(meta)
    assert "figures a,g,h run 2026-01-01" in note and "figures j run 2026-02-02" in note
