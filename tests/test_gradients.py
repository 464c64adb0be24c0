"""Finite-difference checks for every loss and penalty gradient; closed forms for every prox."""

import numpy as np
import pytest

from gradfit.data.memory import InMemory
from gradfit.model.losses import LOSSES
from gradfit.model.objective import Objective
from gradfit.model.penalties import make_penalty


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_loss_derivative_matches_finite_differences(loss):
    L = LOSSES[loss]
    r = np.linspace(-4, 4, 81) + 0.0123  # avoid the kink points exactly
    h = 1e-6
    # d loss / d p = - d loss / d r
    fd = -(L.value(r + h, 1.35) - L.value(r - h, 1.35)) / (2 * h)
    np.testing.assert_allclose(L.dpred(r, 1.35), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("penalty", ["none", "l2"])
def test_objective_gradient_matches_finite_differences(loss, standardize, fit_intercept, penalty):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) * [1, 10, 0.1] + [5, -2, 0]
    y = (X @ [1.0, -0.5, 3.0] + rng.standard_t(2, size=40))[:, None]
    sw = rng.uniform(0.5, 2, 40)
    obj = Objective(InMemory(X, y, sw), loss=loss, epsilon=1.0,
                    penalty=make_penalty(penalty, 0.3, 0.0), fit_intercept=fit_intercept,
                    standardize=standardize)
    P = rng.normal(size=(obj.p, 1))
    _, g = obj.value_grad(P)
    g = g + obj.smooth_penalty_grad(P)
    h = 1e-6
    fd = np.zeros_like(P)
    for i in range(obj.p):
        E = np.zeros_like(P)
        E[i] = h
        fd[i] = (obj.value(P + E) - obj.value(P - E)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,l1_ratio", [("l2", 0), ("l1", 1), ("elasticnet", 0.3)])
def test_prox_is_the_argmin(name, l1_ratio):
    """prox(u) = argmin_w  step * alpha R(c w) + 1/2 (w - u)^2, checked coordinatewise by a
    dense grid search and against the closed form."""
    pen = make_penalty(name, 0.7, l1_ratio)
    step, c = 0.9, np.array([0.5, 1.0, 3.0])
    for u in [-2.0, -0.2, 0.0, 0.3, 1.5]:
        got = pen.prox(np.full(3, u), step, c)
        for j in range(3):
            grid = np.linspace(-3, 3, 600001)
            vals = step * (pen.l1 * np.abs(c[j] * grid) + 0.5 * pen.l2 * (c[j] * grid) ** 2) \
                + 0.5 * (grid - u) ** 2
            assert abs(got[j] - grid[np.argmin(vals)]) < 2e-5
            soft = np.sign(u) * max(abs(u) - step * pen.l1 * c[j], 0)
            assert got[j] == pytest.approx(soft / (1 + step * pen.l2 * c[j] ** 2), abs=1e-15)


def test_penalty_smooth_grad_matches_finite_differences():
    pen = make_penalty("l2", 0.4, 0.0)
    w, c = np.array([0.3, -1.2, 2.0]), np.array([1.0, 2.0, 0.5])
    h = 1e-6
    fd = [(pen.value(w + h * e, c) - pen.value(w - h * e, c)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(pen.smooth_grad(w, c), fd, rtol=1e-7)


def test_lipschitz_is_the_largest_curvature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    y = rng.normal(size=(200, 1))
    obj = Objective(InMemory(X, y, None), loss="squared", epsilon=1.0,
                    penalty=make_penalty(None, 0, 0), fit_intercept=True, standardize=True)
    Z = np.column_stack([(X - obj.mu) / obj.sigma, np.ones(200)])
    exact = 2 * np.linalg.eigvalsh(Z.T @ Z / 200).max()
    assert obj.lipschitz() == pytest.approx(exact, rel=2e-3)
