"""solver="gd" with a numeric rate and standardize=False is exactly the tutorial's loop."""

import numpy as np

import gradfit


def textbook(x, y, lr, iters):
    b = m = 0.0
    n = float(len(x))
    for _ in range(iters):
        b_grad = m_grad = 0.0
        for xi, yi in zip(x, y):
            b_grad += -(2 / n) * (yi - (m * xi + b))
            m_grad += -(2 / n) * xi * (yi - (m * xi + b))
        b, m = b - lr * b_grad, m - lr * m_grad
    return b, m


def test_matches_hand_written_loop_on_blog_data(shared_data):
    data = np.loadtxt(shared_data / "blog/demo.csv", delimiter=",", skiprows=1)
    x, y = data[:, 0], data[:, 1]
    b_ref, m_ref = textbook(x, y, 1e-4, 1000)
    # the published values of the tutorial
    np.testing.assert_allclose([b_ref, m_ref], [0.08893651993741346, 1.4777440851894448],
                               rtol=1e-12)
    res = gradfit.fit(x[:, None], y, solver="gd", learning_rate=1e-4, standardize=False,
                      max_iter=1000, tol=0.0)
    assert res.n_iter == 1000
    np.testing.assert_allclose([res.intercept, res.coef[0]], [b_ref, m_ref], rtol=1e-12)
    np.testing.assert_allclose(res.objective, 112.61481011613473, rtol=1e-12)
    # history: epoch 0 is the start (0, 0), the last record the result
    assert res.history.epoch[0] == 0 and res.history.epoch[-1] == 1000
    np.testing.assert_allclose(res.history.coef[0], [0.0])
    np.testing.assert_allclose(res.history.coef[-1], res.coef)
