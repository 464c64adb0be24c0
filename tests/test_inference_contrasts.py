"""t_test / f_test / wald_test on linear restrictions and compare_f_test / compare_lr_test
(gradfit.stats.contrasts) against statsmodels' results methods on the same data (longley,
Grunfeld), with the nonrobust, HC1 and cluster covariances."""

from __future__ import annotations

import numpy as np
import pytest

from gradfit.stats.contrasts import linear_restrictions
from gradfit.stats.results import summarize

sm = pytest.importorskip("statsmodels.api")

RTOL = 1e-8


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(np.ravel(np.asarray(a, float)), np.ravel(np.asarray(b, float)),
                               rtol=rtol, atol=0)


def _longley():
    d = sm.datasets.longley.load_pandas()
    return d.exog, d.endog


def _pair(X, y, cov_type="nonrobust", cov_kwds=None, **kw):
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type=cov_type, cov_kwds=cov_kwds, **kw)
    p = np.asarray(ref.params)
    res = summarize(X, y, p[1:], p[0], cov_type=cov_type, cov_kwds=cov_kwds, **kw)
    return res, ref


SPECS = ["GNP = UNEMP, POP = 0", "2*ARMED - YEAR = 1", "GNPDEFL", "UNEMP - 0.5 * ARMED = -3",
         "GNPDEFL + YEAR = 0, GNP = 0, POP = ARMED"]


def _matrix(spec):
    names = ["intercept", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"]
    return linear_restrictions(spec, names)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1"])
@pytest.mark.parametrize("spec", SPECS)
def test_tests_of_restrictions_match_statsmodels(spec, cov_type):
    X, y = _longley()
    res, ref = _pair(X, y, cov_type)
    rtol = RTOL if cov_type == "nonrobust" else 2e-7  # statsmodels' pinv on Longley
    for form in (spec, _matrix(spec)):
        ours, theirs = res.t_test(form), ref.t_test(form)
        _close(ours.effect, theirs.effect, RTOL)
        _close(ours.sd, theirs.sd, rtol)
        _close(ours.tvalue, theirs.tvalue, rtol)
        _close(ours.pvalue, theirs.pvalue, 10 * rtol)
        _close(ours.conf_int(0.1), theirs.conf_int(0.1), rtol)
        assert ours.distribution == ("t" if cov_type == "nonrobust" else "z")
        ours, theirs = res.f_test(form), ref.f_test(form)
        _close(ours.fvalue, theirs.fvalue, rtol)
        _close(ours.pvalue, theirs.pvalue, 10 * rtol)
        assert (ours.df_num, ours.df_denom) == (theirs.df_num, theirs.df_denom)
        for use_f in (True, False):
            ours, theirs = res.wald_test(form, use_f=use_f), ref.wald_test(form, use_f=use_f,
                                                                         scalar=True)
            _close(ours.statistic, theirs.statistic, rtol)
            _close(ours.pvalue, theirs.pvalue, 10 * rtol)


def test_matrix_forms_and_cluster_degrees_of_freedom():
    d = sm.datasets.grunfeld.load_pandas()
    X = d.exog[["value", "capital"]].iloc[:200].astype(float)
    y = d.endog.iloc[:200].astype(float)
    firm = np.unique(np.asarray(d.exog["firm"].iloc[:200], "S20"), return_inverse=True)[1]
    res, ref = _pair(X, y, "cluster", {"groups": firm.ravel()}, use_t=True)
    R = np.array([[0, 1, -1], [0, 0, 1]])
    q = np.array([0.1, 0.05])
    for ours, theirs in ((res.t_test((R, q)), ref.t_test((R, q))),
                         (res.f_test((R, q)), ref.f_test((R, q)))):
        _close(ours.statistic, theirs.tvalue if ours.effect is not None else theirs.fvalue)
        _close(ours.pvalue, theirs.pvalue, 1e-7)
        assert ours.df_denom == theirs.df_denom == 9
    _close(res.t_test(R[0]).tvalue, ref.t_test(R[0]).tvalue)
    for alias in ("intercept", "Intercept", "const"):  # the intercept's names
        _close(res.t_test(f"{alias} + 3 * value = 10").tvalue,
               ref.t_test("const + 3 * value = 10").tvalue)


def test_compare_f_and_lr_tests_match_statsmodels():
    X, y = _longley()
    full, ref_full = _pair(X, y)
    small, ref_small = _pair(X[["GNP", "YEAR"]], y)
    for ours, theirs in ((full.compare_f_test(small), ref_full.compare_f_test(ref_small)),
                         (full.compare_lr_test(small), ref_full.compare_lr_test(ref_small))):
        _close(ours[:2], theirs[:2], 1e-8)
        assert ours[2] == theirs[2] == 4
    with pytest.raises(ValueError, match="fewer parameters"):
        small.compare_f_test(full)


def test_unreadable_restrictions_are_clear_errors():
    X, y = _longley()
    res, _ = _pair(X, y)
    with pytest.raises(ValueError, match="cannot read 'GDP'.*the parameters are"):
        res.t_test("GDP = 0")
    with pytest.raises(ValueError, match="write it as"):
        res.f_test("GNP = POP = 0")
    with pytest.raises(ValueError, match="7 columns"):
        res.f_test(np.eye(3))
    with pytest.raises(ValueError, match="one value per row"):
        res.f_test((np.eye(7)[:2], [1.0]))
