"""gradfit.io.model_file: versioned JSON model files, validated on load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gradfit.exceptions import InputError
from gradfit.io import (
    MODEL_FORMAT,
    SCHEMA_VERSION,
    LoadedModel,
    load_model,
    read_table,
    save_model,
    train_data_hash,
)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    y = X @ np.array([1.5, -0.25, 4.0]) + 3.0 + rng.normal(scale=0.1, size=200)
    return X, y, ["a", "b", "c"]


@pytest.fixture(scope="module")
def fitted(problem):
    import gradfit

    X, y, _ = problem
    return gradfit.GDRegressor(solver="lbfgs").fit(X, y)


@pytest.fixture
def saved(tmp_path, problem, fitted):
    X, y, names = problem
    path = save_model(tmp_path / "m.json", fitted, target_name="y",
                      train_hash=train_data_hash(X, y), feature_names=names,
                      n_train_rows=len(y))
    return path


def test_round_trip(saved, fitted, problem):
    X, y, names = problem
    m = load_model(saved)
    assert isinstance(m, LoadedModel)
    assert m.feature_names == tuple(names) and m.target_name == "y"
    np.testing.assert_array_equal(m.coef, fitted.coef_)
    assert m.intercept == fitted.intercept_
    assert m.solver == "lbfgs" and m.params["solver"] == "lbfgs"
    assert m.n_iter == fitted.n_iter_ and m.converged == fitted.converged_
    assert m.stop_reason == fitted.stop_reason_ and m.objective == fitted.objective_
    assert m.n_train_rows == 200 and m.train_data_sha256 == train_data_hash(X, y)
    assert m.schema_version == 1 and SCHEMA_VERSION == 2  # no design: written as version 1
    raw = json.loads(saved.read_text())
    assert raw["format"] == MODEL_FORMAT and raw["schema_version"] == 1
    assert set(raw) == set(m.to_dict()) and raw == m.to_dict()
    assert not list(saved.parent.glob("*.tmp"))  # written atomically, nothing left over


def test_predictions_match_estimator(saved, fitted, problem):
    X, _, names = problem
    m = load_model(saved)
    expected = fitted.predict(X)
    np.testing.assert_allclose(m.predict(X), expected, rtol=0, atol=1e-12)
    # a DataFrame with the columns shuffled and an extra one: matched by name
    frame = pd.DataFrame(X, columns=names)[["c", "a", "b"]].assign(extra=1.0)
    np.testing.assert_allclose(m.predict(frame), expected, rtol=0, atol=1e-12)
    table = read_table(frame.assign(y=0.0), target="y", features=["b", "c", "a"])
    np.testing.assert_allclose(m.predict(table), expected, rtol=0, atol=1e-12)
    est = m.to_estimator()
    np.testing.assert_allclose(est.predict(pd.DataFrame(X, columns=names)), expected,
                               rtol=0, atol=1e-12)
    assert est.get_params()["solver"] == "lbfgs"
    assert list(est.feature_names_in_) == names


def test_predict_missing_columns(saved):
    m = load_model(saved)
    with pytest.raises(InputError, match=r"lacks columns a, c that the model .*m\.json needs"):
        m.predict(pd.DataFrame({"b": [1.0]}))
    with pytest.raises(InputError, match=r"shape \(n, 3\)"):
        m.predict(np.ones((2, 2)))


def test_train_data_hash():
    X, y = np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0, 3.0])
    h = train_data_hash(X, y)
    assert len(h) == 64 and h == train_data_hash(X.astype(np.float32), y.tolist())
    assert h != train_data_hash(X, y + 1e-12)
    assert h != train_data_hash(X.reshape(2, 3), y)


def test_save_refuses_multi_output(tmp_path):
    class Two:
        coef_ = np.ones((2, 3))
        intercept_ = np.zeros(2)

    with pytest.raises(InputError, match="single-target"):
        save_model(tmp_path / "m.json", Two(), target_name="y", train_hash="0" * 64)


def test_save_unwritable(tmp_path, fitted):
    with pytest.raises(InputError, match="cannot write model file"):
        save_model(tmp_path / "no" / "such" / "dir" / "m.json", fitted, target_name="y",
                   train_hash="0" * 64)


# ------------------------------------------------------------------ refusing bad files


def _good():
    return {
        "format": "gradfit-model", "schema_version": 1, "gradfit_version": "0.1.0",
        "feature_names": ["a", "b"], "target_name": "y", "coef": [1.0, 2.0],
        "intercept": 0.5, "solver": "gd", "params": {"solver": "gd", "tol": 1e-6},
        "n_iter": 10, "converged": True, "stop_reason": "done", "objective": 1.25,
        "n_train_rows": 5, "train_data_sha256": "ab" * 32,
        "created": "2024-01-01T00:00:00+00:00",
    }


def _write(tmp_path, record, raw=None):
    path = tmp_path / "m.json"
    path.write_text(raw if raw is not None else json.dumps(record))
    return path


def test_good_record_loads(tmp_path):
    m = load_model(_write(tmp_path, _good()))
    np.testing.assert_array_equal(m.predict(np.array([[1.0, 1.0]])), [3.5])


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.pop("format"), r"is not a gradfit model file \(no \"format\""),
    (lambda r: r.update(format="sklearn"), "is not a gradfit model file"),
    (lambda r: r.update(schema_version=3), "schema version 3, newer than"),
    (lambda r: r.update(schema_version=2), "missing field design"),
    (lambda r: r.update(schema_version="1"), "schema_version must be a positive integer"),
    (lambda r: r.pop("coef"), "missing field coef"),
    (lambda r: r.update(pickle="x"), "unknown field pickle"),
    (lambda r: r.update(coef=[1.0]), "coef has 1 values for 2 feature_names"),
    (lambda r: r.update(coef=[1.0, "2"]), "coef must be a list of finite numbers"),
    (lambda r: r.update(coef=[1.0, True]), "coef must be a list of finite numbers"),
    (lambda r: r.update(intercept=None), "intercept must be a finite number"),
    (lambda r: r.update(feature_names=["a", "a"]), "feature_names has duplicates"),
    (lambda r: r.update(feature_names=[]), "feature_names must be a non-empty list"),
    (lambda r: r.update(feature_names=["a", 3]), "feature_names must be a non-empty list"),
    (lambda r: r.update(n_iter=-1), "n_iter must be a non-negative integer"),
    (lambda r: r.update(n_iter=1.5), "n_iter must be a non-negative integer"),
    (lambda r: r.update(converged="yes"), "converged must be true or false"),
    (lambda r: r.update(params={"solver": ["gd"]}), "params must be an object of"),
    (lambda r: r.update(train_data_sha256="xyz"), "train_data_sha256 must be 64"),
    (lambda r: r.update(target_name=""), "target_name must be a non-empty string"),
    (lambda r: r.update(objective="1.0"), "objective must be a finite number"),
])
def test_refuses_bad_fields(tmp_path, change, message):
    record = _good()
    change(record)
    path = _write(tmp_path, record)
    with pytest.raises(InputError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("raw", "message"), [
    ("not json at all", "not valid JSON"),
    ("[1, 2]", r"not a JSON object"),
    ('{"format": "gradfit-model", "coef": [NaN]}', "not valid JSON"),
    ("", "not valid JSON"),
    (json.dumps(_good()).replace('"coef": [1.0, 2.0]', '"coef": [1.0, 1e400]'),
     "coef must be a list of finite numbers"),
])
def test_refuses_non_model_text(tmp_path, raw, message):
    with pytest.raises(InputError, match=message):
        load_model(_write(tmp_path, None, raw=raw))


def test_refuses_binary_and_missing(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04\x95\x00\x00pickle")
    with pytest.raises(InputError, match="not a gradfit model file"):
        load_model(path)
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "absent.json")
    with pytest.raises(InputError, match="is a directory"):
        load_model(tmp_path)
