"""Stopping, failure, bad input, standardization and invariances."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradfit
from gradfit import ConvergenceWarning, DivergenceError, GDRegressor, InputError
from gradfit.model.result import History


def data(seed=0, n=200, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + rng.normal(size=d) * 3
    y = X @ rng.normal(size=d) + 2 + 0.2 * rng.normal(size=n)
    return X, y


# ---------------------------------------------------------------- the auto rate and divergence
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_auto_rate_objective_is_monotone(standardize, scale):
    X, y = data(1)
    X = X * [1, scale, 1 / scale]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = gradfit.fit(X, y, solver="gd", standardize=standardize, max_iter=300)
    f = res.history.objective
    assert np.all(np.diff(f) <= 1e-12 * np.abs(f[1:])), "objective increased"
    assert f[-1] < f[0]


def test_backtracking_objective_is_monotone():
    X, y = data(2)
    res = gradfit.fit(X, y, solver="gd", learning_rate="backtracking", standardize=False,
                      max_iter=2000)
    f = res.history.objective
    assert np.all(np.diff(f) <= 1e-12 * np.abs(f[1:]))
    assert res.info["line_search_trials"] > 0


@pytest.mark.parametrize("standardize", [True, False])
def test_rate_above_two_over_L_raises_with_the_safe_rate(standardize):
    """L = 2 lambda_max(Z'Z / n) for Z = [features, 1] in the fit's coordinates (standardized,
    or the caller's units: a numeric rate with the default standardize)."""
    X, y = data(3)
    Z = (X - X.mean(axis=0)) / X.std(axis=0) if standardize else X
    Z = np.column_stack([Z, np.ones(len(X))])
    L = 2 * np.linalg.eigvalsh(Z.T @ Z / len(X))[-1]
    kw = {"standardize": True} if standardize else {}
    with pytest.raises(DivergenceError) as info:
        gradfit.fit(X, y, solver="gd", learning_rate=2.2 / L, max_iter=5000, **kw)
    err = info.value
    assert err.safe_rate == pytest.approx(2 / L, rel=1e-9)
    assert f"{2 / L:.6g}" in str(err) and "learning_rate='auto'" in str(err)
    # just below 2/L it converges (slowly): no error, finite coefficients
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = gradfit.fit(X, y, solver="gd", learning_rate=1.9 / L, max_iter=200, **kw)
    assert np.isfinite(res.coef).all()


def test_divergence_in_sgd_never_returns_nan():
    X, y = data(4)
    with pytest.raises(DivergenceError):
        gradfit.fit(X * 1e3, y, batch_size=1, learning_rate=10.0, standardize=False,
                    random_state=0, max_iter=5)


def test_not_converged_warns_with_advice():
    X, y = data(5)
    with pytest.warns(ConvergenceWarning, match="max_iter=3.*Increase max_iter"):
        res = gradfit.fit(X, y, solver="gd", standardize=False, max_iter=3)
    assert not res.converged and "max_iter=3" in res.stop_reason


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("X,y,match", [
    (np.array([[1.0, np.nan], [2.0, 3.0]]), [1.0, 2.0], r"X contains NaN or inf.*row 0, column 1"),
    (np.array([[1.0], [np.inf]]), [1.0, 2.0], r"X contains NaN or inf.*row 1"),
    (np.ones((3, 1)), [1.0, np.nan, 2.0], r"y contains NaN or inf.*row 1"),
    (np.ones((3, 1)), [1.0, 2.0], r"y must have 3 rows"),
    (np.ones(3), [1.0, 2.0, 3.0], r"2-dimensional"),
    (np.ones((0, 2)), [], r"0 rows"),
    (np.array([["a", "b"], ["c", "d"]]), [1.0, 2.0], r"numeric"),
])
def test_bad_input_is_a_clear_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        gradfit.fit(X, y)


def test_non_numeric_dataframe_column_names_row_and_value():
    import pandas as pd

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["1", "x2", "3"]})
    with pytest.raises(InputError, match=r"column 'b' is not numeric: row 1 holds 'x2'"):
        GDRegressor().fit(df, [1, 2, 3])


def test_nan_in_dataframe_names_the_column():
    import pandas as pd

    df = pd.DataFrame({"age": [1.0, 2.0, 3.0], "bmi": [1.0, np.nan, 3.0]})
    with pytest.raises(InputError, match=r"row 1, column 1 \('bmi'\)"):
        GDRegressor().fit(df, [1, 2, 3])


@pytest.mark.parametrize("sw,match", [([1, -1, 1], "row 1 has -1"), ([0, 0, 0], "zero for every"),
                                      ([1, 1], r"shape \(3,\)"), ([1, np.nan, 1], "NaN")])
def test_bad_sample_weights(sw, match):
    with pytest.raises(ValueError, match=match):
        gradfit.fit(np.arange(3.0)[:, None], [1.0, 2.0, 3.0], sample_weight=sw)


@pytest.mark.parametrize("param,value", [("solver", "sgd"), ("learning_rate", -1),
                                         ("learning_rate", "fast"), ("batch_size", 0),
                                         ("penalty", "l3"), ("alpha", -1.0), ("momentum", 1.0),
                                         ("max_iter", 0), ("loss", "abs"), ("l1_ratio", 2.0),
                                         ("schedule", "warp"), ("validation_fraction", 1.0)])
def test_unknown_parameter_values(param, value):
    kw = {param: value}
    if param == "l1_ratio":
        kw["penalty"] = "elasticnet"
    with pytest.raises(ValueError, match=param):
        GDRegressor(**kw).fit(np.arange(6.0).reshape(3, 2), [1.0, 2.0, 3.0])


def test_solver_penalty_combinations_that_cannot_work_say_what_to_use():
    X, y = data(6)
    with pytest.raises(ValueError, match="nesterov"):
        gradfit.fit(X, y, solver="lbfgs", penalty="l1", alpha=0.1)
    with pytest.raises(ValueError, match="squared loss"):
        gradfit.fit(X, y, solver="exact", loss="huber")


# ---------------------------------------------------------------- standardization
# the smooth solvers (lbfgs, cg) take no l1 penalty: those pairs are a ValueError, tested above
STANDARDIZE_CASES = [(s, pen, a) for s in ("gd", "nesterov", "lbfgs", "cg")
                     for pen, a in [(None, 0.0), ("l2", 0.3), ("l1", 0.05), ("elasticnet", 0.1)]
                     if not (s in ("lbfgs", "cg") and pen in ("l1", "elasticnet"))]


@pytest.mark.parametrize("solver,penalty,alpha", STANDARDIZE_CASES)
def test_standardize_never_changes_the_solution(solver, penalty, alpha):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 3)) * [1.0, 4.0, 0.5] + [0.3, -0.5, 0.2]
    y = X @ [1.0, -0.3, 2.0] + 1 + 0.2 * rng.normal(size=200)
    kw = dict(solver=solver, penalty=penalty, alpha=alpha, max_iter=50000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = gradfit.fit(X, y, standardize=True, **kw)
        b = gradfit.fit(X, y, standardize=False, **kw)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.intercept, b.intercept, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9])
def test_column_scales_from_micro_to_giga(scale):
    X, y = data(8)
    Xs = X.copy()
    Xs[:, 1] *= scale
    res = gradfit.fit(Xs, y)
    ref = gradfit.fit(X, y, solver="exact")
    assert np.isfinite(res.coef).all()
    np.testing.assert_allclose(res.coef * [1, scale, 1], ref.coef, rtol=1e-7)


def test_constant_column_is_harmless():
    X, y = data(9)
    Xc = np.column_stack([X, np.full(len(X), 7.0)])
    res = gradfit.fit(Xc, y)
    ref = gradfit.fit(X, y, solver="exact")
    assert np.isfinite(res.coef).all() and res.coef[-1] == 0.0
    np.testing.assert_allclose(res.coef[:-1], ref.coef, rtol=1e-8)


def test_sample_weight_two_equals_duplicated_row():
    X, y = data(10, n=50)
    w = np.ones(50)
    w[:10] = 2
    a = gradfit.fit(X, y, w)
    b = gradfit.fit(np.vstack([X, X[:10]]), np.r_[y, y[:10]])
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-9)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-9)


# ---------------------------------------------------------------- invariances (hypothesis)
@given(seed=st.integers(0, 1000), factor=st.floats(1e-3, 1e3), j=st.integers(0, 2),
       solver=st.sampled_from(["gd", "nesterov", "lbfgs", "cg"]))
@settings(max_examples=30, deadline=None)
def test_rescaling_a_feature_rescales_its_coefficient_only(seed, factor, j, solver):
    X, y = data(seed, n=80)
    X2 = X.copy()
    X2[:, j] *= factor
    a = gradfit.fit(X, y, solver=solver, max_iter=20000)
    b = gradfit.fit(X2, y, solver=solver, max_iter=20000)
    expect = a.coef.copy()
    expect[j] /= factor
    np.testing.assert_allclose(b.coef, expect, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b.intercept, a.intercept, rtol=1e-7, atol=1e-9)


@given(seed=st.integers(0, 1000), solver=st.sampled_from(["gd", "nesterov", "lbfgs", "cg",
                                                           "exact", "momentum"]))
@settings(max_examples=25, deadline=None)
def test_permuting_rows_changes_nothing_for_full_batch(seed, solver):
    X, y = data(seed, n=60)
    perm = np.random.default_rng(seed).permutation(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = gradfit.fit(X, y, solver=solver, max_iter=5000)
        b = gradfit.fit(X[perm], y[perm], solver=solver, max_iter=5000)
    # the same optimum; the last digits depend on the summation order through the stopping epoch
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- history
def test_history_is_thinned_not_truncated():
    h = History(max_records=10)
    for e in range(1000):
        h.append(e, 1.0 / (e + 1), 0.0, 0.1, 0.0, [e], e)
    assert len(h) <= 11
    assert h.epoch[0] == 0 and h.epoch[-1] == 999
    assert np.all(np.diff(h.epoch) > 0)
    gaps = np.diff(h.epoch[:-1])
    assert gaps.max() == gaps.min(), "evenly thinned"


def test_long_fit_history_bounded():
    X, y = data(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = gradfit.fit(X, y, solver="gd", standardize=False, max_iter=5000)
    assert len(res.history) <= 1001 and res.history.epoch[-1] == res.n_iter


@pytest.mark.parametrize("batch_size", [None, 32])
def test_early_stopping_never_copies_X(batch_size):
    """The held-out rows are a view (weight-0 rows), not a copy: peak extra allocation stays a
    small fraction of X (it was 1.15 x X when the split copied the rows)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 20))
    y = X @ rng.normal(size=20) + rng.normal(size=200_000)
    kw = dict(early_stopping=True, batch_size=batch_size, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gradfit.fit(X, y, **kw)  # imports and caches first
        tracemalloc.start()
        try:
            gradfit.fit(X, y, **kw)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 0.3 * X.nbytes, peak / X.nbytes
