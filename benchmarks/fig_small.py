"""(h) Small and wide fits against scikit-learn (issue 15 items 2-3).

- 500 x 5: ``GDRegressor(solver="exact").fit`` and ``GDRegressor().fit`` against
  ``LinearRegression().fit`` (what a GridSearchCV user feels): target within 3x, with the
  same accuracy guarantees (the exact answer: long-double refinement where it buys digits).
- 2e4 x 1000: ``gradfit.fit(X, y, solver="exact")`` (ridge with a tiny alpha) against
  ``Ridge(solver="cholesky")``: target within 1.2x (Cholesky of the Gram statistics when the
  condition estimate allows; TSQR and refinement otherwise).
Median of interleaved runs; the 2 cores may be shared, which the ratio absorbs."""

from __future__ import annotations

import numpy as np
from common import Row, interleaved, quiet, ratio_row, size_label

SMALL_TARGET = 3.0
WIDE_TARGET = 1.2


def run(quick: bool) -> list[Row]:
    from sklearn.linear_model import LinearRegression, Ridge

    import gradfit
    from gradfit import GDRegressor

    rng = np.random.default_rng(11)
    X = rng.normal(size=(500, 5)) * [1, 3, 0.5, 10, 2] + [0, 5, -1, 40, 2]
    y = X @ rng.normal(size=5) + 3 + rng.normal(size=500)
    repeats = 40 if quick else 200
    with quiet():
        t = interleaved({"exact": lambda: GDRegressor(solver="exact").fit(X, y),
                         "defaults": lambda: GDRegressor().fit(X, y),
                         "sklearn": lambda: LinearRegression().fit(X, y)}, repeats)
    rows = [ratio_row("h small fit: GDRegressor(solver='exact') vs LinearRegression", "500x5",
                      t["exact"][0], t["sklearn"][0], "LinearRegression", SMALL_TARGET),
            ratio_row("h small fit: GDRegressor() defaults vs LinearRegression", "500x5",
                      t["defaults"][0], t["sklearn"][0], "LinearRegression", SMALL_TARGET)]
    n, d = (4000, 200) if quick else (20_000, 1000)
    Xw = rng.normal(size=(n, d))
    yw = Xw @ rng.normal(size=d) + rng.normal(size=n)
    a_sk = 1e-6
    with quiet():
        t = interleaved({"gradfit": lambda: gradfit.fit(Xw, yw, solver="exact", penalty="l2",
                                                         alpha=2 * a_sk / n),
                         "ridge": lambda: Ridge(alpha=a_sk, solver="cholesky").fit(Xw, yw)},
                        3 if quick else 5)
    rows.append(ratio_row("h wide exact fit vs Ridge(cholesky)", size_label(n, d),
                          t["gradfit"][0], t["ridge"][0], "Ridge cholesky", WIDE_TARGET,
                          times={k: v[1] for k, v in t.items()}))
    return rows
