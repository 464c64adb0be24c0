"""Categorical columns without a formula (read_table(categorical=), gradfit fit --categorical)
and formulas on the command line (--formula), with the model file and gradfit predict.
Oracles: formulaic's design of the formula that names the same columns (``y ~ x + region``:
treatment coding, the same column names), numpy.linalg.lstsq on it, statsmodels' ols."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from formulaic import model_matrix

from cli_helpers import cli, user_error
from gradfit import GDRegressor, InputError
from gradfit.io import load_model, read_table


def sales(n=80, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"price": rng.uniform(1, 5, n).round(2),
                       "region": rng.choice(["north", "south", "east"], n),
                       "area": rng.uniform(20, 200, n).round(1),
                       "store": rng.choice(["A", "B"], n)})
    df["units"] = (50 - 4 * df["price"] + 6 * np.log(df["area"])
                   + df["region"].map({"north": 0, "south": 5, "east": -3})
                   + 2 * (df["store"] == "B") + rng.normal(0, 1, n)).round(3)
    return df


@pytest.fixture
def files(tmp_path):
    df = sales()
    df.to_csv(tmp_path / "sales.csv", index=False)
    new = sales(n=6, seed=1).drop(columns="units")
    new.to_csv(tmp_path / "new.csv", index=False)
    west = new.copy()
    west.loc[3, "region"] = "west"
    west.to_csv(tmp_path / "west.csv", index=False)
    return tmp_path, df, new


@pytest.mark.parametrize("categorical", ["auto", ["region", "store"], "region,store"])
def test_read_table_one_hot_encodes_as_formulaic(files, categorical):
    tmp, df, _ = files
    t = read_table(tmp / "sales.csv", target="units", categorical=categorical)
    mm = model_matrix("units ~ price + region + area + store", df)  # the same design
    names = [c for c in mm.rhs.columns if c != "Intercept"]
    assert t.feature_names == names == ["price", "region[T.north]", "region[T.south]", "area",
                                        "store[T.B]"]
    np.testing.assert_array_equal(t.X, mm.rhs[names].to_numpy(dtype=float))
    np.testing.assert_array_equal(t.y, df["units"].to_numpy())
    assert t.design.levels == {"region": ["east", "north", "south"], "store": ["A", "B"]}


def test_categorical_fit_matches_lstsq_and_statsmodels(files):
    tmp, df, _ = files
    t = read_table(tmp / "sales.csv", target="units", categorical="auto")
    est = GDRegressor().fit(t.X, t.y)  # the default solver
    A = np.c_[np.ones(len(t.X)), t.X]
    beta = np.linalg.lstsq(A, t.y, rcond=None)[0]
    np.testing.assert_allclose(est.coef_, beta[1:], rtol=1e-9, atol=1e-9)
    ols = smf.ols("units ~ price + region + area + store", df).fit()
    np.testing.assert_allclose(est.coef_, ols.params[t.feature_names], rtol=1e-9)


def test_a_text_column_without_the_option_says_categorical(files):
    tmp, _, _ = files
    with pytest.raises(InputError) as err:
        read_table(tmp / "sales.csv", target="units")
    assert str(err.value) == (
        f"non-numeric value 'east' in column 'region' at line 2 of {tmp / 'sales.csv'} (80 such "
        "values in all); every feature and the target must be numbers; --categorical region "
        "(categorical=['region']) one-hot encodes it (pick numeric feature columns with "
        "--features)")


@pytest.mark.parametrize(("kw", "message"), [
    ({"categorical": ["regoin"]},
     "column 'regoin' given to --categorical is not among the features of {path}; did you mean "
     "'region'? (features: price, region, area, store)"),
    ({"categorical": ["region"]},
     "non-numeric value 'B' in column 'store' at line 2 of {path} (80 such values in all); the "
     "column is numeric in the design: pass --categorical store (categorical=['store']) to "
     "one-hot encode it"),
    ({"formula": "units ~ price", "target": "units"},
     "the formula names the target and the terms: leave out -t/--target (target=), or leave out "
     "the formula"),
])
def test_read_table_design_errors(files, kw, message):
    tmp, _, _ = files
    kw.setdefault("target", "units") if "formula" not in kw else None
    with pytest.raises(InputError) as err:
        read_table(tmp / "sales.csv", **kw)
    assert str(err.value) == message.format(path=tmp / "sales.csv")


@pytest.mark.parametrize("design", [["--categorical", "auto"],
                                    ["--formula", "units ~ price + C(region) + np.log(area)"]])
def test_cli_fit_save_predict(files, capsys, design):
    tmp, df, new = files
    model = tmp / "m.json"
    target = ["-t", "units"] if design[0] == "--categorical" else []
    code, out, err = cli(capsys, "fit", tmp / "sales.csv", *target, *design, "--solver", "exact",
                         "--save", model, "--json", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    saved = load_model(model)
    assert saved.schema_version == 2 and list(saved.feature_names) == record["feature_names"]
    formula = design[1] if design[0] == "--formula" else \
        "units ~ price + region + area + store"
    ols = smf.ols(formula, df).fit()
    np.testing.assert_allclose(record["coef"], ols.params[record["feature_names"]], rtol=1e-9)
    assert record["intercept"] == pytest.approx(ols.params["Intercept"], rel=1e-9)
    code, out, err = cli(capsys, "predict", model, tmp / "new.csv", "--prediction-only")
    assert code == 0, err
    got = pd.read_csv(pd.io.common.StringIO(out))["predicted_units"].to_numpy()
    np.testing.assert_allclose(got, ols.predict(new).to_numpy(), rtol=1e-10)
    message = user_error(capsys, "predict", model, tmp / "west.csv")
    assert message == (
        f"gradfit: error: column 'region' has the level 'west' at line 5 of {tmp / 'west.csv'}, "
        "which the model did not see in training (known levels: 'east', 'north', 'south'); map "
        "it to a known level, leave those rows out, or fit again on data that has it\n")


def test_cli_formula_without_intercept(files, capsys):
    tmp, df, _ = files
    code, out, err = cli(capsys, "fit", tmp / "sales.csv", "--formula",
                         "units ~ price + C(region) - 1", "--solver", "exact", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["params"]["fit_intercept"] is False and record["intercept"] == 0.0
    ols = smf.ols("units ~ price + C(region) - 1", df).fit()
    assert record["feature_names"] == ["price", "C(region)[east]", "C(region)[north]",
                                       "C(region)[south]"]
    assert set(record["feature_names"]) == set(ols.params.index)  # patsy orders them otherwise
    np.testing.assert_allclose(record["coef"], ols.params[record["feature_names"]], rtol=1e-9)


@pytest.mark.parametrize(("argv", "message"), [
    (["--formula", "units ~ price", "-t", "units"],
     "--formula names the target and the terms: leave out -t"),
    (["--formula", "units ~ price", "--features", "price"],
     "--formula names the target and the terms: leave out --features"),
    ([], "the target is required: -t COL, or a formula such as --formula 'y ~ x1 + x2'"),
    (["--formula", "units ~ price", "--no-intercept"],
     "the formula 'units ~ price' has an intercept but fit_intercept is False: write the "
     "formula with - 1 (or + 0) to fit without one"),
    (["--formula", "units ~ price + np.log(aera)"],
     "{path} lacks column aera needed by the formula; did you mean 'area'? (data columns: "
     "price, region, area, store, units)"),
    (["--formula", "units ~ price", "--dask", "local"],
     "--formula is not available with --dask; fit the files streamed (leave out --dask) or in "
     "memory"),
])
def test_cli_design_errors(files, capsys, argv, message):
    tmp, _, _ = files
    got = user_error(capsys, "fit", tmp / "sales.csv", *argv)
    assert got == f"gradfit: error: {message.format(path=tmp / 'sales.csv')}\n"
