"""Influence measures (gradfit.stats.influence) against gretl's published leverage/DFFITS
table that statsmodels ships (macro data), statsmodels' OLSInfluence on the same data, and a
CSV file read in blocks; ANOVA tables (gradfit.stats.anova) against statsmodels' anova_lm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradfit import GDRegressor
from gradfit.stats.influence import influence
from gradfit.stats.results import summarize

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")
from statsmodels.stats.anova import anova_lm  # noqa: E402
from statsmodels.stats.outliers_influence import OLSInfluence  # noqa: E402

RTOL = 1e-8


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


def _macro():
    d = sm.datasets.macrodata.load_pandas().data
    X = pd.DataFrame({"g_realgdp": 400 * np.diff(np.log(d["realgdp"].to_numpy())),
                      "realint_lag": d["realint"].to_numpy()[:-1]})
    return X, pd.Series(400 * np.diff(np.log(d["realinv"].to_numpy())), name="g_realinv")


def _gretl_table():
    import statsmodels.regression.tests as t

    path = Path(t.__file__).parent / "results" / "leverage_influence_ols_nostars.txt"
    if not path.exists():
        pytest.skip("statsmodels' gretl influence table is not installed")
    lev = pd.read_csv(path, skiprows=3, skipfooter=3, sep=r"\s+", header=None,
                      engine="python")
    lev.columns = ["date", "residual", "leverage", "influence", "DFFITS"]
    return lev


def test_influence_matches_gretls_published_table():
    X, y = _macro()
    res = GDRegressor(solver="exact").fit(X, y).summary()
    inf = res.get_influence()
    lev = _gretl_table()
    # gretl prints 3 decimals (residuals 5 significant digits)
    np.testing.assert_allclose(inf.resid, lev["residual"], atol=5e-3 * 1.01)
    np.testing.assert_allclose(inf.hat_matrix_diag, lev["leverage"], atol=5e-4 * 1.01)
    np.testing.assert_allclose(inf.dffits[0], lev["DFFITS"], atol=5e-4 * 1.01)
    h = inf.hat_matrix_diag
    np.testing.assert_allclose(inf.resid * h / (1 - h), lev["influence"],
                               rtol=5e-5, atol=5e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("name", ["longley", "stackloss"])
def test_influence_matches_statsmodels(name, fit_intercept):
    d = getattr(sm.datasets, name).load_pandas()
    X, y = d.exog, d.endog
    ref = sm.OLS(y, sm.add_constant(X) if fit_intercept else X).fit()
    p = np.asarray(ref.params)
    coef, icp = (p[1:], p[0]) if fit_intercept else (p, 0.0)
    inf = summarize(X, y, coef, icp, fit_intercept=fit_intercept).get_influence()
    theirs = OLSInfluence(ref)
    _close(inf.hat_matrix_diag, theirs.hat_matrix_diag)
    _close(inf.resid_studentized_internal, theirs.resid_studentized_internal)
    _close(inf.resid_studentized_external, theirs.resid_studentized_external)
    _close(inf.cooks_distance[0], theirs.cooks_distance[0])
    _close(inf.cooks_distance[1], theirs.cooks_distance[1], 1e-7)
    _close(inf.dffits[0], theirs.dffits[0])
    assert inf.dffits[1] == pytest.approx(theirs.dffits[1], rel=1e-14)
    frame = inf.summary_frame()
    ref_frame = theirs.summary_frame()
    for col in frame.columns:
        _close(frame[col], ref_frame[col])


def test_influence_from_csv_blocks_equals_in_memory(tmp_path):
    from gradfit import evaluate
    from gradfit.data.files import FileBackend

    X, y = _macro()
    est = GDRegressor(solver="exact").fit(X, y)
    path = tmp_path / "macro.csv"
    X.assign(g_realinv=y).to_csv(path, index=False)
    data = FileBackend(path, "g_realinv", batch_rows=16)
    stats = evaluate(data, est.coef_, est.intercept_, statistics=True).stats
    from_files = influence(stats, data)
    in_memory = est.summary().get_influence()
    for attr in ("hat_matrix_diag", "resid_studentized_internal",
                 "resid_studentized_external"):
        _close(getattr(from_files, attr), getattr(in_memory, attr), 1e-10)
    with pytest.raises(ValueError, match="same rows"):
        influence(stats, (X.to_numpy()[:50], y.to_numpy()[:50], None))


def _formula(X, y, intercept):
    terms = " + ".join(X.columns)
    return f"{y.name} ~ {terms}" + ("" if intercept else " - 1")


@pytest.mark.parametrize("typ", [1, 2])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_anova_matches_statsmodels_anova_lm(typ, intercept, weighted):
    d = sm.datasets.longley.load_pandas()
    X, y = d.exog, d.endog.rename("TOTEMP")
    frame = X.assign(TOTEMP=y)
    w = 1 + 0.5 * np.sin(np.arange(len(y))) if weighted else None
    fml = _formula(X, y, intercept)
    ref = (smf.wls(fml, frame, weights=w) if weighted else smf.ols(fml, frame)).fit()
    table_ref = anova_lm(ref, typ=typ)
    if weighted and typ == 1:
        # statsmodels' type-1 table takes the sequential sums of squares from a QR of the
        # unweighted design even for WLS (its Residual row is weighted): the oracle is the
        # QR effects Q'W^(1/2)y of the whitened design, with numpy
        Z = np.column_stack([np.ones(len(y)), X]) if intercept else X.to_numpy()
        q, _ = np.linalg.qr(np.sqrt(w)[:, None] * Z)
        effects = (q.T @ (np.sqrt(w) * y.to_numpy()))[int(intercept):] ** 2
        table_ref = table_ref.copy()
        table_ref.iloc[:-1, table_ref.columns.get_loc("sum_sq")] = effects
        table_ref.iloc[:-1, table_ref.columns.get_loc("mean_sq")] = effects
        f = effects / (ref.ssr / ref.df_resid)
        from scipy import stats as sst

        table_ref.iloc[:-1, table_ref.columns.get_loc("F")] = f
        table_ref.iloc[:-1, table_ref.columns.get_loc("PR(>F)")] = sst.f.sf(f, 1, ref.df_resid)
    p = np.asarray(ref.params)
    coef, icp = (p[1:], p[0]) if intercept else (p, 0.0)
    res = summarize(X, y, coef, icp, sample_weight=w, fit_intercept=intercept)
    table = res.anova(typ=typ)
    assert list(table.columns) == list(table_ref.columns)
    assert list(table.index) == list(table_ref.index)
    # Longley's sequential sums of squares span 8 decades: relative to the total
    scale = float(table_ref["sum_sq"].sum())
    # type 2 goes through statsmodels' covariance, good to ~2e-9 relative on Longley
    # (condition number 5e9; see tests/test_inference.py), amplified by theta_j^2
    rtol = 1e-8 if typ == 1 else 2e-7
    np.testing.assert_allclose(table["sum_sq"], table_ref["sum_sq"], rtol=rtol,
                               atol=1e-12 * scale)
    _close(table["df"], table_ref["df"], 0)
    big = table_ref["F"].to_numpy()[:-1] > 1e-6
    _close(table["F"].to_numpy()[:-1][big], table_ref["F"].to_numpy()[:-1][big], rtol)
    _close(table["PR(>F)"].to_numpy()[:-1][big], table_ref["PR(>F)"].to_numpy()[:-1][big],
           100 * rtol)
    assert np.isnan(table["F"].iloc[-1])


def test_weighted_influence_is_that_of_the_whitened_regression():
    """WLS: the measures of the whitened rows (sqrt(s) z_i, sqrt(s) y_i), i.e. statsmodels'
    OLSInfluence of the OLS fit of the whitened data (its OLSInfluence of a WLS fit uses
    the unweighted design for the leverages)."""
    d = sm.datasets.stackloss.load_pandas()
    X, y = d.exog, d.endog
    w = 1 + 0.5 * np.sin(np.arange(len(y)))
    Z = sm.add_constant(X)
    ref = sm.OLS(np.sqrt(w) * y, np.sqrt(w)[:, None] * Z).fit()
    p = np.asarray(ref.params)
    inf = summarize(X, y, p[1:], p[0], sample_weight=w).get_influence()
    theirs = OLSInfluence(ref)
    _close(inf.hat_matrix_diag, theirs.hat_matrix_diag)
    _close(inf.resid_studentized_internal, theirs.resid_studentized_internal)
    _close(inf.resid_studentized_external, theirs.resid_studentized_external)
    _close(inf.cooks_distance[0], theirs.cooks_distance[0])
    _close(inf.dffits[0], theirs.dffits[0])
