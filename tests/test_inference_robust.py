"""HAC (Newey-West) and cluster-robust covariances (gradfit.stats.robust) against the Stata
results statsmodels ships for its own tests (statsmodels.regression.tests.results: macro data
``ivreg2 ... bw(5)`` = Bartlett with 4 lags, Grunfeld ``regress ..., cluster(firm)``), against
statsmodels computed on the same data, and merged block by block (arrays, CSV files) against
the same statistic in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gradfit import GDRegressor
from gradfit.model.backend import RowSubset
from gradfit.stats.results import summarize, summary_from_stats
from gradfit.stats.robust import ClusterScores, HACScores, robust_scores
from gradfit.stats.sufficient import InferenceStats

sm = pytest.importorskip("statsmodels.api")
published_macro = pytest.importorskip(
    "statsmodels.regression.tests.results.results_macro_ols_robust")
published_grunfeld = pytest.importorskip(
    "statsmodels.regression.tests.results.results_grunfeld_ols_robust_cluster")

RTOL = 1e-8


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


def _macro():
    """statsmodels' TestOLSRobust1 data: investment growth on GDP growth and lagged rate."""
    d = sm.datasets.macrodata.load_pandas().data
    g_gdp = 400 * np.diff(np.log(d["realgdp"].to_numpy()))
    g_inv = 400 * np.diff(np.log(d["realinv"].to_numpy()))
    X = pd.DataFrame({"g_realgdp": g_gdp, "L.realint": d["realint"].to_numpy()[:-1]})
    return X, pd.Series(g_inv, name="g_realinv")


def _grunfeld():
    """statsmodels' CheckOLSRobustCluster data: the first 200 rows, clusters = firms."""
    d = sm.datasets.grunfeld.load_pandas()
    X = d.exog[["value", "capital"]].iloc[:200].astype(float).reset_index(drop=True)
    y = d.endog.iloc[:200].astype(float).reset_index(drop=True)
    firm = np.unique(np.asarray(d.exog["firm"].iloc[:200], "S20"), return_inverse=True)[1]
    return X, y, firm.ravel()


def _published(bunch, res, rtol):
    """Stata's table (constant last) against ours (intercept first), to ``rtol`` (the
    tolerance statsmodels' own tests use for these files: the Grunfeld data went through
    Stata's single-precision storage, its parameters differ from float64 OLS at 1e-8)."""
    order = [1, 2, 0]
    table = bunch.params_table
    _close(res.params.to_numpy()[order], table[:, 0], rtol)
    _close(res.bse.to_numpy()[order], table[:, 1], rtol)
    _close(res.tvalues.to_numpy()[order], table[:, 2], rtol)
    _close(res.pvalues.to_numpy()[order], table[:, 3], 10 * rtol)
    _close(res.conf_int().to_numpy()[order], table[:, 4:6], rtol)
    _close(res.cov_params().to_numpy()[np.ix_(order, order)], bunch.cov, rtol)


def _exact(X, y):
    est = GDRegressor(solver="exact").fit(X, y)
    return est.coef_, est.intercept_


@pytest.mark.parametrize("small", [True, False], ids=["small", "large"])
def test_hac_matches_statas_newey_west(small):
    X, y = _macro()
    est = GDRegressor(solver="exact").fit(X, y)
    res = est.summary(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": small})
    if small:  # t tests, the n / (n - q) correction: ivreg2 small
        res = res.get_robustcov_results("HAC", use_t=True, maxlags=4, use_correction=True)
        _published(published_macro.results_ivhac4_small, res, 1e-7)
        _close(res.fvalue, published_macro.results_ivhac4_small.F, 1e-7)
        _close(res.f_pvalue, published_macro.results_ivhac4_small.Fp, 1e-6)
    else:  # z tests, no correction: ivreg2 (large)
        assert not res.use_t
        _published(published_macro.results_ivhac4_large, res, 1e-7)
    assert "autocorrelation robust (HAC) using 4 lags" in res.notes[0]


@pytest.mark.parametrize("small", [True, False], ids=["small", "large"])
def test_cluster_matches_statas_regress_cluster(small):
    X, y, firm = _grunfeld()
    coef, icp = _exact(X, y)
    kw = {"groups": firm, "use_correction": small}
    res = summarize(X, y, coef, icp, cov_type="cluster", cov_kwds=kw, use_t=small)
    bunch = (published_grunfeld.results_cluster if small
             else published_grunfeld.results_cluster_large)
    _published(bunch, res, 1e-6)
    assert res.model["n_groups"] == 10 and res.df_resid_inference == 9
    if small:
        _close(res.fvalue, bunch.F, 1e-7)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("maxlags,correction", [(0, False), (1, True), (4, False),
                                                (12, True)])
def test_hac_matches_statsmodels(maxlags, correction, fit_intercept, weighted):
    X, y = _macro()
    w = 1 + 0.5 * np.sin(np.arange(len(y))) if weighted else None
    Xs = sm.add_constant(X) if fit_intercept else X
    mod = sm.WLS(y, Xs, weights=w) if weighted else sm.OLS(y, Xs)
    ref = mod.fit(cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": correction})
    p = np.asarray(ref.params)
    coef, icp = (p[1:], p[0]) if fit_intercept else (p, 0.0)
    res = summarize(X, y, coef, icp, sample_weight=w, fit_intercept=fit_intercept,
                    cov_type="hac", cov_kwds={"maxlags": maxlags, "use_correction": correction})
    for attr in ("bse", "tvalues", "pvalues"):
        _close(getattr(res, attr), getattr(ref, attr))
    _close(res.cov_params(), ref.cov_params(), 1e-8)
    _close(res.conf_int(), ref.conf_int())
    _close(res.fvalue, ref.fvalue)
    _close(res.f_pvalue, ref.f_pvalue, 1e-7)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("correction", [True, False])
def test_cluster_matches_statsmodels(correction, weighted):
    X, y, firm = _grunfeld()
    w = 1 + 0.5 * np.sin(np.arange(len(y))) if weighted else None
    Xs = sm.add_constant(X)
    mod = sm.WLS(y, Xs, weights=w) if weighted else sm.OLS(y, Xs)
    ref = mod.fit(cov_type="cluster", use_t=True,
                  cov_kwds={"groups": firm, "use_correction": correction})
    p = np.asarray(ref.params)
    res = summarize(X, y, p[1:], p[0], sample_weight=w, cov_type="cluster", use_t=True,
                    cov_kwds={"groups": firm, "use_correction": correction})
    for attr in ("bse", "tvalues", "pvalues"):
        _close(getattr(res, attr), getattr(ref, attr))
    _close(res.cov_params(), ref.cov_params())
    _close(res.conf_int(), ref.conf_int())
    _close(res.fvalue, ref.fvalue)
    _close(res.f_pvalue, ref.f_pvalue, 1e-7)


@pytest.mark.parametrize("sizes", [[1] * 6 + [50], [3, 2, 1, 7, 200], [40, 60, 102]])
def test_hac_merged_from_blocks_equals_one_pass(sizes):
    """Blocks smaller than maxlags, larger, and uneven: the cross-boundary products."""
    X, y = _macro()
    Xa, ya = X.to_numpy(), y.to_numpy()
    coef, icp = _exact(X, y)
    whole = HACScores.from_block(Xa, ya, None, coef, icp, maxlags=4)
    edges = np.cumsum([0, *sizes])
    edges[-1] = len(ya)
    parts = [HACScores.from_block(Xa[a:b], ya[a:b], None, coef, icp, maxlags=4)
             for a, b in zip(edges[:-1], edges[1:])]
    left = parts[0]
    for p in parts[1:]:
        left = left.merge(p)
    mid = len(parts) // 2  # a tree of merges: (first half) + (second half)
    first, second = parts[0], parts[mid]
    for p in parts[1:mid]:
        first = first.merge(p)
    for p in parts[mid + 1:]:
        second = second.merge(p)
    for merged in (left, first.merge(second)):
        assert merged.n == whole.n
        _close(merged.meat, whole.meat, 1e-12)


def test_cluster_merged_by_key_in_any_order():
    X, y, firm = _grunfeld()
    Xa, ya = X.to_numpy(), y.to_numpy()
    coef, icp = _exact(X, y)
    whole = ClusterScores.from_block(Xa, ya, None, firm, coef, icp)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ya))
    parts = [ClusterScores.from_block(Xa[i], ya[i], None, firm[i], coef, icp)
             for i in np.array_split(order, 7)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    assert np.array_equal(merged.keys, whole.keys) and merged.n == whole.n
    _close(merged.meat(), whole.meat(), 1e-12)


def test_hac_and_cluster_from_csv_files_equal_in_memory(tmp_path):
    """A CSV read in blocks of 16 rows (FileBackend), the statistics and the scores from
    map_reduce passes: the same standard errors as in memory."""
    from gradfit import evaluate
    from gradfit.data.files import FileBackend

    X, y, firm = _grunfeld()
    coef, icp = _exact(X, y)
    frame = X.assign(firm=firm, invest=y)
    path = tmp_path / "grunfeld.csv"
    frame.to_csv(path, index=False)
    data = FileBackend(path, "invest", features=["value", "capital"], batch_rows=16)
    stats = evaluate(data, coef, icp, statistics=True).stats
    hac = robust_scores(data, coef, icp, cov_type="HAC", maxlags=4)
    from_files = summary_from_stats(stats, cov_type="HAC", scores=hac,
                                    cov_kwds={"maxlags": 4})
    in_memory = summarize(X, y, coef, icp, cov_type="HAC", cov_kwds={"maxlags": 4})
    _close(from_files.bse, in_memory.bse, 1e-10)
    with_firm = FileBackend(path, "invest", features=["value", "capital", "firm"],
                            batch_rows=16)
    clu = robust_scores(with_firm, coef, icp, cov_type="cluster", groups=2)
    from_files = summary_from_stats(stats, cov_type="cluster", scores=clu)
    in_memory = summarize(X, y, coef, icp, cov_type="cluster", cov_kwds={"groups": firm})
    _close(from_files.bse, in_memory.bse, 1e-10)
    assert from_files.df_resid_inference == 9
    # a function of the block's X as the labels (here: a regressor's sign), on a row subset
    sub = RowSubset(X.to_numpy(), y.to_numpy()[:, None], None, np.ones(len(y), bool))
    by_sign = robust_scores(sub, coef, icp, cov_type="cluster",
                            groups=lambda Xb: Xb[:, 0] > 1000)
    direct = ClusterScores.from_block(X.to_numpy(), y.to_numpy(), None,
                                      X["value"].to_numpy() > 1000, coef, icp)
    _close(by_sign.meat(), direct.meat(), 1e-12)


def test_bad_robust_options_are_clear_errors():
    X, y, firm = _grunfeld()
    coef, icp = _exact(X, y)
    stats = InferenceStats.from_arrays(X, y, coef, icp)
    with pytest.raises(ValueError, match="needs a pass over the rows"):
        summary_from_stats(stats, cov_type="HAC", cov_kwds={"maxlags": 2})
    with pytest.raises(ValueError, match="maxlags"):
        summarize(X, y, coef, icp, cov_type="HAC")
    with pytest.raises(ValueError, match="needs groups"):
        summarize(X, y, coef, icp, cov_type="cluster")
    with pytest.raises(ValueError, match="one label per row"):
        summarize(X, y, coef, icp, cov_type="cluster", cov_kwds={"groups": firm[:5]})
    with pytest.raises(ValueError, match="takes cov_kwds"):
        summarize(X, y, coef, icp, cov_type="HAC", cov_kwds={"maxlag": 2})
    with pytest.raises(ValueError, match="takes no cov_kwds"):
        summarize(X, y, coef, icp, cov_type="HC1", cov_kwds={"maxlags": 2})
