"""HAC, cluster and influence statistics from a Dask backend (its fixed tree of merges, 11
blocks) against the same statistics in memory."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")
sm = pytest.importorskip("statsmodels.api")


from gradfit import GDRegressor, evaluate  # noqa: E402
from gradfit.data.dask import DaskBackend  # noqa: E402
from gradfit.stats.influence import influence  # noqa: E402
from gradfit.stats.results import summarize, summary_from_stats  # noqa: E402
from gradfit.stats.robust import robust_scores  # noqa: E402


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def test_robust_covariances_and_influence_on_dask(client):
    d = sm.datasets.grunfeld.load_pandas()
    X = d.exog[["value", "capital"]].iloc[:200].astype(float).to_numpy()
    y = d.endog.iloc[:200].astype(float).to_numpy()
    firm = np.unique(np.asarray(d.exog["firm"].iloc[:200], "S20"), return_inverse=True)[1]
    firm = firm.ravel().astype(float)
    est = GDRegressor(solver="exact").fit(X, y)
    coef, icp = est.coef_, est.intercept_
    data = DaskBackend(X, y, client=client, n_blocks=11)  # a tree of merges on the cluster
    stats = evaluate(data, coef, icp, statistics=True).stats
    hac = robust_scores(data, coef, icp, cov_type="HAC", maxlags=3)
    ours = summary_from_stats(stats, cov_type="HAC", scores=hac, cov_kwds={"maxlags": 3})
    ref = summarize(X, y, coef, icp, cov_type="HAC", cov_kwds={"maxlags": 3})
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-10)
    with_firm = DaskBackend(np.column_stack([X, firm]), y, client=client, n_blocks=11)
    clu = robust_scores(with_firm, coef, icp, cov_type="cluster", groups=2)
    ours = summary_from_stats(stats, cov_type="cluster", scores=clu)
    ref = summarize(X, y, coef, icp, cov_type="cluster", cov_kwds={"groups": firm})
    np.testing.assert_allclose(ours.bse, ref.bse, rtol=1e-10)
    inf = influence(stats, data)
    ref_inf = est.summary().get_influence()
    np.testing.assert_allclose(inf.hat_matrix_diag, ref_inf.hat_matrix_diag, rtol=1e-10)
    np.testing.assert_allclose(inf.resid_studentized_external,
                               ref_inf.resid_studentized_external, rtol=1e-9)
    data.close()
    with_firm.close()
