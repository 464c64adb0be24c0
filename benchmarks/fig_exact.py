"""(e) The exact solver against Ridge(alpha=0, solver="cholesky") on tall data: wall time of a
whole ``gradfit.fit(X, y, solver="exact")`` (input checks and the final objective included)
and of ``gradfit.solvers.exact.solve_exact`` alone, median of a few interleaved runs.
Target (the issue's): at least as fast as Ridge(cholesky) at 1e6 x 20 and 1e7 x 20."""

from __future__ import annotations

import gc

from common import Row, Skip, interleaved, quiet, ratio_row, regression_data, size_label

TARGET = 1.0  # the exact fit no slower than Ridge(cholesky)


def run(quick: bool) -> list[Row]:
    try:
        from gradfit.solvers.exact import solve_exact
    except ImportError as e:
        raise Skip(f"gradfit.solvers.exact.solve_exact is not importable yet: {e}") from None
    sizes = [(20_000, 20, 3)] if quick else [(1_000_000, 20, 3), (10_000_000, 20, 2)]
    rows = []
    for n, d, repeats in sizes:
        rows.append(one_size(solve_exact, n, d, repeats))
        gc.collect()
    return rows


def one_size(solve_exact, n, d, repeats) -> Row:
    from sklearn.linear_model import Ridge

    import gradfit

    X, y = regression_data(n, d, "std-well", seed=5)
    with quiet():
        t = interleaved({"fit": lambda: gradfit.fit(X, y, solver="exact"),
                         "solve_exact": lambda: solve_exact(X, y),
                         "ridge": lambda: Ridge(alpha=0.0, solver="cholesky").fit(X, y)},
                        repeats, warmup=n < 5_000_000)
    return ratio_row("e exact fit vs Ridge(cholesky)", size_label(n, d), t["fit"][0],
                     t["ridge"][0], "Ridge cholesky", TARGET, solve_exact_s=t["solve_exact"][0],
                     times={k: v[1] for k, v in t.items()})
