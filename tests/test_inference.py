"""gradfit.stats.inference against statsmodels OLS/WLS, NIST StRD certified values, exact rational
arithmetic, and its own algebra (objective gap, block merging)."""

from __future__ import annotations

import json
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from conftest import NIST_NAMES, SHARED_DATA, digits, nist_xy
from gradfit.stats.inference import (
    COV_TYPES,
    InferenceStats,
    prediction_intervals,
    summarize,
    summary_from_stats,
)

sm = pytest.importorskip("statsmodels.api")
from statsmodels.stats.stattools import (  # noqa: E402
    durbin_watson,
    jarque_bera,
    omni_normtest,
)

RTOL = 1e-8
# statsmodels works on the raw design through pinv: on Longley (condition number 5e9 with the
# constant) its robust covariances are only good to ~2e-9 (see test_longley_robust_exact).
RTOL_SM_LONGLEY_ROBUST = 2e-7
DIAG_KEYS = ("omnibus", "omnibus_pvalue", "jarque_bera", "jb_pvalue")


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------

def _load(name: str):
    """(X DataFrame, y Series) of a data set shipped with scikit-learn or statsmodels."""
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes(as_frame=True)
        return d.data, d.target
    d = getattr(sm.datasets, name).load_pandas()
    return d.exog, d.endog


DATASETS = ["diabetes", "longley", "stackloss", "ccard", "spector", "statecrime"]


def _weights(n: int) -> np.ndarray:
    return 1 + 0.5 * np.sin(np.arange(n))


def _sm_fit(X, y, fit_intercept, w, cov_type):
    Xs = sm.add_constant(X) if fit_intercept else X
    mod = sm.OLS(y, Xs) if w is None else sm.WLS(y, Xs, weights=w)
    res = mod.fit(cov_type=cov_type)
    p = np.asarray(res.params)
    coef, icp = (p[1:], p[0]) if fit_intercept else (p, 0.0)
    return res, coef, icp


def _sm_model_numbers(res) -> dict:
    """Every model-level number statsmodels' summary() shows (and a few behind it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jb, jbp, skew, kurt = jarque_bera(res.wresid)
        omni, omnip = omni_normtest(res.wresid)
    return {
        "n": res.nobs, "df_model": res.df_model, "df_resid": res.df_resid,
        "resid_std_err": np.sqrt(res.scale), "r_squared": res.rsquared,
        "adj_r_squared": res.rsquared_adj, "f_statistic": res.fvalue, "f_pvalue": res.f_pvalue,
        "log_likelihood": res.llf, "aic": res.aic, "bic": res.bic,
        "condition_number": res.condition_number, "min_eigenvalue": res.eigenvals[-1],
        "durbin_watson": durbin_watson(res.wresid), "omnibus": omni, "omnibus_pvalue": omnip,
        "jarque_bera": jb, "jb_pvalue": jbp, "skew": skew, "kurtosis": kurt,
        "ssr": res.ssr, "ess": res.ess, "centered_tss": res.centered_tss,
        "uncentered_tss": res.uncentered_tss, "mse_model": res.mse_model,
        "mse_resid": res.mse_resid, "mse_total": res.mse_total, "use_t": res.use_t,
    }


def _rel(got, want) -> np.ndarray:
    got, want = np.asarray(got, float), np.asarray(want, float)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(same, 0.0, np.abs(got - want) / np.abs(want))


def _assert_close(got, want, rtol, what, pvalue=False):
    """Relative check; p-values below 1e-10 get 1e-6 (their relative error is amplified)."""
    want_a = np.asarray(want, float)
    tol = np.where(pvalue & (np.abs(want_a) < 1e-10), max(rtol, 1e-6), rtol)
    err = _rel(got, want)
    assert np.all(err <= tol), f"{what}: relative error {err.max():.2e} > {tol.max():.0e}"


# ----------------------------------------------------------------------------------------
# statsmodels
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["OLS", "WLS"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["icp", "noicp"])
@pytest.mark.parametrize("name", DATASETS)
def test_matches_statsmodels(name, fit_intercept, weighted, cov_type):
    _check_against_statsmodels(name, fit_intercept, weighted, cov_type, "auto")


@pytest.mark.parametrize("name", DATASETS)
def test_matches_statsmodels_double_path(name):
    """The float64 path (what big data take) meets the same bar."""
    for fit_intercept, weighted, cov_type in [(True, True, "HC3"), (False, False, "nonrobust")]:
        _check_against_statsmodels(name, fit_intercept, weighted, cov_type, "double")


def _check_against_statsmodels(name, fit_intercept, weighted, cov_type, precision):
    X, y = _load(name)
    w = _weights(len(y)) if weighted else None
    res, coef, icp = _sm_fit(X, y, fit_intercept, w, cov_type)
    s = summarize(X, y, coef, icp, sample_weight=w, fit_intercept=fit_intercept,
                  cov_type=cov_type, target_name=str(y.name), precision=precision)
    rtol = RTOL_SM_LONGLEY_ROBUST if (name == "longley" and cov_type != "nonrobust") else RTOL

    for key, want in _sm_model_numbers(res).items():
        tol = max(rtol, 1e-6) if key in DIAG_KEYS else rtol
        _assert_close(s.model[key], want, tol, key, pvalue=key.endswith("pvalue"))
    assert s.model["cov_type"] == cov_type
    assert s.model["centered_r_squared"] is fit_intercept
    assert s.model["model"] == ("WLS" if weighted else "OLS")

    tab = s.coefficients
    names = (["intercept"] if fit_intercept else []) + list(X.columns)
    assert list(tab.index) == names
    assert list(tab.columns) == ["coef", "std_err", "t", "p_value", "ci_low", "ci_high"]
    _assert_close(tab["coef"], res.params, 0, "coef")
    _assert_close(tab["std_err"], res.bse, rtol, "std_err")
    _assert_close(tab["t"], res.tvalues, rtol, "t")
    _assert_close(tab["p_value"], res.pvalues, rtol, "p_value", pvalue=True)
    # interval ends can be near 0: compare on the scale of the standard error
    ci = res.conf_int(alpha=0.05).to_numpy()
    err = np.abs(tab[["ci_low", "ci_high"]].to_numpy() - ci)
    scale = np.maximum(np.abs(ci), np.asarray(res.bse)[:, None])
    assert np.all(err <= rtol * scale), f"ci: {np.max(err / scale):.2e}"
    cov = res.cov_params().to_numpy()
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(s.cov_params().to_numpy() - cov) <= rtol * np.outer(sd, sd))


def test_statsmodels_alpha_and_use_t():
    X, y = _load("ccard")
    res = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC1", use_t=True)
    p = np.asarray(res.params)
    s = summarize(X, y, p[1:], p[0], cov_type="HC1", use_t=True, alpha=0.1)
    assert s.model["use_t"] is True
    _assert_close(s.coefficients["p_value"], res.pvalues, RTOL, "p", pvalue=True)
    ci = res.conf_int(alpha=0.1).to_numpy()
    np.testing.assert_allclose(s.coefficients[["ci_low", "ci_high"]], ci, rtol=RTOL)
    assert "[0.05" in str(s) and "0.95]" in str(s) and "P>|t|" in str(s)


def _exact_hc(X, y, params, kind):
    """HC covariance and the robust Wald F in exact rational arithmetic (float inputs)."""
    A = [[Fraction(1)] + [Fraction(float(v)) for v in row] for row in X]
    Y = [Fraction(float(v)) for v in y]
    P = [Fraction(float(v)) for v in params]
    n, q = len(A), len(A[0])
    ginv = _frac_inv([[sum(a[i] * a[j] for a in A) for j in range(q)] for i in range(q)])
    e = [yy - sum(ai * pi for ai, pi in zip(a, P)) for a, yy in zip(A, Y)]
    h = [sum(a[i] * ginv[i][j] * a[j] for i in range(q) for j in range(q)) for a in A]
    c = {"HC1": [Fraction(n, n - q)] * n, "HC3": [1 / (1 - hh) ** 2 for hh in h]}[kind]
    meat = [[sum(ci * ei * ei * a[i] * a[j] for a, ei, ci in zip(A, e, c)) for j in range(q)]
            for i in range(q)]
    gm = [[sum(ginv[i][k] * meat[k][j] for k in range(q)) for j in range(q)] for i in range(q)]
    cov = [[sum(gm[i][k] * ginv[k][j] for k in range(q)) for j in range(q)] for i in range(q)]
    vinv = _frac_inv([row[1:] for row in cov[1:]])
    f = sum(P[i + 1] * vinv[i][j] * P[j + 1] for i in range(q - 1) for j in range(q - 1))
    return np.sqrt([float(cov[i][i]) for i in range(q)]), float(f / (q - 1))


def _frac_inv(g):
    q = len(g)
    m = [row[:] + [Fraction(int(i == j)) for j in range(q)] for i, row in enumerate(g)]
    for c in range(q):
        piv = next(r for r in range(c, q) if m[r][c] != 0)
        m[c], m[piv] = m[piv], m[c]
        m[c] = [v / m[c][c] for v in m[c]]
        for r in range(q):
            if r != c and m[r][c] != 0:
                f = m[r][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c])]
    return [row[q:] for row in m]


@pytest.mark.parametrize("kind", ["HC1", "HC3"])
def test_longley_robust_exact(kind):
    """Where we and statsmodels differ (Longley, robust), exact arithmetic sides with us."""
    X, y = _load("longley")
    res, coef, icp = _sm_fit(X, y, True, None, kind)
    se_exact, f_exact = _exact_hc(X.to_numpy(), y.to_numpy(), np.asarray(res.params), kind)
    s = summarize(X, y, coef, icp, cov_type=kind)
    np.testing.assert_allclose(s.coefficients["std_err"], se_exact, rtol=1e-12)
    np.testing.assert_allclose(s.model["f_statistic"], f_exact, rtol=1e-12)
    s64 = summarize(X, y, coef, icp, cov_type=kind, precision="double")
    np.testing.assert_allclose(s64.coefficients["std_err"], se_exact, rtol=1e-10)
    # statsmodels' own error (bse or the Wald F) is what the looser tolerance above absorbs
    sm_err = max(np.max(_rel(res.bse, se_exact)), float(_rel(res.fvalue, f_exact)))
    assert 1e-9 < sm_err < RTOL_SM_LONGLEY_ROBUST / 10


# ----------------------------------------------------------------------------------------
# NIST StRD
# ----------------------------------------------------------------------------------------

def _nist_longdouble(name: str, entry: dict):
    """The NIST design parsed from the decimal text in extended precision, powers included."""
    rows = (SHARED_DATA / "nist" / f"{name}.csv").read_text().split()[1:]
    arr = np.array([[np.longdouble(t) for t in r.split(",")] for r in rows])
    y, x = arr[:, 0], arr[:, 1:]
    if entry["polynomial_degree"] is not None:
        powers = [int(p["name"][1:]) for p in entry["parameters"] if p["name"] != "B0"]
        x = np.column_stack([x[:, 0] ** k for k in powers])
    return x, y


def _check_nist(s, sd_cert, entry, min_digits_sd):
    tab, m = s.coefficients, s.model
    s_cert, r2_cert = float(entry["residual_std_dev"]), float(entry["r_squared"])
    if s_cert == 0:  # Wampler1/2: exact fits
        scale = float(np.max(np.abs(s.optimum["coef"]))) + 1
        assert np.all(np.abs(tab["std_err"]) < 1e-12 * scale)
        assert m["resid_std_err"] < 1e-12 * scale
    else:
        assert digits(tab["std_err"], sd_cert).min() >= min_digits_sd
        assert digits(m["resid_std_err"], s_cert) >= 9
    assert digits(m["r_squared"], r2_cert) >= 9
    anova = entry["anova"]
    assert m["df_model"] == float(anova["regression"]["df"])
    assert m["df_resid"] == float(anova["residual"]["df"])
    assert digits(m["ess"], float(anova["regression"]["sum_of_squares"])) >= 9
    assert m["centered_r_squared"] is entry["intercept"]


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_certified(name):
    X, y, fi, beta, sd, entry = nist_xy(name)
    coef, icp = (beta[1:], beta[0]) if fi else (beta, 0.0)
    s = summarize(X, y, coef, icp, fit_intercept=fi)
    # Filip in float64: rounding x**k to float64 perturbs the problem itself; exact rational
    # arithmetic on these float64 columns reaches only 7.6 digits of the certified SDs.
    _check_nist(s, sd, entry, 7 if name == "Filip" else 9)
    if not fi:
        assert any("uncentered" in w for w in s.warnings)
        assert "R-squared (uncentered):" in str(s)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="numpy.longdouble is float64 on this platform")
@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_certified_extended_input(name):
    """longdouble inputs (decimal text parsed to 64-bit mantissas) reach 9+ digits everywhere."""
    _, _, fi, beta, sd, entry = nist_xy(name)
    X, y = _nist_longdouble(name, entry)
    coef, icp = (beta[1:], beta[0]) if fi else (beta, 0.0)
    s = summarize(X, y, coef, icp, fit_intercept=fi)
    _check_nist(s, sd, entry, 9)


def test_nist_double_path():
    """The float64 (big-data) path: 9+ digits on all but Filip."""
    for name in NIST_NAMES:
        X, y, fi, beta, sd, entry = nist_xy(name)
        coef, icp = (beta[1:], beta[0]) if fi else (beta, 0.0)
        s = summarize(X, y, coef, icp, fit_intercept=fi, precision="double")
        assert s.coefficients.std_err.dtype == float
        if name != "Filip":
            _check_nist(s, sd, entry, 9)


# ----------------------------------------------------------------------------------------
# optimality
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_gap(fit_intercept, weighted):
    X, y = _load("diabetes")
    X, y = X.to_numpy(), y.to_numpy()
    w = _weights(len(y)) if weighted else None
    res, coef, icp = _sm_fit(X, y, fit_intercept, w, "nonrobust")
    s_opt = summarize(X, y, coef, icp, sample_weight=w, fit_intercept=fit_intercept)
    assert s_opt.model["objective_gap_rel"] < 1e-20
    assert s_opt.model["coef_rel_distance"] < 1e-12
    assert not any("not at the least-squares optimum" in m for m in s_opt.warnings)

    sw = np.ones(len(y)) if w is None else w
    def objective(c, b):
        return np.sum(sw * (y - X @ c - b) ** 2) / sw.sum()

    rng = np.random.default_rng(1)
    sign = rng.choice([-1, 1], len(res.params))
    theta = np.asarray(res.params) + 0.5 * np.asarray(res.bse) * sign
    c, b = (theta[1:], theta[0]) if fit_intercept else (theta, 0.0)
    s = summarize(X, y, c, b, sample_weight=w, fit_intercept=fit_intercept)
    gap = objective(c, b) - objective(coef, icp)
    np.testing.assert_allclose(s.model["objective_gap"], gap, rtol=1e-8)
    np.testing.assert_allclose(s.model["objective"], objective(c, b), rtol=1e-12)
    dist = np.linalg.norm(theta - np.asarray(res.params)) / np.linalg.norm(np.asarray(res.params))
    np.testing.assert_allclose(s.model["coef_rel_distance"], dist, rtol=1e-8)
    np.testing.assert_allclose(s.optimum["coef"], coef, rtol=1e-10)
    np.testing.assert_allclose(s.optimum["intercept"], icp, rtol=1e-10, atol=1e-10)
    Z = np.column_stack([np.ones(len(y)), X]) if fit_intercept else X
    grad = -2 * Z.T @ (sw * (y - Z @ theta)) / sw.sum()
    np.testing.assert_allclose(s.model["grad_norm"], np.linalg.norm(grad), rtol=1e-8)
    assert any("not at the least-squares optimum" in m for m in s.warnings)
    assert "not at the least-squares optimum" in str(s)
    # residual-based numbers are taken at the given parameters
    np.testing.assert_allclose(s.model["ssr"], objective(c, b) * sw.sum(), rtol=1e-12)


# ----------------------------------------------------------------------------------------
# prediction intervals
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "HC3"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("name,weighted", [("ccard", True), ("diabetes", False),
                                           ("stackloss", True)])
def test_prediction_intervals(name, weighted, fit_intercept, cov_type):
    X, y = _load(name)
    w = _weights(len(y)) if weighted else None
    res, coef, icp = _sm_fit(X, y, fit_intercept, w, cov_type)
    X_new = X.to_numpy()[::3] * 1.05
    exog = sm.add_constant(X_new, has_constant="add") if fit_intercept else X_new
    want = res.get_prediction(exog).summary_frame(alpha=0.1)
    s = summarize(X, y, coef, icp, sample_weight=w, fit_intercept=fit_intercept,
                  cov_type=cov_type)
    got = prediction_intervals(s, X_new, alpha=0.1)
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=RTOL,
                               atol=RTOL * np.abs(want.to_numpy()).max())


def test_prediction_intervals_from_stats_and_weights():
    X, y = _load("ccard")
    res, coef, icp = _sm_fit(X, y, True, None, "nonrobust")
    stats = InferenceStats.from_arrays(X, y, coef, icp)
    X_new = X.to_numpy()[:4]
    wn = np.array([1.0, 2.0, 0.5, 4.0])
    want = res.get_prediction(sm.add_constant(X_new, has_constant="add"),
                              weights=wn).summary_frame(alpha=0.05)
    got = prediction_intervals(stats, X_new, weights=wn)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=RTOL)
    one = prediction_intervals(stats, X_new[0])
    np.testing.assert_allclose(one.to_numpy()[0], got.to_numpy()[0, :2].tolist() +
                               prediction_intervals(stats, X_new[:1]).to_numpy()[0, 2:].tolist())


# ----------------------------------------------------------------------------------------
# blocks and merging
# ----------------------------------------------------------------------------------------

def _blocks(X, y, w, cuts):
    return [(X[a:b], y[a:b], None if w is None else w[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


@pytest.mark.parametrize("precision", ["double", "extended"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_merge_equals_one_pass(precision, fit_intercept):
    X, y = _load("diabetes")
    X, y = X.to_numpy(), y.to_numpy()
    w = _weights(len(y))
    w[100:110] = 0.0  # a block of zero weights: those rows are absent
    res, coef, icp = _sm_fit(X, y, fit_intercept, None, "nonrobust")
    coef = coef * 1.01  # away from the optimum, so the optimality numbers are not noise
    one = InferenceStats.from_arrays(X, y, coef, icp, sample_weight=w, leverage=True,
                                     fit_intercept=fit_intercept, precision=precision)
    blocks = _blocks(X, y, w, [0, 1, 7, 100, 110, 111, 300, len(y)])
    parts = [InferenceStats.from_blocks([b], coef, icp, fit_intercept=fit_intercept,
                                        dtype=one.dtype) for b in blocks]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    streamed = InferenceStats.from_blocks(iter(blocks), coef, icp, fit_intercept=fit_intercept,
                                          dtype=one.dtype)
    for st in (merged, streamed):
        st = st.with_leverage(blocks)
        assert st.n == one.n == len(y) - 10
        for field in ("sw_sum", "sum_log_sw", "mean_x", "mean_y", "res_moments", "dw_num",
                      "sum_se", "grad_c", "err_scale", "res_first", "res_last"):
            np.testing.assert_allclose(np.asarray(getattr(st, field), float),
                                       np.asarray(getattr(one, field), float),
                                       rtol=1e-11, atol=1e-9, err_msg=field)
        gram = st.r_xy.T @ st.r_xy
        np.testing.assert_allclose(np.asarray(gram, float),
                                   np.asarray(one.r_xy.T @ one.r_xy, float),
                                   rtol=1e-11, atol=1e-11 * np.abs(np.asarray(gram, float)).max())
        for cov_type in COV_TYPES:
            a, b = summary_from_stats(one, cov_type=cov_type), summary_from_stats(st,
                                                                                 cov_type=cov_type)
            np.testing.assert_allclose(b.coefficients.to_numpy(), a.coefficients.to_numpy(),
                                       rtol=1e-10)
            for k, v in a.model.items():
                if isinstance(v, float):
                    np.testing.assert_allclose(b.model[k], v, rtol=1e-10, err_msg=k)


def test_merge_rejects_different_parameters():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    a = InferenceStats.from_arrays(X, y, [1.0, 2.0], 0.5)
    b = InferenceStats.from_arrays(X, y, [1.0, 2.5], 0.5)
    with pytest.raises(ValueError, match="different parameters"):
        a.merge(b)


def test_zero_weights_drop_rows():
    X, y = _load("stackloss")
    X, y = X.to_numpy(), y.to_numpy()
    w = np.ones(len(y))
    w[[2, 5]] = 0
    keep = w > 0
    res, coef, icp = _sm_fit(X[keep], y[keep], True, None, "HC3")
    a = summarize(X, y, coef, icp, sample_weight=w, cov_type="HC3")
    b = summarize(X[keep], y[keep], coef, icp, cov_type="HC3")
    np.testing.assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy(), rtol=1e-12)
    assert a.model["n"] == keep.sum()


def test_hc2_needs_second_pass():
    X, y = _load("stackloss")
    res, coef, icp = _sm_fit(X, y, True, None, "nonrobust")
    stats = InferenceStats.from_arrays(X, y, coef, icp)
    with pytest.raises(ValueError, match="second pass"):
        summary_from_stats(stats, coef, icp, cov_type="HC2")
    s = summary_from_stats(stats.with_leverage([(X, y, None)]), coef, icp, cov_type="HC2")
    want = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC2").bse
    np.testing.assert_allclose(s.coefficients["std_err"], want, rtol=RTOL)


# ----------------------------------------------------------------------------------------
# penalized fits, errors, output
# ----------------------------------------------------------------------------------------

def test_penalized_summary():
    X, y = _load("diabetes")
    from sklearn.linear_model import Ridge

    r = Ridge(alpha=1.0).fit(X, y)
    s = summarize(X, y, r.coef_, r.intercept_, penalized_reason="l2 penalty (ridge), alpha=1")
    tab = s.coefficients
    np.testing.assert_array_equal(tab["coef"], np.r_[r.intercept_, r.coef_])
    assert tab.drop(columns="coef").isna().all().all()
    assert s.cov is None and np.isnan(s.model["f_statistic"])
    assert any("l2 penalty (ridge)" in m and "not given" in m for m in s.warnings)
    assert not any("not at the least-squares optimum" in m for m in s.warnings)
    text = str(s)
    assert "Penalized" in text and "l2 penalty (ridge)" in text and "std err" not in text
    json.dumps(s.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="penalized"):
        prediction_intervals(s, X.to_numpy()[:2])


def test_multi_output_and_bad_input_rejected():
    X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30.0)
    with pytest.raises(ValueError, match="single output"):
        summarize(X, y, np.ones((2, 3)), [0.0, 0.0])
    with pytest.raises(ValueError, match="single output"):
        summarize(X, np.c_[y, y], np.ones(3), 0.0)
    with pytest.raises(ValueError, match="cov_type"):
        summarize(X, y, np.ones(3), 0.0, cov_type="HC4")
    with pytest.raises(ValueError, match="intercept is not 0"):
        summarize(X, y, np.ones(3), 1.0, fit_intercept=False)
    with pytest.raises(ValueError, match="columns"):
        summarize(X, y, np.ones(2), 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        summarize(X, y, np.ones(3), 0.0, sample_weight=-np.ones(30))
    stats = InferenceStats.from_arrays(X, y, np.ones(3), 0.0)
    with pytest.raises(ValueError, match="differs"):
        summary_from_stats(stats, np.zeros(3), 0.0)
    s = summarize(X, y, np.ones((1, 3)), np.array([0.0]))  # (1, d) is one output
    assert len(s.coefficients) == 4


def test_text_and_dict_output():
    X, y = _load("longley")
    res, coef, icp = _sm_fit(X, y, False, _weights(len(y)), "HC1")
    s = summarize(X, y, coef, icp, sample_weight=_weights(len(y)), fit_intercept=False,
                  cov_type="HC1", target_name="TOTEMP")
    text = str(s)
    for part in ("WLS Regression Results", "Dep. Variable:", "TOTEMP",
                 "R-squared (uncentered):", "P>|z|", "[0.025", "0.975]", "GNPDEFL",
                 "Durbin-Watson:", "Cond. No.", "Objective gap:", "Gradient norm:",
                 "heteroscedasticity robust (HC1)", "uncentered", "condition number is large"):
        assert part in text, part
    assert "intercept" not in s.coefficients.index
    d = s.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert [c["name"] for c in back["coefficients"]] == list(X.columns)
    assert back["model"]["centered_r_squared"] is False
    assert back["model"]["cov_type"] == "HC1"
    for key in ("n", "df_model", "df_resid", "resid_std_err", "r_squared", "adj_r_squared",
                "f_statistic", "f_pvalue", "log_likelihood", "aic", "bic", "condition_number",
                "durbin_watson", "omnibus", "omnibus_pvalue", "jarque_bera", "jb_pvalue", "skew",
                "kurtosis", "grad_norm", "objective_gap", "coef_rel_distance"):
        assert key in back["model"], key
    assert isinstance(s.coefficients, pd.DataFrame)
