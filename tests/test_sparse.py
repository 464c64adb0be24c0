"""scipy.sparse X: every solver on CSR/CSC rows gives the dense fit of the same data (to
1e-10), the closed form agrees with numpy's lstsq and scikit-learn's Ridge, and a fit never
makes X dense (tracemalloc)."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge

import gradfit
from gradfit import GDRegressor, InputError
from gradfit.data.sparse import SparseBackend

TOL = 1e-10


def _data(n=300, d=12, density=0.25, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, random_state=seed, format="csr")
    X.data = rng.standard_normal(X.nnz) + 1.0  # nonzero column means: the centring matters
    w = rng.standard_normal((d, k))
    Y = X @ w + 2.0 + 0.3 * rng.standard_normal((n, k))
    return X, (Y[:, 0] if k == 1 else Y), rng.uniform(0.5, 2.0, n)


def _close(a, b, tol=TOL):
    """Relative agreement of two FitResults' coefficients and intercepts."""
    scale = max(np.abs(b.coef).max(), 1.0)
    np.testing.assert_allclose(a.coef, b.coef, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(a.intercept, b.intercept, rtol=0,
                               atol=tol * max(np.abs(b.intercept).max(), 1.0))


def _pair(X, y, **params):
    params.setdefault("random_state", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = gradfit.fit(X, y, **params)
        b = gradfit.fit(X.toarray(), y, **params)
    return a, b


FIRST_ORDER = ["gd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]
ADAPTIVE = ("adam", "rmsprop", "adagrad")
PENALTIES = [dict(), dict(penalty="l2", alpha=0.05), dict(penalty="l1", alpha=0.02),
             dict(penalty="elasticnet", alpha=0.02, l1_ratio=0.5)]


@pytest.mark.parametrize("solver", FIRST_ORDER)
@pytest.mark.parametrize("penalty", PENALTIES, ids=["none", "l2", "l1", "enet"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_first_order_same_path_as_dense(solver, penalty, batch_size):
    """The same steps (fixed count, same generator stream) from CSR rows and dense rows."""
    X, y, sw = _data()
    if solver == "nesterov" and batch_size is None and penalty.get("penalty") in (
            "l1", "elasticnet"):  # the proximal loop on both (dense rows: not working sets)
        penalty = dict(penalty, learning_rate="backtracking")
    a, b = _pair(X, y, solver=solver, batch_size=batch_size, max_iter=12, random_state=3,
                 sample_weight=sw, **penalty)
    assert a.n_iter == b.n_iter
    if solver in ADAPTIVE and batch_size is None:
        # the centred intercept starts at its optimum (the mean of y) and its gradient is 0
        # in exact arithmetic all along; Adam, RMSprop and Adagrad divide its rounding noise
        # (1e-16, summed in another order from CSR rows) by sqrt(v) + eps, so the intercept
        # wanders by noise x lr / eps on dense rows too: the coefficients are compared
        np.testing.assert_allclose(a.coef, b.coef, rtol=0, atol=TOL * np.abs(b.coef).max())
        return
    _close(a, b)


@pytest.mark.parametrize("penalty", PENALTIES[2:], ids=["l1", "enet"])
def test_l1_default_solver_reaches_the_dense_optimum(penalty):
    """The default solver with an L1 part: proximal Nesterov on CSR rows, working sets on
    dense rows; both certified at the optimum, so they agree to the certificate's 1e-10."""
    X, y, _ = _data(seed=1)
    a, b = _pair(X, y, max_iter=20000, **penalty)
    assert a.converged and b.converged
    _close(a, b, 5 * TOL)


@pytest.mark.parametrize("params", [
    dict(loss="huber", epsilon=0.5, solver="gd", max_iter=30),
    dict(loss="huber", epsilon=0.5, batch_size=8, solver="momentum", max_iter=4),
    dict(solver="nesterov", fit_intercept=False, max_iter=30),
    dict(solver="gd", standardize=False, learning_rate="auto", max_iter=30),
    dict(solver="gd", standardize="whiten", max_iter=5),
    dict(solver="gd", learning_rate=0.01, max_iter=30),
    dict(solver="adam", batch_size=1, max_iter=2, average=True),
    dict(solver="gd", batch_size=4, early_stopping=True, max_iter=20, random_state=1),
    dict(solver="nesterov", learning_rate="backtracking", max_iter=30),
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_options_same_path_as_dense(params):
    X, y, sw = _data(seed=2)
    a, b = _pair(X, y, sample_weight=sw, **params)
    assert a.n_iter == b.n_iter
    _close(a, b)


@pytest.mark.parametrize("solver", ["gd", "nesterov", "lbfgs", "cg", "exact"])
def test_multi_output(solver):
    X, Y, sw = _data(k=3, seed=4)
    a, b = _pair(X, Y, solver=solver, sample_weight=sw, max_iter=50)
    assert a.coef.shape == b.coef.shape == (12, 3)
    _close(a, b)


@pytest.mark.parametrize("solver", ["lbfgs", "cg", "exact", "nesterov"])
@pytest.mark.parametrize("penalty", [dict(), dict(penalty="l2", alpha=0.05)], ids=["ols", "l2"])
def test_smooth_solvers_reach_lstsq_and_ridge(solver, penalty):
    """Converged fits on CSR rows against independent oracles: numpy's lstsq on [X, 1] and
    scikit-learn's Ridge (alpha_sk = alpha sum(s) / 2) on the sparse matrix itself."""
    X, y, sw = _data(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gradfit.fit(X, y, solver=solver, sample_weight=sw, max_iter=5000, **penalty)
    if penalty:
        ref = Ridge(alpha=penalty["alpha"] * sw.sum() / 2, solver="sparse_cg", tol=1e-14,
                    max_iter=100000).fit(X, y, sample_weight=sw)
        coef, icpt = ref.coef_, ref.intercept_
        tol = 1e-8  # sparse_cg's own accuracy
    else:
        A = np.column_stack([X.toarray(), np.ones(X.shape[0])]) * np.sqrt(sw)[:, None]
        beta = np.linalg.lstsq(A, y * np.sqrt(sw), rcond=None)[0]
        coef, icpt = beta[:-1], beta[-1]
        tol = 1e-9
    np.testing.assert_allclose(res.coef, coef, atol=tol * np.abs(coef).max())
    assert abs(res.intercept - icpt) <= tol * max(abs(icpt), 1.0)


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_wide_closed_form_by_lsmr(alpha):
    """d above the Gram limit: LSMR on the centred operator (no X'X); against lstsq / the
    dense closed form of the same data."""
    X, y, sw = _data(n=400, d=300, density=0.02, seed=6)
    params = dict(solver="exact", penalty="l2" if alpha else None, alpha=alpha)
    a, b = _pair(X, y, sample_weight=sw, **params)
    assert a.info["method"] == "lsmr"
    _close(a, b)


def test_csc_and_estimator_conventions():
    X, y, sw = _data(seed=7)
    est = GDRegressor(solver="lbfgs").fit(X.tocsc(), y, sample_weight=sw)
    dense = GDRegressor(solver="lbfgs").fit(X.toarray(), y, sample_weight=sw)
    np.testing.assert_allclose(est.coef_, dense.coef_, atol=TOL * np.abs(dense.coef_).max())
    np.testing.assert_allclose(est.predict(X), dense.predict(X.toarray()), rtol=1e-10)
    np.testing.assert_allclose(est.predict(sp.csr_array(X)), est.predict(X.toarray()),
                               rtol=1e-12)
    assert est.n_features_in_ == X.shape[1]
    assert est.__sklearn_tags__().input_tags.sparse


def test_as_backend_and_fit_of_a_backend():
    X, y, _ = _data(seed=8)
    data = gradfit.as_backend(X, y)
    assert isinstance(data, SparseBackend) and data.capabilities.sparse
    a = gradfit.fit(data, solver="lbfgs")
    b = gradfit.fit(X.toarray(), y, solver="lbfgs")
    _close(a, b)


def test_bad_values_named():
    X, y, _ = _data(seed=9)
    X = X.tolil()
    X[5, 3] = np.nan
    with pytest.raises(InputError, match=r"row 5, column 3 = nan"):
        gradfit.fit(X.tocsr(), y)
    with pytest.raises(InputError, match=r"y must have 300 rows"):
        gradfit.fit(X.tocsr()[:, :2], y[:10])


@pytest.mark.parametrize("params", [dict(solver="nesterov", max_iter=3),
                                    dict(solver="lbfgs", max_iter=3),
                                    dict(solver="exact"),
                                    dict(solver="gd", batch_size=256, max_iter=1,
                                         average=False)],
                         ids=["nesterov", "lbfgs", "exact", "minibatch"])
def test_memory_is_o_nnz(params):
    """A 20 000 x 50 000 matrix with 10 values a row: dense it would be 8 GB; the fit
    allocates a few times nnz, n and d, nothing near n x d."""
    n, d = 20_000, 50_000
    rng = np.random.default_rng(0)
    cols = rng.integers(0, d, size=(n, 10))
    X = sp.csr_matrix((rng.standard_normal(n * 10), cols.ravel(), np.arange(0, n * 10 + 1, 10)),
                      shape=(n, d))
    X.sum_duplicates()
    y = np.asarray(X[:, :20].sum(axis=1)).ravel() + rng.standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradfit.fit(X[:100], y[:100], **params)  # compile and import outside the trace
        tracemalloc.start()
        gradfit.fit(X, y, **params)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    stored = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    assert peak < 20 * stored + 200 * d * 8
    assert peak < n * d * 8 / 100


@pytest.mark.parametrize("params", [
    dict(batch_size=1, max_iter=3),
    dict(batch_size=1, max_iter=3, average=False, learning_rate=0.01),
    dict(batch_size=7, max_iter=4, loss="huber", epsilon=0.5),
    dict(batch_size=40, max_iter=5, fit_intercept=False),
    dict(batch_size=3, max_iter=5, early_stopping=True),
    dict(batch_size=50, max_iter=3, standardize=True, k=3),
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_compiled_sparse_sgd_epoch_follows_the_loop(params, monkeypatch):
    """solver="gd" on CSR mini-batches runs one compiled O(nnz) epoch (the centring carried
    by a scalar, lazy averaging); it gives the dense loop's numbers to rounding."""
    from gradfit.solvers import minibatch_sparse

    params = dict(params)
    X, y, sw = _data(seed=10, k=params.pop("k", 1))
    made = []
    real = minibatch_sparse.epoch_runner

    def spy(*args, **kwargs):
        run = real(*args, **kwargs)
        made.append(run is not None)
        return run

    monkeypatch.setattr(minibatch_sparse, "epoch_runner", spy)
    a, b = _pair(X, y, solver="gd", sample_weight=sw, **params)
    assert made == [True]
    assert a.n_iter == b.n_iter
    _close(a, b)


def test_compiled_sparse_epoch_only_where_it_applies():
    """Momentum, penalties and adaptive rules keep the Python loop over CSR batches (the
    compiled CSR batch kernel), so their numbers are the loop's by construction."""
    from gradfit.fitting.driver import build_objective
    from gradfit.fitting.params import check_params
    from gradfit.solvers import minibatch_numba

    X, y, _ = _data()
    data = SparseBackend(X, y[:, None], None)
    for params, applies in [(dict(solver="gd"), True), (dict(solver="momentum"), False),
                            (dict(solver="gd", penalty="l2", alpha=0.1), False),
                            (dict(solver="adam"), False)]:
        p = check_params(dict(params, batch_size=4))
        obj = build_objective(p, data)
        run = minibatch_numba.epoch_runner(obj, 4, p.spec.name, p.momentum, lambda t: 0.1)
        assert (run is not None) == applies, params


@pytest.mark.parametrize("params", [dict(solver="lbfgs"), dict(solver="gd", batch_size=5,
                                                                max_iter=3)],
                         ids=["lbfgs", "sgd"])
def test_float32_values_read_as_stored(params):
    """float32 stored values are widened exactly: the fit of their float64 copy."""
    X, y, _ = _data(seed=11)
    X32 = X.astype(np.float32)
    a, _ = _pair(X32, y, **params)
    b, _ = _pair(X32.astype(np.float64), y, **params)
    _close(a, b)
