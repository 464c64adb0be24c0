"""gradfit.datasets: the shipped tutorial data equal the reference copy in shared/data, and
the published results of the tutorial's loop hold on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gradfit.datasets import TUTORIAL_PUBLISHED, load_tutorial


def test_tutorial_data_equal_the_reference_file(shared_data):
    ref = np.loadtxt(shared_data / "blog" / "demo.csv", delimiter=",", skiprows=1)
    bunch = load_tutorial()
    np.testing.assert_array_equal(bunch.data[:, 0], ref[:, 0])
    np.testing.assert_array_equal(bunch.target, ref[:, 1])
    assert bunch.data.shape == (100, 1) and bunch.feature_names == ["x"]
    assert "mattnedrich/GradientDescentExample" in bunch.DESCR
    assert bunch.frame is None


def test_as_frame_and_return_X_y():
    X, y = load_tutorial(as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and list(X.columns) == ["x"]
    assert isinstance(y, pd.Series) and y.name == "y" and len(y) == 100
    b = load_tutorial(as_frame=True)
    assert list(b.frame.columns) == ["x", "y"]
    Xa, ya = load_tutorial(return_X_y=True)
    np.testing.assert_array_equal(Xa, X.to_numpy())
    np.testing.assert_array_equal(ya, y.to_numpy())


def test_the_published_loop_on_the_shipped_data():
    """The tutorial's own loop (plain Python, both parameters updated from the old values)
    gives the published numbers on the shipped data: the oracle for the notebook."""
    X, y = load_tutorial(return_X_y=True)
    x, n = X[:, 0].tolist(), len(y)
    y = y.tolist()
    b = m = 0.0
    lr = TUTORIAL_PUBLISHED["learning_rate"]
    for _ in range(TUTORIAL_PUBLISHED["iterations"]):
        gb = sum(-(2 / n) * (y[i] - (m * x[i] + b)) for i in range(n))
        gm = sum(-(2 / n) * x[i] * (y[i] - (m * x[i] + b)) for i in range(n))
        b, m = b - lr * gb, m - lr * gm
    err = sum((y[i] - (m * x[i] + b)) ** 2 for i in range(n)) / n
    assert b == pytest.approx(TUTORIAL_PUBLISHED["b"], rel=1e-12)
    assert m == pytest.approx(TUTORIAL_PUBLISHED["m"], rel=1e-12)
    assert err == pytest.approx(TUTORIAL_PUBLISHED["error"], rel=1e-12)
