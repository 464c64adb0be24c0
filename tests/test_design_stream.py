"""Formulas and categorical columns on files streamed batch by batch (DesignBackend,
fit_files(formula=/categorical=), gradfit fit 'files' --formula): the levels from a first
pass, the design built per batch, memory bounded by the batch; the fits equal the same fits
in memory (GDRegressor.fit_formula, read_table(categorical=)) to 1e-10."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gradfit
from cli_helpers import cli, user_error
from gradfit import GDRegressor, InputError
from gradfit.data.design_files import DesignBackend
from gradfit.io import load_model, read_table

FORMULA = "y ~ x1 + C(region) + np.log(x2) + x1:x2"


def table(n=1500, seed=3):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n).round(4), "x2": rng.uniform(0.5, 4, n).round(3),
                       "region": rng.choice(["b", "c", "d"], n),
                       "shop": rng.choice(["s1", "s2"], n)})
    df.loc[n - 3, "region"] = "a"  # a level first seen in the last batch (the reference!)
    effect = df["region"].map({"a": 4.0, "b": 0.0, "c": 1.0, "d": -2.0})
    df["y"] = (2 + 1.5 * df["x1"] - np.log(df["x2"]) + effect + 0.5 * (df["shop"] == "s2")
               + rng.normal(0, 0.3, n)).round(5)
    return df


@pytest.fixture
def files(tmp_path):
    df = table()
    df.iloc[:700].to_csv(tmp_path / "part1.csv", index=False)
    df.iloc[700:].to_csv(tmp_path / "part2.csv", index=False)
    df.to_csv(tmp_path / "all.csv", index=False)
    return tmp_path, df


@pytest.mark.parametrize("solver", ["exact", "nesterov", "lbfgs"])
def test_streamed_formula_equals_in_memory(files, solver):
    tmp, df = files
    res = gradfit.fit_files(str(tmp / "part*.csv"), formula=FORMULA, batch_rows=128,
                            solver=solver)
    est = GDRegressor(solver=solver).fit_formula(FORMULA, df)
    assert res.info["feature_names"] == list(est.feature_names_in_) == [
        "x1", "C(region)[T.b]", "C(region)[T.c]", "C(region)[T.d]", "np.log(x2)", "x1:x2"]
    np.testing.assert_allclose(res.coef, est.coef_, rtol=0, atol=1e-10)
    assert res.intercept == pytest.approx(est.intercept_, abs=1e-10)
    assert res.info["design"] == est.design_.to_json()


def test_streamed_categorical_equals_in_memory(files):
    tmp, df = files
    data = DesignBackend(str(tmp / "part*.csv"), "y", categorical="auto", batch_rows=100)
    assert data.largest_batch == 100 < data.n == len(df)  # memory held one batch
    t = read_table(tmp / "all.csv", target="y", categorical="auto")
    assert data.feature_names == t.feature_names == [
        "x1", "x2", "region[T.b]", "region[T.c]", "region[T.d]", "shop[T.s2]"]
    streamed = np.concatenate([X for X, _, _ in data.blocks()])
    np.testing.assert_array_equal(streamed, t.X)
    res = gradfit.fit_files(str(tmp / "part*.csv"), "y", categorical="auto", batch_rows=100)
    mem = gradfit.fit(t.X, t.y)
    np.testing.assert_allclose(res.coef, mem.coef, rtol=0, atol=1e-10)
    assert res.intercept == pytest.approx(mem.intercept, abs=1e-10)


def test_parquet_and_missing_rows(tmp_path):
    df = table(n=400)
    df.loc[[10, 250], "x2"] = np.nan
    df.to_parquet(tmp_path / "d.parquet", row_group_size=64)
    with pytest.raises(InputError) as err:
        DesignBackend(tmp_path / "d.parquet", formula=FORMULA, batch_rows=64)
    assert str(err.value) == (f"1 row of {tmp_path / 'd.parquet'} has missing values (row 11; "
                              "column x2); use --drop-missing (drop_missing=True) to drop them")
    res = gradfit.fit_files(tmp_path / "d.parquet", formula=FORMULA, batch_rows=64,
                            drop_missing=True, solver="exact")
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df, drop_missing=True)
    np.testing.assert_allclose(res.coef, est.coef_, rtol=0, atol=1e-10)


def test_declared_levels(files):
    tmp, df = files
    levels = {"region": ["a", "b", "c", "d", "e"]}  # "e" never occurs: a zero column
    data = DesignBackend(str(tmp / "all.csv"), formula="y ~ x1 + C(region)", levels=levels)
    assert data.feature_names == ["x1", "C(region)[T.b]", "C(region)[T.c]", "C(region)[T.d]",
                                  "C(region)[T.e]"]
    with pytest.raises(InputError) as err:
        DesignBackend(str(tmp / "all.csv"), formula="y ~ x1 + C(region)",
                      levels={"region": ["b", "c", "d"]})
    assert str(err.value) == (f"column 'region' of {tmp / 'all.csv'} has the level 'a', which "
                              "is not among the levels declared for it ('b', 'c', 'd'); declare "
                              "it too, or leave levels out to find them")


@pytest.mark.parametrize(("formula", "message"), [
    ("y ~ center(x1) + C(region)",
     "the formula 'y ~ center(x1) + C(region)' uses center(x1), which learns from all rows at "
     "once: streamed files are read a batch at a time; center or scale the column beforehand, "
     "or fit in memory"),
    ("y ~ x1 + C(np.round(x2))",
     "the categorical term C(np.round(x2)) of 'y ~ x1 + C(np.round(x2))' is not a column: its "
     "levels cannot be found by the first pass over streamed files; write C(column), or fit in "
     "memory"),
])
def test_what_a_batch_cannot_do(files, formula, message):
    tmp, _ = files
    with pytest.raises(InputError) as err:
        DesignBackend(str(tmp / "all.csv"), formula=formula)
    assert str(err.value) == message


def test_cli_streamed_formula(files, capsys):
    tmp, df = files
    model = tmp / "m.json"
    code, out, err = cli(capsys, "fit", str(tmp / "part*.csv"), "--formula", FORMULA,
                         "--solver", "exact", "--batch-rows", "200", "--save", model, "--json",
                         "--quiet")
    assert code == 0, err
    record = json.loads(out)
    assert record["stream"]["mode"] == "files"
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df)
    np.testing.assert_allclose(record["coef"], est.coef_, rtol=0, atol=1e-10)
    assert load_model(model).design.to_json() == est.design_.to_json()
    new = df.head(5).drop(columns="y")
    new.to_csv(tmp / "new.csv", index=False)
    code, out, err = cli(capsys, "predict", model, tmp / "new.csv", "--prediction-only")
    assert code == 0, err
    got = pd.read_csv(pd.io.common.StringIO(out))["predicted_y"].to_numpy()
    np.testing.assert_allclose(got, est.predict(new), rtol=0, atol=1e-9)
    message = user_error(capsys, "fit", str(tmp / "part*.csv"), "--formula", FORMULA,
                         "--skip-bad-rows")
    assert message == ("gradfit: error: --skip-bad-rows is not available with --formula (the "
                       "design is built batch by batch from the parsed columns); leave it out\n")


def test_streamed_text_column_error(files, capsys):
    tmp, _ = files
    message = user_error(capsys, "fit", str(tmp / "part*.csv"), "-t", "y", "--categorical",
                         "region")
    assert message == (f"gradfit: error: non-numeric value 's1' in column 'shop' at line 2 of "
                       f"{tmp / 'part1.csv'} (700 such values in this batch); the column is "
                       "numeric in the design: pass --categorical shop (categorical=['shop']) "
                       "to one-hot encode it\n")


def test_a_streamed_text_feature_without_the_option_says_categorical(files):
    tmp, _ = files
    with pytest.raises(InputError) as err:
        gradfit.fit_files(tmp / "all.csv", "y")
    assert str(err.value) == (
        f"value 'b' in column 'region' at line 2 of {tmp / 'all.csv'} is not a number (the "
        "column holds text, not numbers); --categorical region (categorical=['region']) one-hot "
        "encodes a text feature; fix or remove that row, or pass skip_bad_rows=True to skip such "
        "rows")


def test_streamed_minibatches_through_a_small_buffer(files):
    tmp, df = files
    data = DesignBackend(str(tmp / "part*.csv"), formula=FORMULA, batch_rows=128,
                         buffer_rows=300)
    seen = np.concatenate([X for X, _, _ in data.minibatches(50, np.random.default_rng(0))])
    assert len(seen) == len(df)  # every row once per epoch
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df)
    full = np.c_[est.design_.transform(df)[0]]
    order = np.lexsort(full.T)
    np.testing.assert_array_equal(seen[np.lexsort(seen.T)], full[order])
    res = gradfit.fit_files(str(tmp / "part*.csv"), formula=FORMULA, batch_rows=128,
                            buffer_rows=300, batch_size=50, max_iter=60, random_state=0)
    # SGD: near the optimum in what the data determine (the reference level "a" has one row,
    # so the offsets of b, c, d against it are not: compare them with each other)
    np.testing.assert_allclose(res.coef[[0, 4, 5]], est.coef_[[0, 4, 5]], atol=0.05)
    np.testing.assert_allclose(np.diff(res.coef[1:4]), np.diff(est.coef_[1:4]), atol=0.05)


def test_checkpoint_and_resume_through_a_design(files):
    tmp, df = files
    ckpt = tmp / "run.ckpt"
    kw = {"formula": FORMULA, "batch_rows": 256, "solver": "gd", "max_iter": 30,
          "checkpoint": ckpt, "standardize": True}
    whole = gradfit.fit_files(str(tmp / "part*.csv"), **dict(kw, checkpoint=None))
    stopped = gradfit.fit_files(str(tmp / "part*.csv"),
                                callback=lambda info: info["epoch"] < 12, **kw)
    assert 0 < stopped.n_iter < whole.n_iter == 30
    resumed = gradfit.fit_files(str(tmp / "part*.csv"), resume=True, **kw)
    assert 0 < resumed.info["resumed_from_epoch"] <= stopped.n_iter
    assert resumed.info["n_rows"] == len(df)
    np.testing.assert_array_equal(resumed.coef, whole.coef)  # bit for bit
    other = tmp / "other"
    other.mkdir()
    table(seed=9).to_csv(other / "d.csv", index=False)
    with pytest.raises(Exception, match="data"):
        gradfit.fit_files(other / "d.csv", resume=True, **kw)


def test_a_column_of_numbers_then_text_is_text_throughout(tmp_path):
    """pandas reads a column of codes such as 1203 ... A17 whole as text; streamed, the first
    batches hold only numbers: the first pass makes it text everywhere, so both designs (and
    the sorted levels: "1203" < "904" < "A17" as text) agree."""
    df = table(n=600)
    rng = np.random.default_rng(4)
    df["code"] = rng.choice(["1203", "904", "77"], len(df))
    df.loc[550:, "code"] = "A17"  # text only in the last batch
    df["y"] += df["code"].map({"1203": 1.0, "904": -1.0, "77": 0.5, "A17": 2.0})
    df.to_csv(tmp_path / "d.csv", index=False)
    frame = pd.read_csv(tmp_path / "d.csv")
    assert not pd.api.types.is_numeric_dtype(frame["code"])  # read whole: text
    formula = "y ~ x1 + C(code)"
    est = GDRegressor(solver="exact").fit_formula(formula, frame)
    assert list(est.feature_names_in_) == ["x1", "C(code)[T.77]", "C(code)[T.904]",
                                           "C(code)[T.A17]"]
    res = gradfit.fit_files(tmp_path / "d.csv", formula=formula, batch_rows=100,
                            solver="exact")
    assert res.info["feature_names"] == list(est.feature_names_in_)
    np.testing.assert_allclose(res.coef, est.coef_, rtol=0, atol=1e-10)


def test_streamed_weighted_categorical_equals_in_memory(files):
    tmp, df = files
    w = np.random.default_rng(2).uniform(0.1, 2.0, len(df)).round(3)
    df = df.assign(w=w)
    df.to_csv(tmp / "weighted.csv", index=False)
    res = gradfit.fit_files(tmp / "weighted.csv", "y", categorical="auto", weight="w",
                            batch_rows=100, solver="exact")
    t = read_table(tmp / "weighted.csv", target="y", categorical="auto", drop=["w"])
    assert res.info["feature_names"] == t.feature_names
    mem = gradfit.fit(t.X, t.y, w, solver="exact")
    np.testing.assert_allclose(res.coef, mem.coef, rtol=0, atol=1e-10)
    assert res.intercept == pytest.approx(mem.intercept, abs=1e-10)
