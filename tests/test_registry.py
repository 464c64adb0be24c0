"""The registries are the single source of truth: validation, the CLI's choices,
partial_fit's availability and checkpoint support all follow the solver table; a new update
rule is one function + one record; losses, penalties and update rules are also accepted as
objects."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Lasso

import gradfit
from gradfit import GDRegressor
from gradfit.cli.options import SOLVERS as CLI_SOLVERS
from gradfit.model.penalties import ElasticNetPenalty
from gradfit.solvers import optimizers, registry


def data(seed=0, n=150, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    y = X @ rng.normal(size=d) + 1 + 0.3 * rng.normal(size=n)
    return X, y


def test_cli_choices_and_validation_follow_the_table():
    assert tuple(CLI_SOLVERS) == registry.names()
    for name in registry.names():
        est = GDRegressor(solver=name)
        assert hasattr(est, "partial_fit") == registry.SOLVERS[name].incremental, name
    with pytest.raises(ValueError, match=r"solver='sgd' is not valid; use one of \["):
        gradfit.fit(*data(), solver="sgd")


def test_checkpoints_follow_the_table(tmp_path):
    X, y = data()
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y", comments="")
    for name, spec in registry.SOLVERS.items():
        if spec.kind == "closed_form":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if spec.checkpointable:
                gradfit.fit_files(path, "y", solver=name, max_iter=3,
                                  checkpoint=tmp_path / f"{name}.ckpt")
            else:
                with pytest.raises(ValueError, match="checkpoints cover the first-order"):
                    gradfit.fit_files(path, "y", solver=name, checkpoint=tmp_path / "x.ckpt")


def test_a_new_update_rule_is_one_record(monkeypatch):
    """Heavy ball with beta 0.5 registered under a new name behaves exactly like
    solver="momentum", momentum=0.5, and the estimator, partial_fit and the CLI see it."""
    spec = registry.SolverSpec("heavyball", "first_order", "heavy ball, beta 0.5",
                               lambda p, mb: optimizers.momentum(0.5), incremental=True,
                               checkpointable=True, auto_rate="lipschitz")
    monkeypatch.setitem(registry.SOLVERS, "heavyball", spec)
    X, y = data(1)
    kw = dict(standardize=True, max_iter=40, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = gradfit.fit(X, y, solver="heavyball", **kw)
        b = gradfit.fit(X, y, solver="momentum", momentum=0.5, **kw)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.solver == "heavyball"
    assert hasattr(GDRegressor(solver="heavyball"), "partial_fit")
    assert "heavyball" in registry.names()


def test_an_optimizer_object_is_a_solver():
    X, y = data(2)
    kw = dict(standardize=True, max_iter=30, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GDRegressor(solver=optimizers.momentum(0.5), **kw).fit(X, y)
        b = GDRegressor(solver="momentum", momentum=0.5, **kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


class AdaptiveL1:
    """sum_j alpha v_j |w_j|: the adaptive lasso's weighted L1 (a penalty of the user's)."""

    name = "adaptive-l1"
    is_smooth = False

    def __init__(self, alpha, v):
        self.alpha, self.v = alpha, np.asarray(v, float)[:, None]

    @property
    def is_zero(self):
        return self.alpha == 0

    def value(self, w, c=1.0):
        return float(self.alpha * (self.v * np.abs(c * w)).sum())

    def smooth_grad(self, w, c=1.0):
        return np.zeros_like(w)

    def prox(self, u, step, c=1.0):
        t = step * self.alpha * self.v * c
        return np.sign(u) * np.maximum(np.abs(u) - t, 0.0)


def test_a_penalty_object_is_a_penalty():
    """The adaptive lasso on X equals the lasso on X / v (coefficients rescaled)."""
    X, y = data(3, d=5)
    v = np.array([1.0, 2.0, 0.5, 4.0, 1.0])
    a_sk = 0.05
    ref = Lasso(alpha=a_sk, tol=1e-14, max_iter=100000).fit(X / v, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gradfit.fit(X, y, solver="nesterov", penalty=AdaptiveL1(2 * a_sk, v),
                          max_iter=50000, tol=1e-13)
    np.testing.assert_allclose(res.coef, ref.coef_ / v, rtol=1e-6, atol=1e-9)
    assert np.all(res.coef[ref.coef_ == 0] == 0)
    with pytest.raises(ValueError, match="is not smooth, which solver=.exact."):
        gradfit.fit(X, y, solver="exact", penalty=AdaptiveL1(0.1, v))
    with pytest.raises(ValueError, match="neither a name"):
        gradfit.fit(X, y, penalty=object())


def test_builtin_penalty_objects_are_accepted():
    X, y = data(4)
    a = gradfit.fit(X, y, penalty=ElasticNetPenalty("l2", 0.3, 0.0), solver="exact")
    b = gradfit.fit(X, y, penalty="l2", alpha=0.3, solver="exact")
    np.testing.assert_array_equal(a.coef, b.coef)
