"""Real data sets for the correctness tour (issue 11): statsmodels' and scikit-learn's bundled
data (no network), each as a float64 design (n, d) and target, and an oracle for the exact
least-squares optimum that does not use gradfit's code.

The oracle: Householder QR (numpy) of the column-scaled centred design, then iterative
refinement with residuals and gradients in 80-bit long double (about 1e-19 x cond relative),
cross-checked against statsmodels' OLS in the tests.
"""

from __future__ import annotations

import warnings

import numpy as np

# name -> (statsmodels dataset module name, target column or None for its endog, drop columns)
STATSMODELS = {
    "longley": ("longley", None, ()),
    "star98": ("star98", "NABOVE", ("NBELOW",)),
    "macrodata": ("macrodata", "realinv", ("year", "quarter")),
    "stackloss": ("stackloss", None, ()),
    "ccard": ("ccard", None, ()),
    "cpunish": ("cpunish", None, ()),
    "engel": ("engel", None, ()),
    "fair": ("fair", None, ()),
    "grunfeld": ("grunfeld", None, ("firm", "year")),
    "randhie": ("randhie", None, ()),
    "scotland": ("scotland", None, ()),
    "spector": ("spector", None, ()),
    "statecrime": ("statecrime", None, ()),
    "copper": ("copper", None, ()),
    "committee": ("committee", None, ()),
    "anes96": ("anes96", None, ()),
}
NAMES = sorted(STATSMODELS) + ["diabetes"]


def load(name: str):
    """(X DataFrame of float64 features, y Series) for one of :data:`NAMES`."""
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes(as_frame=True, scaled=False)
        return d.data.astype(float), d.target.astype(float).rename("progression")
    import statsmodels.api as sm

    module, target, drop = STATSMODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = getattr(sm.datasets, module).load_pandas()
    if target is None:
        X, y = ds.exog, ds.endog
        if getattr(y, "ndim", 1) == 2:
            y = y.iloc[:, 0]
    else:
        y = ds.data[target]
        X = ds.data.drop(columns=[target])
    X = X.drop(columns=[c for c in drop if c in X])
    X = X.select_dtypes("number").astype(float)
    keep = np.isfinite(X.to_numpy()).all(axis=1) & np.isfinite(y.to_numpy(float))
    return X[keep].reset_index(drop=True), y[keep].astype(float).reset_index(drop=True)


def reference_solution(X, y, sample_weight=None, fit_intercept=True, alpha=0.0):
    """The exact minimiser of sum s (y - Xw - b)^2 / sum s + alpha/2 ||w||^2: (coef, intercept).

    Independent of gradfit: numpy QR of the scaled centred design, three refinement steps
    with long double residuals."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, d = X.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    ld = np.longdouble
    S = s.astype(ld).sum()
    mu = (s.astype(ld) @ X.astype(ld)) / S if fit_intercept else np.zeros(d, ld)
    Xc = X.astype(ld) - mu
    lam = ld(alpha) * S / 2
    A = (Xc * np.sqrt(s.astype(ld))[:, None]).astype(float)
    scale = np.sqrt((A * A).sum(axis=0))
    scale[scale == 0] = 1.0
    Aug = np.vstack([A / scale, np.diag(np.sqrt(float(lam)) / scale)])
    R = np.linalg.qr(Aug, mode="r")
    w = np.zeros(d, ld)
    ybar = (s.astype(ld) @ y.astype(ld)) / S if fit_intercept else ld(0)
    for _ in range(4):
        r = (y.astype(ld) - ybar - Xc @ w) * s.astype(ld)
        g = (Xc.T @ r - lam * w).astype(float) / scale
        z = np.linalg.solve(R, np.linalg.solve(R.T, g))
        w = w + (z / scale).astype(ld)
        if fit_intercept:
            ybar = ybar + (r.sum() / S)
    b = float(ybar - mu @ w) if fit_intercept else 0.0
    return w.astype(float), b


def digits(estimate, exact):
    """Correct significant digits per element (NIST's log relative error, 15 at most; absolute
    error where the exact value is 0)."""
    estimate, exact = np.asarray(estimate, float), np.asarray(exact, float)
    err = np.abs(estimate - exact)
    rel = np.where(exact == 0, err, err / np.where(exact == 0, 1, np.abs(exact)))
    with np.errstate(divide="ignore"):
        return np.minimum(np.where(rel == 0, 15.0, -np.log10(rel)), 15.0)
