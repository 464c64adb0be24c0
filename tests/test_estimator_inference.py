"""GDRegressor.summary(): the inference face of the estimator, against statsmodels and NIST."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.datasets import load_diabetes

from conftest import digits, nist_xy
from gradfit import ConvergenceWarning, GDRegressor


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True, as_frame=True)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "HC3"])
def test_summary_matches_statsmodels_ols(diabetes, cov_type):
    X, y = diabetes
    est = GDRegressor(solver="exact").fit(X, y)
    ours = est.summary(cov_type=cov_type)
    ref = sm.OLS(y.to_numpy(), sm.add_constant(X.to_numpy())).fit(cov_type=cov_type)
    np.testing.assert_allclose(ours.coefficients["coef"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(ours.coefficients["std_err"], ref.bse, rtol=1e-8)
    np.testing.assert_allclose(ours.coefficients["p_value"], ref.pvalues, rtol=1e-6)
    for key, val in [("r_squared", ref.rsquared), ("aic", ref.aic), ("bic", ref.bic),
                     ("log_likelihood", ref.llf), ("f_statistic", ref.fvalue)]:
        assert ours.model[key] == pytest.approx(val, rel=1e-8), key
    assert list(ours.coefficients.index) == ["intercept", *X.columns]
    assert "OLS Regression Results" in str(ours)


def test_converged_gradient_fit_matches_exact_summary(diabetes):
    X, y = diabetes
    gd = GDRegressor(solver="nesterov").fit(X, y).summary()
    ex = GDRegressor(solver="exact").fit(X, y).summary()
    for col in ["coef", "std_err", "t", "ci_low", "ci_high"]:
        np.testing.assert_allclose(gd.coefficients[col], ex.coefficients[col], rtol=1e-6)
    assert gd.model["objective_gap"] <= 1e-6 * ex.model["objective"]


def test_early_stopped_fit_reports_its_distance_to_the_optimum(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GDRegressor(solver="gd", standardize=True, max_iter=20).fit(X, y)
    s = est.summary()
    assert s.model["objective_gap"] > 0 and s.model["coef_rel_distance"] > 1e-3
    assert any("not at the least-squares optimum" in w or "optimum" in w for w in s.warnings)


def test_penalized_fit_says_why_there_is_no_inference(diabetes):
    X, y = diabetes
    s = GDRegressor(penalty="l2", alpha=0.1).fit(X, y).summary()
    assert s.coefficients["std_err"].isna().all()
    assert "penalty" in str(s)


@pytest.mark.parametrize("name", ["Norris", "Longley", "NoInt1", "Wampler4"])
def test_nist_standard_deviations_through_the_estimator(name):
    X, y, fit_intercept, beta, sd, entry = nist_xy(name)
    est = GDRegressor(solver="exact", fit_intercept=fit_intercept).fit(X, y)
    s = est.summary()
    assert digits(s.coefficients["std_err"].to_numpy(), sd).min() >= 9
    assert digits(s.model["resid_std_err"], float(entry["residual_std_dev"])) >= 9
    assert digits(s.model["r_squared"], float(entry["r_squared"])) >= 9


def test_predict_with_std_and_intervals_match_statsmodels(diabetes):
    X, y = diabetes
    est = GDRegressor(solver="exact").fit(X, y)
    mean, se = est.predict(X.iloc[:5], return_std=True)
    frame = est.predict_interval(X.iloc[:5], alpha=0.1)
    ref = sm.OLS(y.to_numpy(), sm.add_constant(X.to_numpy())).fit()
    ref_frame = ref.get_prediction(sm.add_constant(X.to_numpy())[:5]).summary_frame(alpha=0.1)
    np.testing.assert_allclose(mean, ref_frame["mean"], rtol=1e-9)
    np.testing.assert_allclose(se, ref_frame["mean_se"], rtol=1e-8)
    np.testing.assert_allclose(frame.iloc[:, -1], ref_frame["obs_ci_upper"], rtol=1e-8)


def test_large_training_set_needs_the_data_again():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120_000, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=120_000)
    est = GDRegressor(solver="exact").fit(X, y)
    with pytest.raises(ValueError, match=r"summary\(X, y"):
        est.summary()
    assert est.summary(X, y).model["n"] == 120_000


def test_report_has_the_statistical_summary(tmp_path, diabetes):
    from gradfit.charts import FitView
    from gradfit.report import write_report

    X, y = diabetes
    Xb = X[["bmi"]].to_numpy()
    est = GDRegressor().fit(Xb, y)
    view = FitView(X=Xb, y=y.to_numpy(), feature_names=["bmi"], target_name="progression",
                   results={"nesterov": est.result_}, exact_name=None,
                   inference_text=str(est.summary(feature_names=["bmi"])))
    html = write_report(view, tmp_path / "r.html").read_text()
    assert "Statistical summary" in html and "Prob (F-statistic)" in html
