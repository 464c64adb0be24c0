"""GDRegressor as scikit-learn sees it: estimator checks, meta-estimators, reproducibility."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gradfit import GDRegressor

CONFIGS = [
    GDRegressor(),
    GDRegressor(batch_size=16, random_state=0),
    GDRegressor(solver="exact"),
    GDRegressor(penalty="l1", alpha=0.01),
    GDRegressor(solver="lbfgs"),
]


def _expected_failures(est):
    if est.batch_size is not None:
        # shuffled mini-batches see a weighted row once but a duplicated row twice, as
        # scikit-learn's own SGDRegressor (which marks this check as expected to fail)
        why = "stochastic mini-batches: weights and duplicates give different paths"
        return {"check_sample_weight_equivalence_on_dense_data": why,
                "check_sample_weight_equivalence_on_sparse_data": why}
    return {}


@parametrize_with_checks(CONFIGS, expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + 3 + 0.1 * rng.normal(size=n)
    return X, y


def test_pipeline_gridsearch_and_cross_val_score():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), GDRegressor(penalty="l2"))
    grid = GridSearchCV(pipe, {"gdregressor__alpha": [0.0, 0.1, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["gdregressor__alpha"] == 0.0
    scores = cross_val_score(GDRegressor(solver="nesterov"), X, y, cv=5)
    assert scores.min() > 0.99


@pytest.mark.parametrize("params", [dict(batch_size=7), dict(batch_size=1, solver="adam"),
                                    dict(early_stopping=True), dict(solver="momentum")])
def test_same_random_state_bit_identical(params):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GDRegressor(random_state=42, max_iter=30, **params).fit(X, y)
        b = GDRegressor(random_state=42, max_iter=30, **params).fit(X, y)
    assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_
    assert np.array_equal(a.history_.objective, b.history_.objective)


def test_fitted_attributes_and_score():
    import pandas as pd

    X, y = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = GDRegressor().fit(df, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"] and est.n_features_in_ == 4
    assert est.converged_ and isinstance(est.stop_reason_, str) and est.n_iter_ >= 1
    assert est.score(df, y) > 0.99
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(150), X]), y, rcond=None)
    np.testing.assert_allclose(est.coef_, coef[1:], rtol=1e-8)
    h = est.history_
    assert len(h.objective) == len(h.grad_norm) == len(h.lr) == len(h.time) == h.coef.shape[0]
    assert h.coef.shape[1] == 4


def test_multi_output_shapes_follow_sklearn():
    X, y = _data()
    Y = np.column_stack([y, -y, 2 * y])
    est = GDRegressor().fit(X, Y)
    assert est.coef_.shape == (3, 4) and est.intercept_.shape == (3,)
    assert est.predict(X).shape == (150, 3)
    np.testing.assert_allclose(est.coef_[1], -est.coef_[0], rtol=1e-8)


def test_warm_start_continues_from_previous_coefficients():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GDRegressor(solver="gd", warm_start=True, max_iter=2, standardize=False).fit(X, y)
        first = est.history_.objective[-1]
        est.fit(X, y)
    assert est.history_.objective[0] == pytest.approx(first, rel=1e-12)


def test_early_stopping_keeps_best_validation_parameters():
    X, y = _data(n=400)
    est = GDRegressor(batch_size=8, early_stopping=True, random_state=0, max_iter=200).fit(X, y)
    assert est.converged_ and "early stopping" in est.stop_reason_
    assert est.score(X, y) > 0.99


@pytest.mark.parametrize("solver", ["gd", "nesterov", "adam"])
def test_partial_fit_calls_equal_epochs_of_fit(solver):
    X, y = _data()
    inc = GDRegressor(solver=solver, batch_size=16, random_state=3)
    for _ in range(6):
        inc.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = GDRegressor(solver=solver, batch_size=16, random_state=3, max_iter=6, tol=0.0,
                           n_iter_no_change=100).fit(X, y)
    assert inc.n_iter_ == 6
    assert np.array_equal(inc.coef_, full.coef_) and inc.intercept_ == full.intercept_
    with pytest.raises(ValueError, match="features"):
        inc.partial_fit(X[:, :3], y)
