"""The evaluation pass (gradfit.fitting.evaluation.evaluate): R², the summary's statistics and
the data digest of a fitted model, the same from arrays and from files (Dask: test_dask.py),
checked against scikit-learn's r2_score, the in-memory statistics and train_data_hash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from gradfit.data import as_backend
from gradfit.data.digest import DataDigest, train_data_hash
from gradfit.fitting.evaluation import Moments, evaluate
from gradfit.stats.sufficient import InferenceStats

N, D = 1003, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N, D)) * [1.0, 20.0, 0.1] + [3.0, -50.0, 1e3]
    y = X @ [0.5, -0.02, 3.0] - 2900.0 + rng.standard_normal(N)
    sw = rng.uniform(0.2, 3.0, N)
    coef = np.linalg.lstsq(np.c_[X, np.ones(N)], y, rcond=None)[0]
    return X, y, sw, coef[:D] * 1.01, coef[D]  # a slightly wrong fit: R² is not maximal


def _csv(tmp_path, X, y, sw=None):
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df["target"] = y
    if sw is not None:
        df["w"] = sw
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    return str(path)


def _sources(tmp_path, X, y, sw):
    yield "memory", as_backend(X, y, sw)
    yield "files", as_backend(_csv(tmp_path, X, y, sw), "target",
                              None if sw is None else "w", batch_rows=97)


@pytest.mark.parametrize("weighted", [False, True])
def test_r2_statistics_and_digest_match_the_in_memory_oracles(problem, tmp_path, weighted):
    X, y, sw, coef, b = problem
    sw = sw if weighted else None
    want_r2 = r2_score(y, X @ coef + b, sample_weight=sw)
    want = InferenceStats.from_arrays(X, y, coef, b, sample_weight=sw)
    for name, data in _sources(tmp_path, X, y, sw):
        ev = evaluate(data, coef, b, statistics=True, digest=True)
        assert ev.r2 == pytest.approx(want_r2, rel=1e-12), name
        assert ev.stats.n == want.n and ev.stats.weighted == weighted, name
        np.testing.assert_allclose(np.asarray(ev.stats.mean_x, float), want.mean_x, rtol=1e-13)
        R, R0 = np.asarray(ev.stats.r_xy, float), np.asarray(want.r_xy, float)
        np.testing.assert_allclose(R.T @ R, R0.T @ R0, rtol=1e-10, atol=1e-8)  # R up to signs
        assert float(ev.stats.dw_num) == pytest.approx(float(want.dw_num), rel=1e-10), name
        assert ev.digest == train_data_hash(X, y), name
        assert ev.notes == ()


def test_multi_output_r2_is_per_output(problem):
    X, y, sw, coef, b = problem
    Y = np.c_[y, 2 * y + X[:, 0]]
    W = np.c_[coef, 2 * coef + [1, 0, 0]].T  # scikit-learn's (k, d)
    ev = evaluate(as_backend(X, Y, sw), W, [b, 2 * b])
    np.testing.assert_allclose(ev.r2, r2_score(Y, X @ W.T + [b, 2 * b], sample_weight=sw,
                                               multioutput="raw_values"), rtol=1e-12)


def test_moments_merge_in_any_split_equals_one_block():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((500, 2)) * 1e3 + 1e6  # a large mean: the naive formula loses digits
    E = rng.standard_normal((500, 2))
    s = rng.uniform(0.1, 2.0, 500)
    whole = Moments.of_block(Y, s, E)
    cuts = [0, 1, 7, 250, 251, 500]
    parts = [Moments.of_block(Y[a:c], s[a:c], E[a:c]) for a, c in zip(cuts[:-1], cuts[1:])]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    dev = Y - np.average(Y, axis=0, weights=s)
    np.testing.assert_allclose(merged.m2, s @ (dev * dev), rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    np.testing.assert_allclose(merged.rss, s @ (E * E), rtol=1e-13)


def test_a_constant_target_follows_scikit_learn():
    X = np.arange(10.0).reshape(-1, 1)
    y = np.full(10, 4.0)
    assert evaluate(as_backend(X, y), [0.0], 4.0).r2 == r2_score(y, np.full(10, 4.0)) == 1.0
    assert evaluate(as_backend(X, y), [0.1], 4.0).r2 == r2_score(y, 0.1 * X[:, 0] + 4) == 0.0


def test_statistics_of_a_multi_output_fit_are_refused_with_a_note(problem):
    X, y, _, coef, b = problem
    ev = evaluate(as_backend(X, np.c_[y, y]), np.c_[coef, coef].T, [b, b], statistics=True)
    assert ev.stats is None
    assert ev.notes == ("no statistical summary: it covers single-output fits",)


def test_the_block_digest_equals_the_whole_arrays_digest(problem):
    X, y, _, _, _ = problem
    for k in (1, 2):
        Y = y if k == 1 else np.c_[y, -y]
        with DataDigest(N, D, k) as dig:
            for a in range(0, N, 100):
                dig.update(X[a:a + 100], Y[a:a + 100])
            assert dig.hexdigest() == train_data_hash(X, Y)
            assert dig.hexdigest() == train_data_hash(X, Y)  # asking twice changes nothing
    assert train_data_hash(X, y) != train_data_hash(X, y + 1e-12 * np.abs(y).max())
