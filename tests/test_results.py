"""RegressionResults (``GDRegressor.summary()``) against statsmodels OLS/WLS results on real
data (statsmodels' longley and stackloss, scikit-learn's diabetes): every statsmodels-named
attribute, the HTML table, names from pandas inputs, and Huber fits judged against the Huber
optimum (scipy.optimize as the independent oracle)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from gradfit import GDRegressor
from gradfit.stats.results import RegressionResults, Summary, summarize

sm = pytest.importorskip("statsmodels.api")

RTOL = 1e-8


def _load(name):
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes(as_frame=True)
        return d.data, d.target.rename("progression")
    d = getattr(sm.datasets, name).load_pandas()
    return d.exog, d.endog


def _weights(n):
    return 1 + 0.5 * np.sin(np.arange(n))


def _close(a, b, rtol=RTOL, scale=None):
    """|a - b| <= rtol * max(|b|, scale): relative, with a floor for values near zero."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    floor = np.max(np.abs(b)) if scale is None else scale
    assert a.shape == b.shape
    np.testing.assert_array_less(np.abs(a - b), rtol * np.maximum(np.abs(b), floor) + 1e-300)


def _pair(name, weighted):
    X, y = _load(name)
    w = _weights(len(y)) if weighted else None
    mod = sm.WLS(y, sm.add_constant(X), weights=w) if weighted else sm.OLS(y, sm.add_constant(X))
    ref = mod.fit()
    p = np.asarray(ref.params)
    res = summarize(X, y, p[1:], p[0], sample_weight=w)
    return res, ref, X, y


@pytest.mark.parametrize("weighted", [False, True], ids=["OLS", "WLS"])
@pytest.mark.parametrize("name", ["longley", "stackloss", "diabetes"])
def test_attributes_match_statsmodels(name, weighted):
    res, ref, X, y = _pair(name, weighted)
    assert isinstance(res, RegressionResults) and Summary is RegressionResults
    assert list(res.params.index) == ["intercept", *map(str, X.columns)]
    _close(res.params, ref.params, 0)
    for attr in ("bse", "tvalues", "pvalues"):
        _close(getattr(res, attr), getattr(ref, attr), RTOL, scale=1e-300)
    for alpha in (0.05, 0.1):
        _close(res.conf_int(alpha), ref.conf_int(alpha), RTOL)
    _close(res.cov_params(), ref.cov_params(), RTOL,
           scale=np.sqrt(np.outer(ref.bse, ref.bse)).max())
    for attr in ("rsquared", "rsquared_adj", "fvalue", "f_pvalue", "aic", "bic", "llf", "ssr",
                 "ess", "scale", "centered_tss", "mse_model", "mse_resid", "mse_total"):
        _close(getattr(res, attr), getattr(ref, attr), RTOL, scale=1e-300)
    assert (res.nobs, res.df_model, res.df_resid) == (ref.nobs, ref.df_model, ref.df_resid)
    # per-row numbers: residuals relative to the scale of y (they are differences)
    scale = float(np.abs(y).max())
    _close(res.fittedvalues, ref.fittedvalues, RTOL, scale=scale)
    _close(res.resid, ref.resid, RTOL, scale=scale)
    _close(res.wresid, ref.wresid, RTOL, scale=scale)
    assert res.resid.index.equals(y.index)


def test_estimator_fit_matches_statsmodels_with_names_from_pandas():
    X, y = _load("diabetes")
    est = GDRegressor(solver="exact").fit(X, y)
    res, ref = est.summary(), sm.OLS(y, sm.add_constant(X)).fit()
    assert res.target_name == "progression"
    assert list(res.params.index) == ["intercept", *X.columns]
    _close(res.params, ref.params, RTOL)
    _close(res.bse, ref.bse, RTOL)
    _close(res.pvalues, ref.pvalues, 1e-6, scale=1e-300)  # p-values amplify param rounding
    _close(res.resid, ref.resid, RTOL, scale=float(np.abs(y).max()))
    text = res.as_text()
    assert text == str(res) and re.search(r"Dep\. Variable:\s+progression", text)
    assert "OLS Regression Results" in text and "bmi" in text
    # passing the data again keeps the names too; a plain array target is "y"
    again = est.summary(X, y)
    assert again.target_name == "progression"
    _close(again.params, res.params, 0)
    plain = GDRegressor(solver="exact").fit(X.to_numpy(), y.to_numpy()).summary()
    assert plain.target_name == "y" and list(plain.params.index)[:2] == ["intercept", "x1"]


def test_html_is_a_table_with_a_row_per_parameter():
    X, y = _load("stackloss")
    res = GDRegressor(solver="exact").fit(X, y.rename("STACKLOSS")).summary()
    html = res._repr_html_()
    assert html == res.as_html()
    assert "<pre>" not in html and "<table" in html
    params = re.search(r'<table class="gradfit-params">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr><th>([^<]*)</th>((?:<td>[^<]*</td>)+)</tr>", params)
    assert [r[0] for r in rows] == ["intercept", *X.columns]
    for (_, cells), coef, se in zip(rows, res.params, res.bse):
        values = re.findall(r"<td>([^<]*)</td>", cells)
        assert len(values) == 6
        assert float(values[0]) == pytest.approx(coef, rel=1e-3)
        assert float(values[1]) == pytest.approx(se, rel=1e-2)
    assert re.search(r"<th>Dep\. Variable:</th><td>STACKLOSS</td>", html)
    assert "<caption>OLS Regression Results (gradfit)</caption>" in html
    # names are escaped
    Xq = X.rename(columns={"AIRFLOW": "a<b"})
    html2 = GDRegressor(solver="exact").fit(Xq, y).summary().as_html()
    assert "<th>a&lt;b</th>" in html2


def test_to_frame_is_statsmodels_summary2_params_table():
    X, y = _load("longley")
    res, ref = summarize(X, y, *_sm_params(X, y)), sm.OLS(y, sm.add_constant(X)).fit()
    frame = res.to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ref.summary2().tables[1]
    assert list(frame.columns) == list(table.columns)
    assert list(frame.index) == ["intercept", *X.columns]
    _close(frame.to_numpy(), table.to_numpy(), RTOL, scale=1e-300)
    hc = summarize(X, y, *_sm_params(X, y), cov_type="HC1").to_frame()
    assert list(hc.columns)[2:4] == ["z", "P>|z|"]


def _sm_params(X, y):
    p = np.asarray(sm.OLS(y, sm.add_constant(X)).fit().params)
    return p[1:], p[0]


def test_resid_needs_the_rows():
    from gradfit.stats.results import summary_from_stats
    from gradfit.stats.sufficient import InferenceStats

    X, y = _load("stackloss")
    coef, icp = _sm_params(X, y)
    res = summary_from_stats(InferenceStats.from_arrays(X, y, coef, icp))
    assert np.isfinite(res.rsquared)
    with pytest.raises(ValueError, match="residuals need the rows"):
        _ = res.resid


def _huber_optimum(X, y, epsilon):
    """The Huber objective minimised by scipy (BFGS from least squares, then Nelder-Mead
    polishing is not needed: the objective is C1 and convex)."""
    from scipy.optimize import minimize

    Z = np.column_stack([np.ones(len(y)), X])

    def f(t):
        r = y - Z @ t
        a = np.abs(r)
        return np.mean(np.where(a <= epsilon, r * r, 2 * epsilon * a - epsilon**2))

    def g(t):
        r = y - Z @ t
        return -2 * Z.T @ np.clip(r, -epsilon, epsilon) / len(y)

    t0 = np.linalg.lstsq(Z, y, rcond=None)[0]
    out = minimize(f, t0, jac=g, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000})
    return out.x, out.fun


def test_huber_fit_is_titled_huber_and_judged_against_the_huber_optimum():
    X, y = _load("stackloss")
    Xa, ya = X.to_numpy(), y.to_numpy()
    eps = 2.0
    t_star, f_star = _huber_optimum(Xa, ya, eps)
    est = GDRegressor(loss="huber", epsilon=eps, max_iter=20000).fit(X, y)
    res = est.summary()
    text = str(res)
    assert "Huber Regression Results" in text and "Penalized" not in text
    assert "Huber (ε=2)" in text
    assert res.model["objective_optimum"] == pytest.approx(f_star, rel=1e-9)
    _close(np.r_[res.optimum["intercept"], res.optimum["coef"]], t_star, 1e-5)
    assert res.model["objective_gap_rel"] < 1e-8
    assert not any("not at the" in w for w in res.warnings)
    # an unconverged Huber fit: the gap is the Huber one, and the warning says Huber
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit warns that it did not converge
        early = GDRegressor(loss="huber", epsilon=eps, solver="gd", max_iter=3,
                            learning_rate=1e-6, standardize=False).fit(X, y)
        r2 = early.summary()
    theta = np.r_[early.intercept_, early.coef_]
    Z = np.column_stack([np.ones(len(ya)), Xa])
    e = ya - Z @ theta
    f_theta = np.mean(np.where(np.abs(e) <= eps, e * e, 2 * eps * np.abs(e) - eps**2))
    assert r2.model["objective"] == pytest.approx(f_theta, rel=1e-12)
    assert r2.model["objective_gap"] == pytest.approx(f_theta - f_star, rel=1e-7)
    assert any("not at the Huber optimum" in w for w in r2.warnings)
    with pytest.raises(ValueError, match="no covariance"):
        res.cov_params()
    # least squares would have judged the same fit against another optimum
    ls = summarize(X, y, est.coef_, est.intercept_)
    assert ls.model["objective_gap_rel"] > 1e-3


def test_penalized_huber_is_titled_so():
    X, y = _load("stackloss")
    est = GDRegressor(loss="huber", penalty="l2", alpha=0.1, max_iter=20000).fit(X, y)
    text = str(est.summary())
    assert "Penalized Huber Regression Results" in text
    assert "Huber optimum without penalty" in text.replace("\n", " ")


def test_get_robustcov_results_matches_statsmodels():
    X, y = _load("diabetes")
    est = GDRegressor(solver="exact").fit(X, y)
    res = est.summary()
    for cov_type in ("HC0", "HC3"):
        ref = sm.OLS(y, sm.add_constant(X)).fit().get_robustcov_results(cov_type)
        other = res.get_robustcov_results(cov_type)
        assert other.cov_type == cov_type and other.target_name == "progression"
        _close(other.bse, ref.bse, 1e-7)
        _close(other.fvalue, ref.fvalue, 1e-7)
        assert list(other.params.index) == list(res.params.index)
    assert res.cov_type == "nonrobust"  # the original results are unchanged


def test_html_of_a_fit_without_inference_has_coefficients_only():
    X, y = _load("stackloss")
    html = GDRegressor(loss="huber", max_iter=20000).fit(X, y).summary().as_html()
    assert "<caption>Huber Regression Results (gradfit)</caption>" in html
    params = re.search(r'<table class="gradfit-params">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr><th>([^<]*)</th>((?:<td>[^<]*</td>)+)</tr>", params)
    assert [r[0] for r in rows] == ["intercept", *X.columns]
    assert all(len(re.findall("<td>", cells)) == 1 for _, cells in rows)
    assert "std err" not in params and "Huber optimum" in html
    res = GDRegressor(loss="huber", max_iter=20000).fit(X, y).summary()
    for method in (res.get_influence, res.anova, lambda: res.t_test("AIRFLOW = 0")):
        with pytest.raises(ValueError, match="Huber loss"):
            method()
