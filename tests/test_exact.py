"""The closed-form solver: NIST StRD accuracy, agreement with numpy/scikit-learn, the blocked
(big-n) path, the mergeable sufficient statistics, and rank-deficient inputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from conftest import NIST_NAMES, digits, nist_xy, nist_xy_extended
from gradfit.solvers import exact
from gradfit.solvers.exact import (
    GramStats,
    accumulate_stats,
    block_stats,
    iter_blocks,
    solve_exact,
    solve_from_gram,
)

EXACT_FITS = {"Wampler1", "Wampler2"}  # certified standard deviations are all 0


# --------------------------------------------------------------------------- helpers


_nist_extended = nist_xy_extended


def _exact_lstsq(A, y):
    """Least squares of the given float data in exact rational arithmetic (normal equations,
    Gaussian elimination): the best any solver can return for these float inputs."""
    F = [[Fraction(float(v)) for v in col] for col in np.asarray(A).T]
    Y = [Fraction(float(v)) for v in y]
    p = len(F)
    M = [[sum(a * b for a, b in zip(F[i], F[j])) for j in range(p)]
         + [sum(a * b for a, b in zip(F[i], Y))] for i in range(p)]
    for k in range(p):
        piv = next(i for i in range(k, p) if M[i][k] != 0)
        M[k], M[piv] = M[piv], M[k]
        for i in range(k + 1, p):
            f = M[i][k] / M[k][k]
            M[i] = [a - f * b for a, b in zip(M[i], M[k])]
    x = [Fraction(0)] * p
    for k in reversed(range(p)):
        x[k] = (M[k][p] - sum(M[k][j] * x[j] for j in range(k + 1, p))) / M[k][k]
    return np.array([float(v) for v in x])


def _estimate(coef, intercept, fit_intercept):
    return np.r_[intercept, coef] if fit_intercept else np.asarray(coef)


def _with_ones(X, fit_intercept):
    return np.column_stack([np.ones(len(X)), X]) if fit_intercept else X


def _problem(n=300, d=5, k=None, seed=0, offset=50.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 20, d) + rng.uniform(-offset, offset, d)
    shape = (d,) if k is None else (d, k)
    y = X @ rng.normal(size=shape) + 2.5 + rng.normal(size=(n,) if k is None else (n, k))
    return X, y, rng


METHODS = [pytest.param({"method": "dense"}, id="dense"),
           pytest.param({"method": "blocked", "block_rows": 37}, id="blocked")]


# --------------------------------------------------------------------------- NIST StRD


@pytest.mark.skipif(not exact._LONGDOUBLE_IS_EXTENDED,
                    reason="long double is 64-bit here: NIST's data cannot be held exactly enough")
@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_certified_digits(name):
    """>= 9 correct digits on every certified parameter, given the data at NIST's precision."""
    X, y, fit_intercept, beta = _nist_extended(name)
    coef, intercept, info = solve_exact(X, y, fit_intercept=fit_intercept)
    est = _estimate(coef, intercept, fit_intercept)
    assert digits(est, beta).min() >= 9, (digits(est, beta), info)
    if name in EXACT_FITS:
        np.testing.assert_allclose(est, beta, rtol=0, atol=1e-9)


@pytest.mark.skipif(not exact._LONGDOUBLE_IS_EXTENDED, reason="long double is 64-bit here")
@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_certified_digits_longdouble_arithmetic(name, monkeypatch):
    """The medium-size path (long double residuals instead of exact ones) also reaches 9."""
    monkeypatch.setattr(exact, "_EXACT_MAX_CELLS", 0)
    X, y, fit_intercept, beta = _nist_extended(name)
    coef, intercept, info = solve_exact(X, y, fit_intercept=fit_intercept)
    assert info["arithmetic"] == "longdouble"
    assert digits(_estimate(coef, intercept, fit_intercept), beta).min() >= 9


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_float64_is_exact_least_squares(name):
    """With the float64 design matrix of conftest.nist_xy the answer is the exact least-squares
    solution of those floats; that reaches >= 9 certified digits everywhere except Filip, whose
    float64-rounded powers x**k themselves only determine ~7.6 digits (exact rational
    arithmetic on them gives 7.61-7.74)."""
    X, y, fit_intercept, beta, _, _ = nist_xy(name)
    coef, intercept, info = solve_exact(X, y, fit_intercept=fit_intercept)
    est = _estimate(coef, intercept, fit_intercept)
    assert np.all(np.isfinite(est)) and info["rank"] == X.shape[1]
    truth = _exact_lstsq(_with_ones(X, fit_intercept), y)
    assert digits(est, truth).min() >= 14
    assert digits(est, beta).min() >= (7.5 if name == "Filip" else 9)
    if name in EXACT_FITS:
        np.testing.assert_allclose(est, beta, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- against numpy


@pytest.mark.parametrize("kw", METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_lstsq(kw, fit_intercept):
    X, y, _ = _problem()
    coef, intercept, info = solve_exact(X, y, fit_intercept=fit_intercept, **kw)
    ref = np.linalg.lstsq(_with_ones(X, fit_intercept), y, rcond=None)[0]
    np.testing.assert_allclose(_estimate(coef, intercept, fit_intercept), ref, rtol=1e-10)
    assert coef.shape == (5,) and isinstance(intercept, float)
    assert intercept == 0.0 or fit_intercept
    assert {"method", "rank", "refinement_steps"} <= set(info)


@pytest.mark.parametrize("kw", METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_weight_two_equals_duplicated_row(kw, fit_intercept):
    X, y, rng = _problem(n=120)
    sw = rng.integers(0, 3, size=len(y)).astype(float)  # 0, 1 or 2 copies of each row
    idx = np.repeat(np.arange(len(y)), sw.astype(int))
    c1, b1, _ = solve_exact(X, y, sw, fit_intercept=fit_intercept, **kw)
    c2, b2, _ = solve_exact(X[idx], y[idx], fit_intercept=fit_intercept, **kw)
    np.testing.assert_allclose(c1, c2, rtol=1e-11)
    np.testing.assert_allclose(b1, b2, rtol=1e-11, atol=1e-12)
    ref = np.linalg.lstsq(_with_ones(X[idx], fit_intercept), y[idx], rcond=None)[0]
    np.testing.assert_allclose(_estimate(c1, b1, fit_intercept), ref, rtol=1e-10)


@pytest.mark.parametrize("kw", METHODS)
def test_multi_output(kw):
    X, Y, rng = _problem(k=3)
    sw = rng.uniform(0.1, 2.0, len(Y))
    coef, intercept, _ = solve_exact(X, Y, sw, **kw)
    assert coef.shape == (5, 3) and intercept.shape == (3,)
    for j in range(3):
        cj, bj, _ = solve_exact(X, Y[:, j], sw, **kw)
        np.testing.assert_allclose(coef[:, j], cj, rtol=1e-12)
        np.testing.assert_allclose(intercept[j], bj, rtol=1e-12)
    col, inter, _ = solve_exact(X, Y[:, :1], sw, **kw)
    assert col.shape == (5, 1) and inter.shape == (1,)


@pytest.mark.parametrize("method", ["dense", "blocked"])
def test_arithmetics_agree(method):
    """Exact, long-double and float64 refinement give the same answer on a well-conditioned
    problem (to their precision), and "auto" takes the cheap one there."""
    X, y, rng = _problem(n=200, d=4)
    sw = rng.uniform(0, 3, len(y))
    got = {a: solve_exact(X, y, sw, alpha=0.3, method=method, arithmetic=a)
           for a in ("exact", "longdouble", "float64", "auto")}
    assert {a: r[2]["arithmetic"] for a, r in got.items()} == {
        "exact": "exact", "longdouble": "longdouble", "float64": "float64",
        "auto": "longdouble"}
    for a in ("longdouble", "float64"):
        np.testing.assert_allclose(got[a][0], got["exact"][0], rtol=1e-13)
        np.testing.assert_allclose(got[a][1], got["exact"][1], rtol=1e-13)


def test_ill_conditioned_tiny_data_take_exact_arithmetic():
    X, y, fit_intercept, beta, _, _ = nist_xy("Wampler4")
    _, _, info = solve_exact(X, y, fit_intercept=fit_intercept)
    assert info["arithmetic"] == "exact" and info["cond"] * np.finfo(float).eps > 1e-13


# --------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("kw", METHODS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [1e-3, 0.7, 50.0])
def test_ridge_matches_sklearn(kw, fit_intercept, alpha):
    X, Y, rng = _problem(n=150, d=6, k=2)
    sw = rng.uniform(0.2, 3.0, len(Y))
    coef, intercept, _ = solve_exact(X, Y, sw, fit_intercept=fit_intercept, alpha=alpha, **kw)
    ref = Ridge(alpha=alpha * sw.sum() / 2, fit_intercept=fit_intercept, solver="svd")
    ref.fit(X, Y, sample_weight=sw)
    np.testing.assert_allclose(coef, ref.coef_.T, rtol=1e-8)
    np.testing.assert_allclose(intercept, ref.intercept_ if fit_intercept else 0.0, rtol=1e-8)


def test_ridge_does_not_penalise_intercept():
    X, y, _ = _problem(n=100, d=3)
    coef, intercept, _ = solve_exact(X, y + 1000.0, alpha=1e6)
    assert np.abs(coef).max() < 1e-3
    np.testing.assert_allclose(intercept, np.mean(y + 1000.0) - X.mean(axis=0) @ coef,
                               rtol=1e-12)


# --------------------------------------------------------------------------- blocked path


@pytest.fixture(scope="module")
def tall():
    rng = np.random.default_rng(7)
    n, d = 50_000, 8
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 100, d) + rng.uniform(-1e3, 1e3, d)
    y = X @ rng.normal(size=d) + 5.0 + rng.normal(size=n)
    return X, y, rng.uniform(0.0, 3.0, n)


def test_auto_takes_the_gram_factor_when_the_condition_allows(tall):
    X, y, _ = tall
    assert solve_exact(X, y)[2]["method"] == "gram-cholesky"
    assert solve_exact(X[:1000], y[:1000])[2]["method"] == "gram-cholesky"
    assert solve_exact(X[:1000], y[:1000], method="dense")[2]["method"] == "tsqr"


def _assert_paths_agree(X, y, rtol, **kw):
    cd, bd, info_d = solve_exact(X, y, method="dense", **kw)
    cb, bb, info_b = solve_exact(X, y, method="blocked", **kw)
    scale = np.abs(cd).max()
    np.testing.assert_allclose(cb, cd, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(bb, bd, rtol=rtol, atol=rtol * scale * np.abs(X).max())
    return info_b


def test_blocked_equals_dense(tall):
    X, y, sw = tall
    Y = np.column_stack([y, -3 * y + X[:, 0]])
    info = _assert_paths_agree(X, Y, 1e-12, sample_weight=sw)
    assert info["method"] == "gram-cholesky" and info["refinement_steps"] >= 1
    _assert_paths_agree(X, y, 1e-12, fit_intercept=False, alpha=1e-4)


def test_blocked_float32(tall):
    X, y, _ = tall
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    info = _assert_paths_agree(X32, y32, 1e-12)
    assert info["method"] == "gram-cholesky"
    # float32 data are solved in float64: far better than float32 arithmetic would be
    ref = np.linalg.lstsq(_with_ones(X32.astype(float), True), y32.astype(float), rcond=None)[0]
    coef, intercept, _ = solve_exact(X32, y32)
    np.testing.assert_allclose(np.r_[intercept, coef], ref, rtol=1e-9)


def test_blocked_ill_conditioned_falls_back_to_tsqr():
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 1, 50_000)
    X = np.column_stack([t**k for k in range(1, 9)])  # cond of the scaled matrix ~ 5e5
    y = np.sin(3 * t) + 0.01 * rng.normal(size=len(t))
    info = _assert_paths_agree(X, y, 1e-7)
    assert info["method"] == "tsqr" and info["cond"] > 1e5


# --------------------------------------------------------------------------- statistics


def _split(n, rng, pieces):
    cuts = np.sort(rng.choice(np.arange(1, n), size=pieces - 1, replace=False))
    return np.split(np.arange(n), cuts)


def test_stats_merge_equals_single_pass():
    X, Y, rng = _problem(n=500, d=4, k=2)
    sw = rng.uniform(0, 2, len(Y))
    sw[100:140] = 0.0  # a block of zero weight
    whole = block_stats(X, Y, sw)
    parts = [idx for idx in _split(len(Y), rng, 7)] + [np.arange(0)]
    parts.insert(2, np.arange(100, 140))
    rest = np.setdiff1d(np.arange(len(Y)), np.arange(100, 140))
    blocks = [(X[i], Y[i], sw[i]) for i in [p[np.isin(p, rest)] for p in parts]]
    blocks.insert(3, (X[100:140], Y[100:140], sw[100:140]))
    merged = accumulate_stats(blocks)
    assert merged.n_rows == whole.n_rows == len(Y)
    np.testing.assert_allclose(merged.weight, whole.weight, rtol=1e-14)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.cross, whole.cross, rtol=1e-12, atol=1e-9)
    # merging is order independent, and the empty statistics are neutral
    rev = accumulate_stats(reversed(blocks))
    np.testing.assert_allclose(rev.cross, whole.cross, rtol=1e-12, atol=1e-9)
    empty = GramStats.empty(4, 2, y_1d=False)
    assert np.array_equal(empty.merge(whole).cross, whole.cross)
    assert whole.gram.shape == (4, 4) and whole.xty.shape == (4, 2) and whole.yty.shape == (2, 2)


@pytest.mark.parametrize("weights", [False, True])
def test_threaded_statistics_are_the_one_thread_bits(monkeypatch, weights):
    """The Gram statistics computed on several threads are merged in the blocks' order: the
    same bits as one thread (and gram_pass takes the threads from THREADED_MIN_CELLS on)."""
    from gradfit.model import gram
    from gradfit.model.backend import InMemory

    X, Y, rng = _problem(n=5000, d=6, k=2)
    sw = rng.uniform(0, 2, len(Y)) if weights else None
    one = accumulate_stats(iter_blocks(X, Y, sw, block_rows=300))
    for threads in (2, 3):
        many = accumulate_stats(iter_blocks(X, Y, sw, block_rows=300), threads)
        for field in ("n_rows", "weight", "mean", "cross"):
            assert np.array_equal(getattr(many, field), getattr(one, field)), field
    serial = gram.gram_pass(InMemory(X, Y, sw))
    monkeypatch.setattr(gram, "stats_threads", lambda X: 3)  # threads even on a 1-core machine
    threaded = gram.gram_pass(InMemory(X, Y, sw))
    assert np.array_equal(threaded.cross, serial.cross)
    assert np.array_equal(threaded.mean, serial.mean)


def test_stats_match_definition():
    X, y, rng = _problem(n=300, d=3)
    sw = rng.uniform(0, 2, len(y))
    st = accumulate_stats(iter_blocks(X, y, sw, block_rows=64))
    mx, my = sw @ X / sw.sum(), sw @ y / sw.sum()
    Xc, yc = X - mx, y - my
    np.testing.assert_allclose(st.mean_x, mx, rtol=1e-13)
    np.testing.assert_allclose(st.mean_y, [my], rtol=1e-13)
    np.testing.assert_allclose(st.gram, Xc.T @ (sw[:, None] * Xc), rtol=1e-11)
    np.testing.assert_allclose(st.xty[:, 0], Xc.T @ (sw * yc), rtol=1e-10)
    np.testing.assert_allclose(st.yty[0, 0], yc @ (sw * yc), rtol=1e-11)


def test_stats_merge_rejects_mismatch():
    with pytest.raises(ValueError):
        GramStats.empty(3).merge(GramStats.empty(4))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_solve_from_gram(fit_intercept, alpha):
    X, Y, rng = _problem(n=400, d=5, k=2)
    sw = rng.uniform(0, 2, len(Y))
    stats = accumulate_stats(iter_blocks(X, Y, sw, block_rows=50))
    coef, intercept, info = solve_from_gram(stats, alpha, fit_intercept=fit_intercept)
    ref_c, ref_b, _ = solve_exact(X, Y, sw, fit_intercept=fit_intercept, alpha=alpha)
    np.testing.assert_allclose(coef, ref_c, rtol=1e-9)
    np.testing.assert_allclose(intercept, ref_b, rtol=1e-9, atol=1e-12)
    assert info["refinement_steps"] == 0 and info["rank"] == 5
    c1, b1, _ = solve_from_gram(accumulate_stats(iter_blocks(X, Y[:, 0], sw, 50)), alpha,
                                fit_intercept=fit_intercept)
    assert c1.shape == (5,) and isinstance(b1, float)


def test_solve_from_gram_singular_is_finite():
    X, y, _ = _problem(n=200, d=3)
    X = np.column_stack([X, X[:, 0], np.full(len(y), 4.0)])
    coef, intercept, info = solve_from_gram(block_stats(X, y))
    assert np.all(np.isfinite(coef)) and np.isfinite(intercept)
    assert info["rank"] == 3 and coef[4] == 0.0
    np.testing.assert_allclose(coef[0], coef[3], rtol=1e-6)


# --------------------------------------------------------------------------- degenerate X


@pytest.mark.parametrize("kw", METHODS)
def test_constant_column_gets_zero(kw):
    X, y, _ = _problem(n=200, d=3)
    Xk = np.column_stack([X[:, :1], np.full(len(y), 0.1), X[:, 1:]])
    coef, intercept, info = solve_exact(Xk, y, **kw)
    ref, ref_b, _ = solve_exact(X, y, **kw)
    assert coef[1] == 0.0 and info["rank"] == 3
    np.testing.assert_allclose(np.delete(coef, 1), ref, rtol=1e-12)
    np.testing.assert_allclose(intercept, ref_b, rtol=1e-12)


@pytest.mark.parametrize("kw", METHODS)
def test_rank_deficient_is_finite_minimum_norm(kw):
    X, y, _ = _problem(n=200, d=3)
    Xd = np.column_stack([X, X[:, 0], X[:, 1] - 2 * X[:, 2]])
    coef, intercept, info = solve_exact(Xd, y, **kw)
    assert np.all(np.isfinite(coef)) and np.isfinite(intercept) and info["rank"] == 3
    np.testing.assert_allclose(coef[0], coef[3], rtol=1e-8)  # equal columns share the weight
    fitted = Xd @ coef + intercept
    ref = np.linalg.lstsq(_with_ones(X, True), y, rcond=None)[0]
    np.testing.assert_allclose(fitted, _with_ones(X, True) @ ref, rtol=1e-9)


def test_more_features_than_rows_interpolates():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(6, 10)), rng.normal(size=6)
    coef, intercept, info = solve_exact(X, y)
    assert np.all(np.isfinite(coef)) and info["rank"] == 5
    np.testing.assert_allclose(X @ coef + intercept, y, atol=1e-12)
    ref = np.linalg.lstsq(X - X.mean(axis=0), y - y.mean(), rcond=None)[0]
    assert np.linalg.norm(coef) <= np.linalg.norm(ref) * 10  # minimum norm, up to scaling


@pytest.mark.parametrize("kw", METHODS)
def test_all_constant_and_single_row(kw):
    X = np.full((50, 2), 3.0)
    y = np.arange(50.0)
    sw = np.linspace(0, 1, 50)
    coef, intercept, info = solve_exact(X, y, sw, **kw)
    assert np.array_equal(coef, [0.0, 0.0]) and info["rank"] == 0
    np.testing.assert_allclose(intercept, sw @ y / sw.sum(), rtol=1e-14)
    coef, intercept, _ = solve_exact(np.array([[1.0, 2.0]]), np.array([4.0]), **kw)
    assert np.array_equal(coef, [0.0, 0.0]) and intercept == 4.0


def test_bad_method():
    with pytest.raises(ValueError):
        solve_exact(np.ones((3, 1)), np.ones(3), method="svd")
