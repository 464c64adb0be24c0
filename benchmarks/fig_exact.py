"""(e) The exact solver (``gradfit.exact.solve_exact``) against Ridge(alpha=0,
solver="cholesky") on tall data: wall time of a whole fit, median of a few interleaved runs."""

from __future__ import annotations

import gc

from common import Row, Skip, interleaved, quiet, ratio_row, regression_data, size_label

TARGET = 1.5  # solve_exact <= 1.5x Ridge(cholesky)


def run(quick: bool) -> list[Row]:
    try:
        from gradfit.exact import solve_exact
    except ImportError as e:
        raise Skip(f"gradfit.exact.solve_exact is not importable yet: {e}") from None
    sizes = [(20_000, 20, 3)] if quick else [(1_000_000, 20, 3), (10_000_000, 20, 2)]
    rows = []
    for n, d, repeats in sizes:
        rows.append(one_size(solve_exact, n, d, repeats))
        gc.collect()
    return rows


def one_size(solve_exact, n, d, repeats) -> Row:
    from sklearn.linear_model import Ridge

    X, y = regression_data(n, d, "std-well", seed=5)
    with quiet():
        t = interleaved({"exact": lambda: solve_exact(X, y),
                         "ridge": lambda: Ridge(alpha=0.0, solver="cholesky").fit(X, y)},
                        repeats, warmup=n < 5_000_000)
    return ratio_row("e exact solver vs Ridge(cholesky)", size_label(n, d), t["exact"][0],
                     t["ridge"][0], "Ridge cholesky", TARGET,
                     times={k: v[1] for k, v in t.items()})
