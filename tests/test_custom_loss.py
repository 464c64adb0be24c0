"""A loss registered by the user (issue 11, item 5): every solver that takes a smooth loss fits
it, to the minimiser scipy.optimize.minimize finds on the same objective written here, and
learning_rate="auto" reads the loss's curvature (a loss four times as curved as the squared
one would diverge at the squared loss's 1/L).

The loss: 4 eps^2 log cosh(r / eps) x 2 -- r^2 x 4 near 0, 8 eps |r| far out; its second
derivative with respect to the prediction is 8 sech^2(r / eps) <= 8 (``curvature=8``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import gradfit
from gradfit import GDRegressor
from gradfit.model import losses
from gradfit.solvers.registry import SOLVERS

SCALE = 4.0


def _value(r, epsilon):
    a = np.abs(r) / epsilon  # log cosh(x) = |x| + log1p(exp(-2|x|)) - log 2, overflow-free
    return 2 * SCALE * epsilon**2 * (a + np.log1p(np.exp(-2 * a)) - np.log(2.0))


def _dpred(r, epsilon):
    return -2 * SCALE * epsilon * np.tanh(r / epsilon)


def _d2pred(r, epsilon):
    return 2 * SCALE / np.cosh(np.minimum(np.abs(r) / epsilon, 350.0)) ** 2


LOGCOSH = losses.Loss("logcosh4", _value, _dpred, 2 * SCALE, _d2pred)
SMOOTH_LOSS_SOLVERS = [n for n, s in SOLVERS.items() if not s.squared_only]


@pytest.fixture
def registered():
    before = dict(losses.LOSSES)
    losses.register_loss(LOGCOSH)
    yield LOGCOSH.name
    losses.LOSSES.clear()
    losses.LOSSES.update(before)


def _data(seed=3, n=150):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 3.0, 0.5] + [0.5, -1.0, 2.0]
    y = X @ [1.5, -0.5, 2.0] + 1.0 + rng.standard_t(2.0, size=n)
    return X, y


def _reference(X, y, epsilon, alpha=0.0):
    """argmin of mean loss(y - X w - b) + alpha/2 ||w||^2 by scipy's BFGS, from this file's
    formulas (not gradfit's)."""

    def f(theta):
        w, b = theta[1:], theta[0]
        r = y - X @ w - b
        g_pred = _dpred(r, epsilon)
        val = _value(r, epsilon).mean() + 0.5 * alpha * w @ w
        grad = np.r_[g_pred.mean(), X.T @ g_pred / len(y) + alpha * w]
        return val, grad

    A = np.column_stack([np.ones(len(y)), X])
    start = np.linalg.lstsq(A, y, rcond=None)[0]
    theta = minimize(f, start, jac=True, method="BFGS",
                     options={"gtol": 1e-12, "maxiter": 10000}).x
    pen = np.r_[0.0, np.full(X.shape[1], alpha)]
    for _ in range(4):  # Newton's polish with this file's second derivative
        r = y - A @ theta
        H = (A.T * _d2pred(r, epsilon)) @ A / len(y) + np.diag(pen)
        theta = theta - np.linalg.solve(H, f(theta)[1])
    return theta[1:], theta[0]


@pytest.mark.parametrize("penalty,alpha", [(None, 0.0), ("l2", 0.05)])
@pytest.mark.parametrize("solver", SMOOTH_LOSS_SOLVERS)
def test_every_smooth_solver_fits_a_registered_loss(registered, solver, penalty, alpha):
    X, y = _data()
    eps = 1.0
    coef, intercept = _reference(X, y, eps, alpha)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = gradfit.fit(X, y, solver=solver, loss=registered, epsilon=eps, penalty=penalty,
                          alpha=alpha, max_iter=5000)
    assert np.all(np.isfinite(res.coef))
    if SOLVERS[solver].reaches_optimum:
        if res.converged:
            assert not any("did not converge" in str(w.message) for w in seen)
        else:  # L-BFGS may stop on scipy's own rule short of tol: then it says so
            assert SOLVERS[solver].kind == "lbfgs", res.stop_reason
            assert any("did not converge" in str(w.message) for w in seen)
        np.testing.assert_allclose(res.coef, coef, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(res.intercept, intercept, rtol=1e-6, atol=1e-8)
        # the certificate measures the distance from the loss's own second derivative
        assert res.certificate["method"] == "curvature-pass", res.certificate
        stated = res.certificate["digits"]
        err = np.max(np.abs(np.r_[res.intercept - intercept, res.coef - coef])
                     / np.abs(np.r_[intercept, coef]))
        assert stated >= 6 and err <= 3 * 10.0 ** -min(stated, 12), (stated, err)
    else:  # an orbiting rule (RMSProp): near the optimum, and it says it did not converge
        assert not res.converged and any("did not converge" in str(w.message) for w in seen)
        np.testing.assert_allclose(res.coef, coef, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("standardize", ["auto", True, False])
@pytest.mark.parametrize("solver", [n for n in SMOOTH_LOSS_SOLVERS
                                    if SOLVERS[n].auto_rate == "lipschitz"])
def test_auto_rate_reads_the_curvature_and_does_not_diverge(registered, solver, standardize):
    """With learning_rate="auto" the rate is 1/L with L from the loss's curvature: 8, four
    times the squared loss's 2, so L is four times the squared loss's L on the same data and
    coordinates; the fit does not diverge, converges, and plain descent at 1/L never raises
    the objective."""
    X, y = _data(seed=5)
    kw = dict(solver=solver, epsilon=1.0, max_iter=50000, standardize=standardize)
    res = gradfit.fit(X, y, loss=registered, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sq = gradfit.fit(X, y, loss="squared", **kw)
    assert res.lipschitz == pytest.approx(LOGCOSH.curvature / 2 * sq.lipschitz, rel=1e-12)
    if res.learning_rate is not None:
        assert res.learning_rate == pytest.approx(1 / res.lipschitz, rel=1e-12)
    assert res.converged, res.stop_reason
    coef, intercept = _reference(X, y, 1.0)
    np.testing.assert_allclose(res.coef, coef, rtol=1e-6, atol=1e-8)
    if solver == "gd":
        f = np.asarray(res.history.objective)
        assert np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1])), "plain descent at 1/L is monotone"


def test_the_estimator_and_a_loss_object(registered):
    """The estimator takes the name; a Loss object needs no registering."""
    X, y = _data(seed=7)
    coef, intercept = _reference(X, y, 0.5)
    by_name = GDRegressor(loss=registered, epsilon=0.5).fit(X, y)
    by_object = GDRegressor(loss=LOGCOSH, epsilon=0.5, solver="lbfgs").fit(X, y)
    for model in (by_name, by_object):
        assert model.converged_, model.stop_reason_
        np.testing.assert_allclose(model.coef_, coef, rtol=1e-6)
        np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-6)


def test_the_squared_loss_rate_fails_on_it(registered):
    """Why the curvature matters: a fixed rate of 1.5 / L_squared (stable for the squared
    loss, L = 2 lambda_max) is 6 / L for this loss, beyond 2 / L: the iterates are thrown out
    until the residuals reach the loss's linear zone (its gradient is bounded, so they do not
    overflow); the objective ends far above where it started, and the fit says it did not
    converge."""
    X, y = _data(seed=9)
    Z = X - X.mean(axis=0)
    L_sq = 2 * max(np.linalg.eigvalsh(Z.T @ Z / len(Z)).max(), 1.0)
    with pytest.warns(Warning, match="did not converge"):
        res = gradfit.fit(X, y, solver="gd", loss=registered, epsilon=1e3,
                          learning_rate=1.5 / L_sq, standardize=False, max_iter=500)
    f = np.asarray(res.history.objective)
    assert not res.converged and f[-1] > 100 * f[0], (f[0], f[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # raw units: it may stop a digit short of 1e-10
        auto = gradfit.fit(X, y, loss=registered, epsilon=1e3, standardize=False)
    assert np.isfinite(auto.coef).all() and auto.objective < f[0], auto.stop_reason


@pytest.mark.parametrize("loosen, converges", [(1e-11, True), (1e-6, False)])
def test_lbfgs_at_the_rounding_floor_is_judged_by_its_certificate(registered, monkeypatch,
                                                                  loosen, converges):
    """scipy's L-BFGS ends at the rounding floor (its line search makes no progress) with the
    gradient above tol="auto"'s 1e-12: converged only when the certificate bounds the
    distance to the optimum within the 1e-10 target (as the loop's CertifiedOptimum rule
    does), checked against the independent scipy fit; otherwise a warning says what it got.
    The floor is forced by stopping scipy at ``loosen`` x the initial gradient."""
    from gradfit.solvers import second_order

    real = second_order.minimize

    def floored(fun, x0, **kw):
        opts = dict(kw["options"], gtol=kw["options"]["gtol"] / 1e-12 * loosen)
        res = real(fun, x0, **dict(kw, options=opts))
        res.message = "ABNORMAL_TERMINATION_IN_LNSRCH"
        return res

    monkeypatch.setattr(second_order, "minimize", floored)
    X, y = _data(seed=7)
    coef, intercept = _reference(X, y, 0.5)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = gradfit.fit(X, y, loss=registered, epsilon=0.5, solver="lbfgs")
    assert "floating-point precision" in res.stop_reason, res.stop_reason
    err = np.max(np.abs(res.coef - coef) / np.abs(coef))
    assert res.converged is converges, (res.stop_reason, res.certificate)
    if converges:
        assert "certificate puts the coefficients within" in res.stop_reason
        assert err <= 1e-9, err
        assert not any("did not converge" in str(w.message) for w in seen)
    else:
        assert err > 1e-10, err  # the certificate was right to refuse
        assert any("did not converge" in str(w.message) for w in seen)
