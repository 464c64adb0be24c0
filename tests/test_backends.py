"""The Backend protocol and as_backend: every source is a backend with declared capabilities,
and the one driver gives the same fit whichever source the rows come from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gradfit
from gradfit.data.files import FileBackend
from gradfit.data.memory import InMemory, RowSubset
from gradfit.exceptions import InputError
from gradfit.model.backend import Backend, Capabilities, capabilities


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1, 5, 0.2] + [0, 10, -1]
    y = X @ [1.0, -0.5, 3.0] + 2 + 0.1 * rng.normal(size=300)
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})
    path = tmp_path_factory.mktemp("b") / "t.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    return X, y, frame, path


def test_every_backend_follows_the_protocol(table):
    X, y, _, path = table
    fb = FileBackend(path, "y")
    for data in (InMemory(X, y[:, None], None), RowSubset(X, y[:, None], None, X[:, 0] > 0), fb):
        assert isinstance(data, Backend)
        assert isinstance(data.capabilities, Capabilities)
    assert InMemory.capabilities.in_memory and not fb.capabilities.in_memory
    assert fb.capabilities.cache and fb.capabilities.fingerprint
    assert capabilities(object()) == Capabilities()  # a backend that declares nothing


@pytest.mark.parametrize("source", ["arrays", "frame", "frame-name", "path"])
def test_as_backend_gives_the_same_fit(table, source):
    X, y, frame, path = table
    data = {"arrays": lambda: gradfit.as_backend(X, y),
            "frame": lambda: gradfit.as_backend(frame[["a", "b", "c"]], frame["y"]),
            "frame-name": lambda: gradfit.as_backend(frame, "y"),
            "path": lambda: gradfit.as_backend(path, "y")}[source]()
    assert (data.n, data.d, data.k) == (300, 3, 1)
    res = gradfit.fit(data, solver="exact")
    ref = gradfit.fit(X, y, solver="exact")
    np.testing.assert_allclose(np.ravel(res.coef), ref.coef, rtol=1e-13)
    it = gradfit.fit(data)
    np.testing.assert_allclose(np.ravel(it.coef), ref.coef, rtol=1e-9)
    assert gradfit.as_backend(data) is data


def test_as_backend_says_what_is_wrong(table):
    X, y, frame, path = table
    with pytest.raises(InputError, match="target column's name"):
        gradfit.as_backend(path)
    with pytest.raises(InputError, match="no column 'z'"):
        gradfit.as_backend(frame, "z")
    with pytest.raises(InputError, match="already a backend"):
        gradfit.as_backend(gradfit.as_backend(X, y), y)
    with pytest.raises(InputError, match="y must have 300 rows"):
        gradfit.as_backend(X, y[:5])
