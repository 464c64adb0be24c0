"""The three reproductions of issue 11 as regression tests (the fourth, the defaults on
longley / star98 / macrodata, is test_conformance.test_defaults_give_eight_digits_or_say_so).

1. momentum + l2 (alpha=2e-8) on three points: it stopped at an early dip of the gradient
   norm and returned the current iterate (coef 0.968) with converged_=True.
2. adam + huber on scikit-learn's outlier data: 3% off the Huber optimum, converged.
3. lbfgs on scikit-learn's test_enet_ridge_consistency data with weights: scipy's own rule
   stopped it, whatever the user's tol, converged at relative errors up to 4e-2.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from gradfit import GDRegressor
from references import huber_optimum, squared_optimum


def _relative_error(model, coef, intercept):
    est = np.r_[model.intercept_, model.coef_]
    ref = np.r_[intercept, coef]
    return float(np.max(np.abs(est - ref) / np.maximum(np.abs(ref), 1e-300)))


def _fit(model, X, y, **kw):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(X, y, **kw)
    said = [str(w.message) for w in seen if issubclass(w.category, ConvergenceWarning)]
    return model, said


def test_momentum_l2_tiny_alpha_three_points():
    """F = (1/3) sum (y - w x - b)^2 + alpha/2 w^2 on x = y = (-1, 0, 1): b = 0,
    w = (4/3) / (4/3 + alpha)."""
    alpha = 2e-8
    model, said = _fit(GDRegressor(solver="momentum", penalty="l2", alpha=alpha),
                       [[-1.0], [0.0], [1.0]], [-1.0, 0.0, 1.0])
    truth = (4 / 3) / (4 / 3 + alpha)
    assert model.converged_ and not said, model.stop_reason_
    digits = model.certificate_["digits"]
    assert digits >= 7, model.certificate_
    assert abs(model.coef_[0] - truth) <= 3 * 10.0 ** -digits * truth
    assert abs(model.intercept_) <= 1e-12


def _outliers(n_samples=50, n_features=20):
    """scikit-learn's make_regression_with_outliers (sklearn/linear_model/tests/
    test_huber.py), verbatim."""
    rng = np.random.RandomState(0)
    X, y = make_regression(n_samples=n_samples, n_features=n_features, random_state=0,
                           noise=0.05)
    num_noise = int(0.1 * n_samples)
    random_samples = rng.randint(0, n_samples, num_noise)
    X[random_samples, :] = 2.0 * rng.normal(0, 1, (num_noise, X.shape[1]))
    return X, y


@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("max_iter", [1000, 20000])
def test_adam_huber_outliers_certified_or_says_not_converged(penalty, max_iter):
    X, y = _outliers()
    alpha = 0.1
    ref = huber_optimum(X, y, epsilon=1.35, alpha=alpha if penalty else 0.0)
    assert ref is not None and ref.trust >= 10, "the reference converged"
    model, said = _fit(GDRegressor(solver="adam", loss="huber", alpha=alpha, penalty=penalty,
                                   max_iter=max_iter), X, y)
    err = _relative_error(model, ref.coef, ref.intercept)
    digits = model.certificate_["digits"]
    if model.converged_:
        assert not said and digits >= 6, model.certificate_
        assert err <= 3 * 10.0 ** -min(digits, ref.trust), (err, digits)
    else:
        assert said and "did not converge" in said[0], model.stop_reason_
        assert not digits or err <= 3 * 10.0 ** -digits, (err, digits)


def _enet_ridge_data(seed=42):
    """scikit-learn's test_enet_ridge_consistency data (n_targets=1, with weights); seed 42
    is its default global_random_seed."""
    rng = np.random.RandomState(seed)
    X, y = make_regression(n_samples=300, n_features=100, n_targets=1, effective_rank=10,
                           n_informative=50, random_state=rng)
    sw = rng.uniform(low=0.01, high=10, size=X.shape[0])
    return X, y, sw


@pytest.mark.parametrize("ridge_alpha", [1e-6, 1e-1, 1.0, 1e6])
def test_lbfgs_honours_the_users_tol(ridge_alpha):
    """gradfit's l2 alpha = 2 alpha_sk / sum(s) is scikit-learn's Ridge(alpha_sk) (docs/
    CORE_API.md).  Each tol: converged means the certified digits are correct (against
    Ridge(solver='svd') and a long-double reference), and a tighter tol never stops
    earlier or with fewer digits."""
    X, y, sw = _enet_ridge_data()
    alpha = 2 * ridge_alpha / sw.sum()
    ref = squared_optimum(X, y, alpha=alpha, sample_weight=sw)
    sk = Ridge(alpha=ridge_alpha, solver="svd").fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ref.coef, sk.coef_, rtol=1e-6, atol=1e-9 * np.abs(sk.coef_).max())
    before = None
    for tol in (1e-4, 1e-8, 1e-12):
        model, said = _fit(GDRegressor(solver="lbfgs", penalty="l2", alpha=alpha, tol=tol),
                           X, y, sample_weight=sw)
        cert = model.certificate_
        if model.converged_:
            assert not said
            assert f"tol={tol:g}" in model.stop_reason_, model.stop_reason_
            # the criterion: the gradient's max-norm relative to its start
            assert cert["grad_norm_rel"] <= tol * 10, cert
        else:
            assert said, model.stop_reason_
        # normwise error (standardized units) against what the certificate says
        spread = np.sqrt(np.average((X - np.average(X, axis=0, weights=sw)) ** 2, axis=0,
                                    weights=sw))
        err = np.max(spread * np.abs(model.coef_ - ref.coef)) / np.max(spread * np.abs(ref.coef))
        if cert.get("coef_rel_error") is not None:
            assert err <= 3 * cert["coef_rel_error"] + 1e-15, (tol, err, cert["coef_rel_error"])
        if before is not None:
            assert model.n_iter_ >= before.n_iter_, (tol, model.n_iter_, before.n_iter_)
        before = model
