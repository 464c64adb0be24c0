"""``gradfit.lasso_path``: the L1 / elastic-net fits on a grid of alphas with warm starts,
against scikit-learn's ``enet_path`` (coefficients, exact zeros) and single fits (Lasso with
weights, several outputs); bad grids get clear errors."""

import numpy as np
import pytest

import gradfit
from test_lasso import fit, problem, sk_ref


@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
@pytest.mark.parametrize("d", [15, 300])
def test_path_matches_sklearn_enet_path(l1_ratio, d):
    from sklearn.linear_model import enet_path

    X, y, _ = problem(20, n=90, d=d, informative=6)
    Xc, yc = X - X.mean(axis=0), y - y.mean()  # scikit-learn's path fits no intercept
    grid_sk = _sk_grid(Xc, yc, l1_ratio, 25, 1e-2)
    _, ref, _ = enet_path(Xc, yc, l1_ratio=l1_ratio, alphas=grid_sk, tol=1e-14,
                          max_iter=500_000)
    path = gradfit.lasso_path(X, y, alphas=2 * grid_sk, l1_ratio=l1_ratio)
    assert path.converged.all() and path.coef.shape == (25, d)
    np.testing.assert_allclose(path.alphas, 2 * grid_sk)
    np.testing.assert_allclose(path.coef, ref.T, rtol=1e-6, atol=1e-9)
    assert np.array_equal(path.coef == 0, ref.T == 0)
    np.testing.assert_allclose(path.intercept, y.mean() - path.coef @ X.mean(axis=0),
                               rtol=1e-12)
    assert np.all(path.duality_gap <= 1e-10)
    # each point is the fit of that alpha alone
    one = fit(X, y, penalty="l1" if l1_ratio == 1 else "elasticnet", alpha=path.alphas[12],
              l1_ratio=l1_ratio)
    np.testing.assert_allclose(one.coef, path.coef[12], rtol=1e-8, atol=1e-11)
    assert one.objective == pytest.approx(path.objective[12], rel=1e-12)


def _sk_grid(Xc, yc, l1_ratio, n_alphas, eps):
    alpha_max = np.abs(Xc.T @ yc).max() / (len(Xc) * l1_ratio)
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


def test_path_default_grid_weights_and_outputs():
    X, Y, sw = problem(21, n=70, d=40, informative=5, weights=True, outputs=2)
    path = gradfit.lasso_path(X, Y, 12, sample_weight=sw, eps=1e-2)
    assert path.coef.shape == (12, 40, 2) and path.intercept.shape == (12, 2)
    assert np.all(path.coef[0] == 0), "the grid starts at alpha_max: all zeros"
    assert np.all(np.diff(path.alphas) < 0)
    for i in (3, 11):
        for j in range(2):
            ref = sk_ref(X, Y[:, j], sw, path.alphas[i] / 2, 1.0)
            np.testing.assert_allclose(path.coef[i, :, j], ref.coef_, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(path.intercept[i, j], ref.intercept_, rtol=1e-6)


def test_path_sorts_the_grid_and_says_what_is_wrong():
    X, y, _ = problem(22)
    path = gradfit.lasso_path(X, y, alphas=[0.01, 0.5, 0.1], fit_intercept=False)
    np.testing.assert_array_equal(path.alphas, [0.5, 0.1, 0.01])
    assert np.all(path.intercept == 0)
    with pytest.raises(ValueError, match=r"alphas\[1\] = -1"):
        gradfit.lasso_path(X, y, alphas=[0.1, -1.0])
    with pytest.raises(ValueError, match="empty"):
        gradfit.lasso_path(X, y, alphas=[])
    with pytest.raises(ValueError, match="at least one"):
        gradfit.lasso_path(X, y, alphas=0)
    with pytest.raises(ValueError, match="numbers"):
        gradfit.lasso_path(X, y, alphas=["a"])
    with pytest.raises(ValueError, match="l1_ratio"):
        gradfit.lasso_path(X, y, l1_ratio=0.0)
    with pytest.raises(ValueError, match="y must have"):
        gradfit.lasso_path(X, y[:-1])


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_path_on_tall_data_forms_the_gram_once_and_agrees(monkeypatch, fit_intercept):
    """n >= d beyond the Gram statistics' limit (d = 300): a grid reaching below
    PATH_GRAM_DENSE x alpha_max forms X~'X~ in one pass first (as scikit-learn's
    precompute="auto"); one that stays above it crosses a share of the features in batches
    first; with weights.  The fits are scikit-learn's Lasso at those alphas, the same whether
    the Gram is formed at once, after some batches or never."""
    from gradfit.fitting import path as path_module

    X, y, sw = problem(23, n=400, d=300, informative=8, weights=True)
    grid = gradfit.lasso_path(X, y, 10, sample_weight=sw, eps=2e-3,
                              fit_intercept=fit_intercept).alphas

    def run():
        return gradfit.lasso_path(X, y, grid, sample_weight=sw, fit_intercept=fit_intercept)

    once = run()  # the grid goes down to 2e-3 alpha_max: the Gram at once
    assert once.converged.all() and once.info["passes"] == 2, once.info  # X~'y~, X~'X~
    monkeypatch.setattr(path_module, "PATH_GRAM_DENSE", 0.0)
    batches = run()
    monkeypatch.setattr(path_module, "PATH_GRAM_MAX_D", 0)
    crossed = run()
    assert crossed.info["passes"] > batches.info["passes"] > 2  # some batches, then the Gram
    assert max(np.count_nonzero(c) for c in batches.coef) > 300 * path_module.PATH_GRAM_SHARE
    for other in (batches, crossed):
        np.testing.assert_allclose(once.coef, other.coef, rtol=1e-9, atol=1e-12)
    for i in (4, 9):
        ref = sk_ref(X, y, sw, grid[i] / 2, 1.0, fit_intercept=fit_intercept)
        np.testing.assert_allclose(once.coef[i], ref.coef_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(once.intercept[i], ref.intercept_, rtol=1e-6, atol=1e-9)


def test_a_path_that_stays_sparse_never_forms_the_gram(monkeypatch):
    """A grid above PATH_GRAM_DENSE x alpha_max on tall data with few relevant features:
    the working sets stay small, so only their columns are crossed (no d x d Gram)."""
    from gradfit.solvers import working_set

    X, y, _ = problem(24, n=600, d=400, informative=3)
    top = gradfit.lasso_path(X, y, 1).alphas[0]
    formed = []
    real = working_set.Columns.full_gram
    monkeypatch.setattr(working_set.Columns, "full_gram",
                        lambda cols: formed.append(1) or real(cols))
    path = gradfit.lasso_path(X, y, np.geomspace(top, 0.3 * top, 5))
    assert not formed
    assert path.converged.all()
    assert max(np.count_nonzero(c) for c in path.coef) < 400 * 0.125
    assert path.info["passes"] > 1  # batches crossed, but never the whole Gram
    ref = sk_ref(X, y, None, path.alphas[-1] / 2, 1.0)
    np.testing.assert_allclose(path.coef[-1], ref.coef_, rtol=1e-6, atol=1e-9)


def test_a_path_with_big_working_sets_reads_float32_rows_and_keeps_its_digits(monkeypatch):
    """Working sets of at least SINGLE_MIN_M features keep a float32 copy of Q for their
    first epochs: the path is the float64-only path's (coefficients to 1e-10) and
    scikit-learn's Lasso at its last, densest alpha."""
    from gradfit.solvers import working_set

    X, y, _ = problem(25, n=1500, d=700, informative=40)
    grid = gradfit.lasso_path(X, y, 12, eps=3e-3).alphas
    mixed = gradfit.lasso_path(X, y, grid)
    assert max(mixed.info["working_set"], 0) >= working_set.SINGLE_MIN_M
    monkeypatch.setattr(working_set, "SINGLE_MIN_M", 10**9)
    plain = gradfit.lasso_path(X, y, grid)
    assert mixed.converged.all() and plain.converged.all()
    np.testing.assert_allclose(mixed.coef, plain.coef, rtol=1e-10, atol=1e-13)
    ref = sk_ref(X, y, None, grid[-1] / 2, 1.0)
    np.testing.assert_allclose(mixed.coef[-1], ref.coef_, rtol=1e-6, atol=1e-9)


def test_the_extrapolated_start_moves_only_the_start(monkeypatch):
    """Each alpha starts from the linear extrapolation of the last two fits (the lasso path
    is piecewise linear in alpha): a coefficient never crosses zero there and a zero stays
    zero; the fits are those of plain warm starts (to 1e-10) and scikit-learn's."""
    from types import SimpleNamespace

    from gradfit.fitting import path as path_module

    ws = SimpleNamespace(idx=np.array([0, 1, 2, 3, 4]), w=np.zeros(5))
    path_module._extrapolated_start(ws, np.array([1.0, 0.8, 0.0, 2.0, 1.0]),
                                    np.array([2.0, 0.2, 0.0, 0.0, 0.6]), 0.5)
    # linear; would cross zero; zero; left the support; shrinking but still positive
    np.testing.assert_allclose(ws.w, [2.5, 0.0, 0.0, 0.0, 0.4], rtol=1e-15)
    X, y, sw = problem(26, n=300, d=120, informative=10, weights=True)
    grid = gradfit.lasso_path(X, y, 30, sample_weight=sw).alphas
    moved = gradfit.lasso_path(X, y, grid, sample_weight=sw)
    monkeypatch.setattr(path_module, "_extrapolated_start", lambda *a: None)
    plain = gradfit.lasso_path(X, y, grid, sample_weight=sw)
    assert moved.converged.all() and plain.converged.all()
    np.testing.assert_allclose(moved.coef, plain.coef, rtol=1e-10, atol=1e-13)
    ref = sk_ref(X, y, sw, grid[-1] / 2, 1.0)
    np.testing.assert_allclose(moved.coef[-1], ref.coef_, rtol=1e-6, atol=1e-9)
