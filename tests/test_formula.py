"""Formulas: ``GDRegressor.fit_formula``, ``gradfit.fit("y ~ ...", data=)``, predict on new
frames and model files, against statsmodels' ols (patsy's design: the same term names for
treatment coding), numpy.linalg.lstsq on formulaic's own design matrix, and formulaic's
ModelSpec applied to new data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from formulaic import model_matrix

import gradfit
from gradfit import GDRegressor, InputError
from gradfit.data.design import DesignSpec
from gradfit.io import load_model, save_model, train_data_hash

FORMULA = "y ~ x1 + C(region) + np.log(x2)"


def frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(0.5, 3.0, n),
                       "region": rng.choice(["north", "south", "east"], n),
                       "year": rng.choice([2001, 2003, 2002], n)})
    effect = df["region"].map({"north": 0.0, "south": 1.5, "east": -2.0})
    df["y"] = (1.0 + 2.0 * df["x1"] - 3.0 * np.log(df["x2"]) + effect
               + 0.3 * (df["year"] - 2002) + rng.normal(0, 0.5, n))
    return df


def lstsq_on_formulaic(formula, df):
    """Coefficients by numpy.linalg.lstsq on formulaic's design (Intercept included)."""
    mm = model_matrix(formula, df)
    X = mm.rhs.to_numpy(dtype=float)
    beta = np.linalg.lstsq(X, mm.lhs.to_numpy(dtype=float)[:, 0], rcond=None)[0]
    return dict(zip(mm.rhs.columns, beta))


@pytest.mark.parametrize("formula", [FORMULA, "y ~ x1 + C(year) + region",
                                     "y ~ x1 + C(region) - 1", "y ~ np.log(x2) + C(region) + 0",
                                     "np.exp(y / 10) ~ x1 * x2 + C(region)"])
@pytest.mark.parametrize("solver", ["exact", "nesterov"])
def test_fit_formula_matches_statsmodels_and_lstsq(formula, solver):
    df = frame()
    est = GDRegressor(solver=solver).fit_formula(formula, df)
    ols = smf.ols(formula, df).fit()
    names = list(est.feature_names_in_)
    fitted = dict(zip(names, est.coef_))
    if est.fit_intercept:
        fitted["Intercept"] = est.intercept_
    assert set(fitted) == set(ols.params.index)  # statsmodels' (patsy's) term names
    oracle = lstsq_on_formulaic(formula, df)
    assert set(oracle) == set(fitted)
    for name, value in fitted.items():
        assert value == pytest.approx(ols.params[name], rel=1e-8, abs=1e-8), name
        assert value == pytest.approx(oracle[name], rel=1e-8, abs=1e-8), name
    assert est.fit_intercept == ("Intercept" in oracle)


def test_functional_fit_takes_a_formula():
    df = frame()
    res = gradfit.fit(FORMULA, data=df, solver="exact")
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df)
    np.testing.assert_allclose(res.coef, est.coef_, rtol=0, atol=1e-12)
    assert res.intercept == pytest.approx(est.intercept_, abs=1e-12)
    assert res.info["feature_names"] == ["x1", "C(region)[T.north]", "C(region)[T.south]",
                                         "np.log(x2)"]
    assert DesignSpec.from_json(res.info["design"]).names == tuple(res.info["feature_names"])
    with pytest.raises(InputError, match=r"^data= goes with a formula: gradfit.fit\('y ~ x1 \+ "
                                         r"x2', data=frame\)$"):
        gradfit.fit(np.ones((3, 1)), np.ones(3), data=df)


def test_predict_rebuilds_the_design_on_new_rows():
    train, new = frame(seed=0), frame(n=30, seed=1)
    est = GDRegressor(solver="exact").fit_formula(FORMULA, train)
    # formulaic's own model spec, learnt on the training rows, applied to the new ones
    spec = model_matrix(FORMULA, train).rhs.model_spec
    Xnew = spec.get_model_matrix(new)
    beta = dict(zip(est.feature_names_in_, est.coef_))
    want = est.intercept_ + sum(Xnew[c].to_numpy() * b for c, b in beta.items())
    np.testing.assert_allclose(est.predict(new), want, rtol=1e-12, atol=1e-12)
    # a frame with the rows of one region only still gets all the columns
    one = new[new["region"] == "south"].reset_index(drop=True)
    np.testing.assert_allclose(est.predict(one), want[new["region"].to_numpy() == "south"],
                               rtol=1e-12, atol=1e-12)
    assert est.score(new, new["y"]) == pytest.approx(
        1 - ((new["y"] - want) ** 2).sum() / ((new["y"] - new["y"].mean()) ** 2).sum())


def test_stateful_transform_keeps_the_training_state():
    train, new = frame(seed=0), frame(n=25, seed=2)
    formula = "y ~ center(x1) + scale(x2) + C(region)"
    est = GDRegressor(solver="exact").fit_formula(formula, train)
    spec = model_matrix(formula, train).rhs.model_spec
    Xnew = spec.get_model_matrix(new)
    want = est.intercept_ + Xnew[list(est.feature_names_in_)].to_numpy() @ est.coef_
    np.testing.assert_allclose(est.predict(new), want, rtol=1e-12, atol=1e-12)
    again = DesignSpec.from_json(est.design_.to_json())  # through JSON: the same state
    X2, _, _ = again.transform(new, target=False)
    np.testing.assert_allclose(X2, Xnew[list(est.feature_names_in_)].to_numpy(), rtol=0,
                               atol=1e-15)


def test_model_file_round_trip(tmp_path):
    train, new = frame(seed=0), frame(n=20, seed=3)
    est = GDRegressor(solver="exact").fit_formula(FORMULA, train)
    path = save_model(tmp_path / "m.json", est, target_name="y", train_hash=train_data_hash(
        np.zeros((1, 1)), np.zeros(1)))
    model = load_model(path)
    assert model.schema_version == 2 and model.design is not None
    assert model.columns == ["x1", "x2", "region"]
    np.testing.assert_allclose(model.predict(new), est.predict(new), rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.to_estimator().predict(new), est.predict(new), rtol=0,
                               atol=1e-12)
    assert model.to_dict()["design"] == est.design_.to_json()


def test_summary_names_terms_as_statsmodels():
    df = frame()
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df)
    res = est.summary()
    ols = smf.ols(FORMULA, df).fit()
    # the terms by statsmodels' names; the intercept row is the summary's own "intercept"
    # (statsmodels: "Intercept")
    assert list(res.params.index) == ["intercept", "x1", "C(region)[T.north]",
                                      "C(region)[T.south]", "np.log(x2)"]
    theirs = {"intercept": "Intercept"}
    for name in res.params.index:
        assert res.params[name] == pytest.approx(ols.params[theirs.get(name, name)], rel=1e-9)
        assert res.bse[name] == pytest.approx(ols.bse[theirs.get(name, name)], rel=1e-7)
    assert res.rsquared == pytest.approx(ols.rsquared, rel=1e-10)
    text = str(res)
    assert "C(region)[T.south]" in text and "np.log(x2)" in text
    again = est.summary(df, df["y"])  # the training frame again: its design is rebuilt
    np.testing.assert_allclose(again.bse.to_numpy(), res.bse.to_numpy(), rtol=1e-12)


def test_unseen_level_is_refused_with_the_known_levels():
    est = GDRegressor(solver="exact").fit_formula(FORMULA, frame())
    new = frame(n=4, seed=5)
    new.loc[2, "region"] = "west"
    with pytest.raises(InputError) as err:
        est.predict(new)
    assert str(err.value) == (
        "column 'region' has the level 'west' at row 3 of <DataFrame>, which the model did not "
        "see in training (known levels: 'east', 'north', 'south'); map it to a known level, "
        "leave those rows out, or fit again on data that has it")


def test_missing_values_are_refused_unless_dropped():
    df = frame()
    df.loc[[4, 9], "x2"] = np.nan
    with pytest.raises(InputError) as err:
        GDRegressor(solver="exact").fit_formula(FORMULA, df)
    assert str(err.value) == ("2 rows of <DataFrame> have missing values (rows 5, 10; column "
                              "x2); use --drop-missing (drop_missing=True) to drop them")
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df, drop_missing=True)
    ols = smf.ols(FORMULA, df).fit()  # patsy drops them
    np.testing.assert_allclose(est.coef_, ols.params[list(est.feature_names_in_)], rtol=1e-9)


@pytest.mark.parametrize(("formula", "change", "message"), [
    ("y ~ x1 + np.log(x2)", lambda d: d.loc.__setitem__((6, "x2"), -1.0),
     "the design column 'np.log(x2)' is nan at row 7 of <DataFrame>: a transform left its domain "
     "there (np.log of a number <= 0, say) or a value is infinite; fix or drop that row, or "
     "change the formula"),
    ("y ~ x1 + np.log(x2)", lambda d: d.__setitem__("x2", d["x2"].astype(object))
     or d.loc.__setitem__((3, "x2"), "n/a"),
     "non-numeric value 'n/a' in column 'x2' at row 4 of <DataFrame>; the column is numeric in "
     "the design: write C(x2) in the formula to treat it as categorical"),
    ("y ~ x1 + x3", lambda d: None,
     "<DataFrame> lacks column x3 needed by the formula; did you mean 'x2' or 'x1'? (data "
     "columns: x1, x2, region, year, y)"),
    ("x1 + x2", lambda d: None,
     "a formula needs a target on the left of ~, such as 'y ~ x1 + x2'; got 'x1 + x2'"),
    ("y ~ 1", lambda d: None,
     "the formula 'y ~ 1' has no terms besides the intercept: name at least one column on the "
     "right of ~"),
])
def test_formula_errors(formula, change, message):
    df = frame()
    change(df)
    with pytest.raises(InputError) as err:
        GDRegressor(solver="exact").fit_formula(formula, df)
    assert str(err.value) == message


def test_intercept_comes_from_the_formula():
    df = frame()
    with pytest.raises(InputError) as err:
        GDRegressor(fit_intercept=False).fit_formula(FORMULA, df)
    assert str(err.value) == (f"the formula {FORMULA!r} has an intercept but fit_intercept is "
                              "False: write the formula with - 1 (or + 0) to fit without one")
    est = GDRegressor(solver="exact").fit_formula("y ~ x1 + C(region) - 1", df)
    assert est.fit_intercept is False and est.intercept_ == 0.0
    assert list(est.feature_names_in_) == ["x1", "C(region)[east]", "C(region)[north]",
                                           "C(region)[south]"]


def test_import_gradfit_leaves_formulaic_unloaded():
    code = ("import sys, gradfit; gradfit.GDRegressor; gradfit.fit; "
            "print('formulaic' in sys.modules, 'statsmodels' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_unseen_numeric_level_is_shown_as_a_number():
    est = GDRegressor(solver="exact").fit_formula("y ~ x1 + C(year)", frame())
    new = frame(n=3, seed=6)
    new.loc[1, "year"] = 1999
    with pytest.raises(InputError) as err:
        est.predict(new)
    assert str(err.value) == (
        "column 'year' has the level 1999 at row 2 of <DataFrame>, which the model did not see "
        "in training (known levels: 2001, 2002, 2003); map it to a known level, leave those "
        "rows out, or fit again on data that has it")


def test_weighted_formula_fit_matches_statsmodels_wls():
    df = frame()
    w = np.random.default_rng(8).uniform(0.2, 3.0, len(df))
    df.loc[[3, 17], "x1"] = np.nan  # dropped rows take their weights with them
    est = GDRegressor(solver="exact").fit_formula(FORMULA, df, sample_weight=w,
                                                  drop_missing=True)
    keep = df["x1"].notna().to_numpy()
    wls = smf.wls(FORMULA, df[keep], weights=w[keep]).fit()
    for name, value in zip(est.feature_names_in_, est.coef_):
        assert value == pytest.approx(wls.params[name], rel=1e-9), name
    assert est.intercept_ == pytest.approx(wls.params["Intercept"], rel=1e-9)
