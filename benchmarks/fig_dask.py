"""(g) Dask on a 2-worker LocalCluster: exact and one gradient pass against numpy in memory,
and dask-ml's LinearRegression (when installed) — ``dask_bench.bench_dask`` as rows."""

from __future__ import annotations

from common import Row, Skip


def run(quick: bool) -> list[Row]:
    try:
        import dask_bench
    except ImportError as exc:  # the dask extra is not installed
        raise Skip(f"dask is not installed: {exc}") from None
    n = 200_000 if quick else 5_000_000
    rows = dask_bench.bench_dask(n=n, d=10, dask_ml=not quick, repeat=1 if quick else 3)
    out = []
    for r in rows:
        row = Row(r["figure"], r["size"], r["gradfit"], r["baseline"],
                  r.get("note") or "baseline", target=str(r["target"]), met=r["met"],
                  ratio=r["ratio"])
        out.append(row)
    return out
