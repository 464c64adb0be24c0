"""L1 and elastic net by working sets and coordinate descent (``solver="cd"``, and what the
default ``solver="nesterov"`` runs for them in memory), against scikit-learn's Lasso and
ElasticNet (coordinate descent to tol=1e-14): coefficients, intercepts, objective, exact
zeros, weights, intercept on/off, standardize on/off; the duality-gap certificate checked
against the optimum; bad input."""

import math
import warnings

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso

import gradfit
from gradfit import GDRegressor
from gradfit.solvers import cd_kernels


def problem(seed, n=80, d=12, informative=4, weights=False, correlated=False, outputs=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    if correlated:
        X[:, 1:] = 0.9 * X[:, :1] + 0.45 * X[:, 1:]
    shape = (d,) if outputs is None else (d, outputs)
    w = np.zeros(shape)
    w[:informative] = rng.normal(size=(informative,) + shape[1:]) * 2
    y = X @ w + 1.5 + 0.5 * rng.normal(size=(n,) + shape[1:])
    sw = rng.uniform(0.2, 3.0, n) if weights else None
    return X, y, sw


def sk_ref(X, y, sw, a, l1_ratio, fit_intercept=True):
    kw = dict(alpha=a, tol=1e-14, max_iter=500_000, fit_intercept=fit_intercept)
    est = Lasso(**kw) if l1_ratio == 1 else ElasticNet(l1_ratio=l1_ratio, **kw)
    return est.fit(X, y, sample_weight=sw)


def objective(X, y, sw, coef, b, alpha, l1_ratio):
    s = np.ones(len(X)) if sw is None else sw
    r = y - X @ coef - b
    return (s @ r**2) / s.sum() + alpha * (l1_ratio * np.abs(coef).sum()
                                           + (1 - l1_ratio) / 2 * coef @ coef)


def fit(X, y, sw=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", gradfit.ConvergenceWarning)
        return gradfit.fit(X, y, sw, **kw)


CASES = [(solver, pen, d) for solver in ("cd", "nesterov") for pen in (1.0, 0.5)
         for d in (12, 300)]  # d = 300: no Gram statistics, the residual mode


@pytest.mark.parametrize("solver,l1_ratio,d", CASES)
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn(solver, l1_ratio, d, weights, fit_intercept):
    X, y, sw = problem(1, n=60 if d > 100 else 80, d=d, weights=weights)
    a = 0.15
    ref = sk_ref(X, y, sw, a, l1_ratio, fit_intercept)
    assert 0 < np.count_nonzero(ref.coef_) < d, "the oracle should have zeros and nonzeros"
    pen = "l1" if l1_ratio == 1 else "elasticnet"
    res = fit(X, y, sw, solver=solver, penalty=pen, alpha=2 * a, l1_ratio=l1_ratio,
              fit_intercept=fit_intercept)
    assert res.converged, res.stop_reason
    assert res.info["algorithm"].startswith("working sets")
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-6, atol=1e-9)
    assert np.array_equal(res.coef == 0, ref.coef_ == 0), "exact zeros where the oracle's are"
    f_ref = objective(X, y, sw, ref.coef_, ref.intercept_, 2 * a, l1_ratio)
    assert res.objective == pytest.approx(f_ref, rel=1e-12)
    assert res.objective <= f_ref * (1 + 1e-13)
    cert = res.certificate
    assert cert["method"] == "duality-gap"
    assert cert["coef_rel_error"] <= 1e-10 and cert["digits"] >= 8
    assert cert["objective_gap_rel"] <= 1e-12


@pytest.mark.parametrize("standardize", [True, False])
def test_standardize_changes_nothing_and_raw_scales_are_fine(standardize):
    X, y, _ = problem(2, d=8)
    X = X * np.logspace(-3, 3, 8) + 1e3  # columns from 1e-3 to 1e3, large offsets
    ref = sk_ref(X, y, None, 0.05, 1.0)
    res = fit(X, y, penalty="l1", alpha=0.1, standardize=standardize)
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-6)


def test_weight_two_is_a_duplicated_row():
    X, y, _ = problem(3, d=300, n=50)
    sw = np.ones(50)
    sw[:10] = 2.0
    a = fit(X, y, sw, solver="cd", penalty="l1", alpha=0.2)
    b = fit(np.vstack([X, X[:10]]), np.r_[y, y[:10]], solver="cd", penalty="l1", alpha=0.2)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-9, atol=1e-12)
    assert np.array_equal(a.coef == 0, b.coef == 0)


def test_zero_weight_rows_are_ignored():
    X, y, sw = problem(4, d=300, n=60, weights=True)
    sw[::3] = 0.0
    a = fit(X, y, sw, solver="cd", penalty="elasticnet", alpha=0.3, l1_ratio=0.7)
    keep = sw > 0
    b = fit(X[keep], y[keep], sw[keep], solver="cd", penalty="elasticnet", alpha=0.3,
            l1_ratio=0.7)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-9, atol=1e-12)


def test_correlated_features_and_a_constant_column():
    X, y, _ = problem(5, d=20, correlated=True)
    X[:, 7] = 3.0  # constant: no information, coefficient zero
    ref = sk_ref(X, y, None, 0.02, 0.8)
    res = fit(X, y, penalty="elasticnet", alpha=0.04, l1_ratio=0.8)
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-6, atol=1e-9)
    assert res.coef[7] == 0.0


def test_multi_output_is_one_problem_per_output():
    X, Y, _ = problem(6, d=30, outputs=3)
    ref = Lasso(alpha=0.1, tol=1e-14, max_iter=500_000).fit(X, Y)
    res = fit(X, Y, penalty="l1", alpha=0.2)
    assert res.coef.shape == (30, 3)
    np.testing.assert_allclose(res.coef.T, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.intercept, ref.intercept_, rtol=1e-6)
    assert res.certificate["coef_digits"].shape == (30, 3)
    total = sum(objective(X, Y[:, j], None, ref.coef_[j], ref.intercept_[j], 0.2, 1.0)
                for j in range(3))
    assert res.objective == pytest.approx(total, rel=1e-12)


def test_alpha_above_alpha_max_gives_the_mean():
    X, y, _ = problem(7)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    alpha_max = 2 * np.abs(Xc.T @ yc).max() / len(X)  # gradfit's units: 2 x scikit-learn's
    res = fit(X, y, penalty="l1", alpha=1.0001 * alpha_max)
    assert res.converged and np.all(res.coef == 0)
    assert res.intercept == pytest.approx(y.mean(), rel=1e-14)
    below = fit(X, y, penalty="l1", alpha=0.99 * alpha_max)
    assert np.count_nonzero(below.coef) == 1


# ------------------------------------------------------------------ the certificate


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-9])
def test_a_numeric_tol_is_a_relative_duality_gap_and_the_gap_is_honest(tol):
    """A fit that says converged has gap <= tol x objective, and the gap bounds the true
    distance to the optimum (from scikit-learn at tol=1e-14) from above."""
    X, y, _ = problem(8, d=300, n=100, informative=10)
    ref = sk_ref(X, y, None, 0.05, 1.0)
    f_star = objective(X, y, None, ref.coef_, ref.intercept_, 0.1, 1.0)
    res = fit(X, y, solver="cd", penalty="l1", alpha=0.1, tol=tol)
    cert = res.certificate
    assert res.converged and cert["objective_gap_rel"] <= tol
    true_gap = res.objective - f_star
    assert true_gap <= cert["duality_gap"] * (1 + 1e-9) + 1e-15 * f_star
    assert cert["duality_gap"] == pytest.approx(cert["objective_gap_rel"] * res.objective)


def test_auto_certifies_the_digits_it_reports():
    """tol="auto": the Newton step on the support bounds every coefficient's error."""
    X, y, sw = problem(9, d=300, n=100, informative=10, weights=True)
    ref = sk_ref(X, y, sw, 0.05, 0.9)
    res = fit(X, y, sw, penalty="elasticnet", alpha=0.1, l1_ratio=0.9)
    cert = res.certificate
    assert res.converged and cert["coef_rel_error"] <= 1e-10 and cert["digits"] >= 8
    err = np.abs(res.coef - ref.coef_)
    # scikit-learn's own answer is exact to about 1e-13 here; the bound holds above that
    assert np.all(err <= 10 * cert["coef_error"] + 1e-12 * np.abs(ref.coef_).max())
    assert cert["coef_error"][res.coef == 0].max() == 0.0  # zeros: no violation at all


def test_max_iter_reached_is_not_converged_and_says_so():
    X, y, _ = problem(10, d=300, n=100, informative=30, correlated=True)
    with pytest.warns(gradfit.ConvergenceWarning, match="did not converge"):
        res = gradfit.fit(X, y, solver="cd", penalty="l1", alpha=0.002, max_iter=3)
    assert not res.converged and "max_iter=3" in res.stop_reason
    assert res.certificate["objective_gap_rel"] > 0


def test_callback_sees_each_outer_iteration_and_can_stop():
    X, y, _ = problem(11, d=300, n=100, informative=10)
    seen = []

    def cb(info):
        seen.append(info)
        return len(seen) < 2

    res = gradfit.fit(X, y, solver="cd", penalty="l1", alpha=0.05, callback=cb)
    assert len(seen) == 2 and not res.converged
    assert "stopped by the callback" in res.stop_reason
    assert {"epoch", "objective", "grad_norm", "duality_gap"} <= set(seen[0])
    assert seen[1]["objective"] <= seen[0]["objective"]


def test_warm_start_from_the_solution_takes_one_epoch():
    X, y, _ = problem(12, d=300, n=100, informative=10)
    first = fit(X, y, penalty="l1", alpha=0.1)
    again = fit(X, y, penalty="l1", alpha=0.1, coef_init=first.coef,
                intercept_init=first.intercept)
    assert again.n_iter <= 2
    np.testing.assert_allclose(again.coef, first.coef, rtol=1e-12, atol=1e-15)


def test_history_and_estimator_face():
    X, y, _ = problem(13, d=300, n=100, informative=10)
    est = GDRegressor(penalty="l1", alpha=0.1).fit(X, y)
    assert est.converged_ and est.certificate_["method"] == "duality-gap"
    hist = est.history_
    assert len(hist) >= 2 and hist.objective[-1] <= hist.objective[0]
    assert est.n_iter_ == hist.epoch[-1]
    pred = est.predict(X)
    np.testing.assert_allclose(pred, X @ est.coef_ + est.intercept_)


def test_compiled_and_python_epochs_agree():
    rng = np.random.default_rng(14)
    B = rng.normal(size=(50, 9))
    Q, q = B.T @ B, B.T @ rng.normal(size=50)
    args = (3.0, 0.5, float(q @ q), 200, 1e-14, 1e-15, 20, 5)
    w1, w2 = np.zeros(9), np.zeros(9)
    none = np.zeros((0, 0), dtype=np.float32)
    g = np.empty(9)
    out1 = cd_kernels.gram_cd(Q, none, q, w1, g, g, False, *args)
    out2 = cd_kernels.PYTHON["gram_cd"](Q, none, q, w2, g.copy(), g, False, *args)
    np.testing.assert_allclose(g, Q @ w1, rtol=1e-12)  # Qw at the returned w
    np.testing.assert_allclose(w1, w2, rtol=1e-13, atol=1e-15)
    assert out1[1] == out2[1]
    # the working set's optimum: soft-thresholded stationarity
    g = q - Q @ w1 - 0.5 * w1
    assert np.all(np.abs(g[w1 == 0]) <= 3.0 + 1e-9)
    np.testing.assert_allclose(g[w1 != 0], 3.0 * np.sign(w1[w1 != 0]), atol=1e-8)


@pytest.mark.parametrize("tol", ["auto", 1e-10])
def test_float32_epochs_reach_the_float64_optimum(tol):
    """gram_cd reading a float32 copy of Q for its first epochs ends where float64 epochs
    alone end: the same coefficients to 1e-11, and the subproblem's optimality conditions,
    evaluated with the float64 Q, at rounding level (1e-12 of lam1), far below what float32
    arithmetic alone could give (its rows carry relative errors of 6e-8)."""
    rng = np.random.default_rng(15)
    B = rng.normal(size=(900, 600))
    B -= B.mean(axis=0)
    Q, q = B.T @ B, B.T @ (B[:, :30] @ rng.normal(size=30) + rng.normal(size=900))
    lam1, lam2 = 0.02 * float(np.abs(q).max()), 0.0
    auto = tol == "auto"
    args = (lam1, lam2, float(q @ q), 5000, math.inf if auto else tol, 1e-14 if auto else
            math.inf, 20, 1)
    w32, w64 = np.zeros(600), np.zeros(600)
    g32, g64 = np.empty(600), np.empty(600)
    out32 = cd_kernels.gram_cd(Q, Q.astype(np.float32), q, w32, g32, g32, False, *args)
    out64 = cd_kernels.gram_cd(Q, np.zeros((0, 0), dtype=np.float32), q, w64, g64, g64,
                               False, *args)
    np.testing.assert_allclose(g32, Q @ w32, rtol=1e-12, atol=1e-9)
    assert out32[1] == out64[1] == 1, (out32, out64)
    assert 50 < np.count_nonzero(w32) < 600
    def primal(w):  # the subproblem's objective, in numpy (float64)
        return 0.5 * float(q @ q) - float(q @ w) + 0.5 * float(w @ Q @ w) + \
            lam1 * float(np.abs(w).sum())

    if auto:
        np.testing.assert_allclose(w32, w64, rtol=1e-11, atol=1e-14)
    else:  # both within the gap target of the optimum: their objectives agree to it
        assert out32[2] <= tol * out32[3]
        assert abs(primal(w32) - primal(w64)) <= tol * primal(w64)
    c = q - Q @ w32
    on = w32 != 0
    kkt = max(np.abs(c[on] - lam1 * np.sign(w32[on])).max(),
              max(np.abs(c[~on]).max() - lam1, 0.0))
    assert kkt <= (1e-12 if auto else 1e-4) * lam1, kkt
    if auto:  # the bound tells the two apart: the optimum of the rounded Q misses it
        w_r = np.zeros(600)
        Q_r = Q.astype(np.float32).astype(np.float64)
        g_r = np.empty(600)
        cd_kernels.gram_cd(Q_r, np.zeros((0, 0), dtype=np.float32), q, w_r, g_r, g_r, False,
                           *args)
        c_r = q - Q @ w_r
        on_r = w_r != 0
        assert np.abs(c_r[on_r] - lam1 * np.sign(w_r[on_r])).max() > 1e-9 * lam1


@pytest.mark.parametrize("single", [False, True])
def test_a_known_qw_is_carried_to_the_next_solve(single):
    """gram_cd given Qw at an earlier w (has_g) multiplies only the move: the next solve
    (a smaller lam1, from a moved start) ends where one that recomputes Qw ends, and the g it
    returns is Qw at its w."""
    rng = np.random.default_rng(16)
    B = rng.normal(size=(800, 520))
    B -= B.mean(axis=0)
    Q, q = B.T @ B, B.T @ (B[:, :25] @ rng.normal(size=25) + rng.normal(size=800))
    Q32 = Q.astype(np.float32) if single else np.zeros((0, 0), dtype=np.float32)
    top = float(np.abs(q).max())
    w, g = np.zeros(520), np.empty(520)
    rest = (float(q @ q), 5000, math.inf, 1e-14, 20, 1)
    cd_kernels.gram_cd(Q, Q32, q, w, g, g, False, 0.1 * top, 0.0, *rest)
    g_w = w.copy()
    start = w * 1.01  # a move, as the path's extrapolated start makes
    carried, fresh = start.copy(), start.copy()
    g_fresh = np.empty(520)
    out_c = cd_kernels.gram_cd(Q, Q32, q, carried, g, g_w, True, 0.05 * top, 0.0, *rest)
    out_f = cd_kernels.gram_cd(Q, Q32, q, fresh, g_fresh, g_fresh, False, 0.05 * top, 0.0,
                               *rest)
    assert out_c[1] == out_f[1] == 1
    np.testing.assert_allclose(carried, fresh, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(g, Q @ carried, rtol=1e-11, atol=1e-9)


def test_gram_rows_is_the_gram_columns_product():
    """The correlations' sum of Gram rows (compiled, and numpy's fallback) against
    G[:, idx] @ w, zeros in w skipped."""
    rng = np.random.default_rng(17)
    B = rng.normal(size=(60, 40))
    G = B.T @ B
    idx = rng.permutation(40)[:25]
    w = rng.normal(size=25) * (rng.random(25) < 0.6)
    want = G[:, idx] @ w
    np.testing.assert_allclose(cd_kernels.gram_rows(G, idx, w), want, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(cd_kernels.PYTHON["gram_rows"](G, idx, w), want, rtol=1e-13,
                               atol=1e-12)
    assert not cd_kernels.gram_rows(G, idx, np.zeros(25)).any()


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("d", [1, 63, 64, 65, 200])
def test_mirror_upper_makes_the_upper_triangle_symmetric(monkeypatch, compiled, d):
    """The Gram's mirroring (tiles of 64, and numpy's fallback without numba) against
    numpy's triu: every size around a tile's edge."""
    rng = np.random.default_rng(d)
    U = np.triu(rng.normal(size=(d, d)))
    G = np.asfortranarray(U + np.tril(rng.normal(size=(d, d)), -1))  # junk below
    monkeypatch.setattr(cd_kernels, "_COMPILED", compiled and cd_kernels._COMPILED)
    cd_kernels.mirror_upper(G)
    np.testing.assert_array_equal(G, U + np.triu(U, 1).T)


# ------------------------------------------------------------------ where it does not run


@pytest.mark.parametrize("kw,match", [
    (dict(batch_size=16), "full batches"),
    (dict(early_stopping=True), "full batches"),
    (dict(loss="huber"), "squared loss"),
])
def test_cd_says_what_it_cannot_do(kw, match):
    X, y, _ = problem(15)
    with pytest.raises(ValueError, match=match):
        gradfit.fit(X, y, solver="cd", penalty="l1", alpha=0.1, **kw)


def test_cd_needs_data_in_memory(tmp_path):
    X, y, _ = problem(16)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",",
               header=",".join([f"x{j}" for j in range(X.shape[1])] + ["y"]), comments="")
    with pytest.raises(ValueError, match="in memory"):
        gradfit.fit_files(str(path), "y", solver="cd", penalty="l1", alpha=0.1)
    res = gradfit.fit_files(str(path), "y", penalty="l1", alpha=0.1, max_iter=5000)
    assert "algorithm" not in res.info  # files: the FISTA loop


def test_cd_has_no_partial_fit():
    est = GDRegressor(solver="cd", penalty="l1", alpha=0.1)
    assert not hasattr(est, "partial_fit")


def test_the_fista_loop_stays_where_the_user_asks_for_it():
    X, y, _ = problem(17)
    for kw in (dict(batch_size=10, random_state=0), dict(learning_rate="backtracking"),
               dict(solver="gd")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gradfit.fit(X, y, penalty="l1", alpha=0.1, **kw)
        assert "algorithm" not in res.info, kw

