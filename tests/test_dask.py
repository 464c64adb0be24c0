"""The Dask backend and fit_dask against the in-memory solvers, on a real 2-process cluster.

One ``distributed.LocalCluster`` (2 workers x 1 thread, processes, localhost only) serves the
whole module.  Every Dask solver must give the in-memory answer: "exact" to 1e-10, the
full-batch iterative solvers to ~1e-8, local-SGD mini-batches within 1e-3 of the optimal
objective; for dask arrays with one and many chunks, a dask DataFrame, and Parquet and CSV
files.  A worker killed in the middle of a fit must not give a wrong answer.
"""

from __future__ import annotations

import importlib
import os
import signal
import warnings

import numpy as np
import pytest
from sklearn.metrics import r2_score

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402

import gradfit  # noqa: E402
from gradfit.data.dask import ClusterError, DaskBackend, is_dask_collection  # noqa: E402
from gradfit.exceptions import GradfitError, InputError  # noqa: E402
from gradfit.fitting.dask import connect, fit_dask, predict_dask, score_dask  # noqa: E402

N, D = 6000, 4


def _warm():
    importlib.import_module("gradfit.fitting.dask")
    return os.getpid()


@pytest.fixture(scope="module")
def client(dask_client):
    """The module's cluster (tests/conftest.py), with gradfit imported on its workers."""
    dask_client.run(_warm)
    return dask_client


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, D)) * np.array([1.0, 3.0, 0.5, 2.0]) + np.array([5, -2, 0, 1])
    y = X @ np.array([1.5, -2.0, 0.7, 3.0]) + 4.0 + rng.standard_normal(N)
    sw = rng.uniform(0.5, 2.0, N)
    return X, y, sw


def _frame(X, y, sw=None):
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df["target"] = y
    if sw is not None:
        df["w"] = sw
    return df


def _make_backend(kind, problem, client, tmp_path_factory):
    X, y, _ = problem
    if kind == "one-chunk":
        return DaskBackend(da.from_array(X, chunks=-1), da.from_array(y, chunks=-1), client=client)
    if kind == "many-chunks":  # 9 uneven chunks, rechunked once into 4 blocks
        return DaskBackend(da.from_array(X, chunks=(700, 2)), y, client=client)
    if kind == "dataframe":
        return DaskBackend(dd.from_pandas(_frame(X, y), npartitions=3), "target", client=client)
    folder = tmp_path_factory.mktemp(kind)
    parts = np.array_split(np.arange(N), 3)
    for i, rows in enumerate(parts):
        part = _frame(X[rows], y[rows])
        if kind == "parquet":
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
        else:
            part.to_csv(folder / f"part-{i}.csv", index=False, float_format="%.17g")
    pattern = str(folder / ("*.parquet" if kind == "parquet" else "*.csv"))
    return DaskBackend.from_files(pattern, "target", client=client)


KINDS = ["one-chunk", "many-chunks", "dataframe", "parquet", "csv"]


@pytest.fixture(scope="module")
def backends(problem, client, tmp_path_factory):
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = _make_backend(kind, problem, client, tmp_path_factory)
        return cache[kind]

    return get


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# --------------------------------------------------------------------------- backend


def test_backend_shape_and_blocks(backends, problem):
    X, y, _ = problem
    b = backends("many-chunks")
    assert (b.n, b.d, b.k, b.S) == (N, D, 1, float(N))
    assert b.block_rows == [1500] * 4  # 2 blocks per worker thread, balanced
    assert b.y_mean[0] == pytest.approx(y.mean(), rel=1e-14)
    f = b.map_reduce(lambda Xb, yb, sb: (Xb.sum(axis=0), yb.sum(axis=0)))
    assert np.allclose(f[0], X.sum(axis=0), rtol=1e-13)
    # the same partition gives the same bits
    g = b.map_reduce(lambda Xb, yb, sb: (Xb.sum(axis=0), yb.sum(axis=0)))
    assert np.array_equal(f[0], g[0]) and np.array_equal(f[1], g[1])
    assert is_dask_collection(da.zeros(3)) and not is_dask_collection(X)
    with pytest.raises(NotImplementedError, match="local SGD"):
        next(b.minibatches(10, np.random.default_rng(0)))


def _where(Xb, yb, sb):
    from distributed import get_worker

    return get_worker().address


def test_passes_run_where_the_blocks_are(backends, client):
    """Every task of a pass runs on a worker that holds its block: a task run elsewhere
    moves the block (slow, and the arithmetic on the moved copy gave other last bits)."""
    from gradfit.data.dask import _apply

    b = backends("many-chunks")
    holders = client.who_has(b._blocks)
    for _ in range(3):
        ran = client.gather(b._on_holders(_apply, fn=_where))
        assert all(addr in holders[blk.key] for (_, addr), blk in zip(ran, b._blocks)), \
            (ran, holders)
    assert all(len(holders[blk.key]) == 1 for blk in b._blocks)


def test_cluster_tree_reduction_matches_local_fold(problem, client):
    X, y, _ = problem
    b = DaskBackend(X, y, client=client, n_blocks=11)  # > LOCAL_FOLD_BLOCKS: tree of tasks
    assert len(b.block_rows) == 11 and b.n == N
    out = b.map_reduce(lambda Xb, yb, sb: (Xb.T @ Xb,))[0]
    assert np.allclose(out, X.T @ X, rtol=1e-12)
    b.close()


# --------------------------------------------------------------------------- exact


@pytest.mark.parametrize("kind", KINDS)
def test_exact_matches_in_memory(kind, backends, problem):
    X, y, _ = problem
    res = fit_dask(backends(kind), solver="exact")
    ref = gradfit.fit(X, y, solver="exact")
    assert _rel(res.coef, ref.coef) < 1e-10
    assert abs(res.intercept - ref.intercept) < 1e-10 * abs(ref.intercept)
    assert res.objective == pytest.approx(ref.objective, rel=1e-10)
    # one pass of statistics, then one per refinement step (as in memory)
    assert res.info["backend"] == "dask"
    assert res.info["passes"] == 1 + res.info["refinement_steps"] <= 3


def test_exact_weighted_ridge_multioutput_tsqr(problem, client):
    X, y, sw = problem
    Y = np.column_stack([y, -0.5 * y + X[:, 0]])
    Xd = da.from_array(X, chunks=1000)
    for method in ("gram", "tsqr"):
        res = fit_dask(Xd, Y, sw, client=client, solver="exact", penalty="l2", alpha=0.01,
                       exact_method=method)
        ref = gradfit.fit(X, Y, sw, solver="exact", penalty="l2", alpha=0.01)
        assert res.coef.shape == (D, 2)
        assert _rel(res.coef, ref.coef) < 1e-10 and _rel(res.intercept, ref.intercept) < 1e-10
    assert res.info["method"] == "dask-tsqr"
    one = fit_dask(Xd, y, client=client, solver="exact", exact_refine=False)
    assert one.info["passes"] == 1
    assert _rel(one.coef, gradfit.fit(X, y, solver="exact").coef) < 1e-10


def test_exact_ill_conditioned_takes_tsqr(client):
    t = np.linspace(0, 1, 4000)
    X = np.column_stack([t**p for p in range(1, 10)])  # cond 2e6 after scaling
    y = np.sin(3 * t)
    res = fit_dask(da.from_array(X, chunks=1000), y, client=client, solver="exact")
    ref = gradfit.fit(X, y, solver="exact")
    assert res.info["method"] == "dask-tsqr"
    assert _rel(res.coef, ref.coef) < 1e-7


def test_unknown_chunk_sizes_are_cut_into_balanced_blocks(problem, client):
    X, y, _ = problem
    keep = np.arange(N) % 3 != 0
    mask = da.from_array(keep, chunks=1000)
    Xu, yu = da.from_array(X, chunks=(1000, D))[mask], da.from_array(y, chunks=1000)[mask]
    assert np.isnan(Xu.shape[0])
    b = DaskBackend(Xu, yu, client=client)
    assert b.n == keep.sum() and max(b.block_rows) - min(b.block_rows) <= 1
    res = fit_dask(b, solver="exact")
    assert _rel(res.coef, gradfit.fit(X[keep], y[keep], solver="exact").coef) < 1e-10
    b.close()


def test_frame_with_series_target_and_weights(problem, client):
    X, y, sw = problem
    full = dd.from_pandas(_frame(X, y, sw), npartitions=4)
    feats = full[[f"x{j}" for j in range(D)]]
    res = fit_dask(feats, full["target"], full["w"], client=client, solver="exact")
    ref = gradfit.fit(X, y, sw, solver="exact")
    assert np.ndim(res.coef) == 1 and _rel(res.coef, ref.coef) < 1e-10
    assert res.info["feature_names"] == [f"x{j}" for j in range(D)]


# --------------------------------------------------------------------------- iterative


@pytest.mark.parametrize("solver,kind", [("lbfgs", "many-chunks"), ("cg", "dataframe"),
                                         ("gd", "many-chunks"), ("nesterov", "parquet"),
                                         ("lbfgs", "one-chunk")])
def test_full_batch_solvers_match_in_memory(solver, kind, backends, problem):
    X, y, _ = problem
    res = fit_dask(backends(kind), solver=solver)
    ref = gradfit.fit(X, y, solver=solver)
    assert res.converged
    assert _rel(res.coef, ref.coef) < 1e-8
    assert res.objective == pytest.approx(ref.objective, rel=1e-12)


def test_full_batch_weighted_penalized_and_bit_identical(problem, client):
    X, y, sw = problem
    b = DaskBackend(da.from_array(X, chunks=1500), y, sw, client=client)
    kw = dict(solver="nesterov", penalty="elasticnet", alpha=0.05, l1_ratio=0.5, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gradfit.ConvergenceWarning)
        res = fit_dask(b, **kw)  # FISTA; in memory the working sets: the same optimum
        ref = gradfit.fit(X, y, sw, **kw)
        again = fit_dask(b, **kw)
    assert _rel(res.coef, ref.coef) < 1e-8
    assert np.array_equal(res.coef, again.coef) and res.intercept == again.intercept
    ridge = fit_dask(b, solver="lbfgs", penalty="l2", alpha=0.01)
    assert _rel(ridge.coef, gradfit.fit(X, y, sw, solver="exact", penalty="l2",
                                        alpha=0.01).coef) < 1e-8
    b.close()


# --------------------------------------------------------------------------- mini-batch


@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "adam"])
def test_local_sgd_reaches_the_optimum(solver, backends, problem):
    X, y, _ = problem
    best = gradfit.fit(X, y, solver="exact").objective
    kw = dict(solver=solver, batch_size=32, random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gradfit.ConvergenceWarning)
        res = fit_dask(backends("many-chunks"), **kw)
    assert res.info["local_sgd"] and res.info["passes"] >= 2 * res.n_iter
    assert (res.objective - best) / best < 1e-3
    if solver == "momentum":  # seeded: reproducible, optimizer state averaging included
        again = fit_dask(backends("many-chunks"), **kw)
        assert np.array_equal(res.coef, again.coef)


# --------------------------------------------------------------------------- failures


def test_failing_task_and_missing_rows_are_loud(backends):
    b = backends("one-chunk")

    def boom(X, y, s):
        raise RuntimeError("disk on fire")

    with pytest.raises(ClusterError, match="disk on fire") as err:
        b.map_reduce(boom)
    assert isinstance(err.value, GradfitError)
    n = b.n
    try:
        b.n = n + 1  # as if a block had silently lost rows
        with pytest.raises(ClusterError, match="refusing a partial result"):
            b.map_reduce(lambda X, y, s: (X.sum(),))
    finally:
        b.n = n


def test_bad_inputs_say_what_is_wrong(client, tmp_path):
    X = np.ones((20, 2))
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        DaskBackend(da.from_array(X, chunks=10), np.ones(20), client=client)
    df = pd.DataFrame({"a": ["u", "v"] * 5, "b": np.arange(10.0), "t": np.arange(10.0)})
    with pytest.raises(InputError, match="'a' is not numeric"):
        DaskBackend(dd.from_pandas(df, npartitions=2), "t", client=client)
    with pytest.raises(InputError, match="no file matches"):
        DaskBackend.from_files(str(tmp_path / "*.csv"), "t", client=client)
    with pytest.raises(InputError, match="early_stopping"):
        fit_dask(da.ones((10, 2)), np.ones(10), client=client, early_stopping=True)
    with pytest.raises(ClusterError, match="could not connect"):
        connect("tcp://127.0.0.1:9", timeout=1)


def test_predict_dask(problem, backends):
    X, y, _ = problem
    res = fit_dask(backends("dataframe"), solver="exact")
    frame = dd.from_pandas(_frame(X, y), npartitions=2)
    pred = predict_dask(frame, res.coef, res.intercept, features=res.info["feature_names"])
    assert np.allclose(pred.compute(), X @ res.coef + res.intercept, rtol=1e-12)
    r2 = gradfit.GDRegressor(solver="exact").fit(X, y).score(X, y)
    assert score_dask(backends("dataframe"), res.coef, res.intercept) == pytest.approx(r2,
                                                                                    rel=1e-12)


@pytest.mark.parametrize("kind", ["many-chunks", "csv"])
def test_evaluation_pass_on_the_cluster_equals_in_memory(kind, problem, backends):
    """R² and the summary's statistics come from the same map_reduce pass on the workers
    as from arrays; the row digest needs rows in order here, so Dask says it has none."""
    from gradfit.fitting.evaluation import evaluate
    from gradfit.stats.sufficient import InferenceStats

    X, y, _ = problem
    coef, b = np.array([1.4, -2.1, 0.6, 3.1]), 3.9
    ev = evaluate(backends(kind), coef, b, statistics=True, digest=True)
    want = InferenceStats.from_arrays(X, y, coef, b)
    assert ev.r2 == pytest.approx(r2_score(y, X @ coef + b), rel=1e-12)
    assert ev.stats.n == N and float(ev.stats.dw_num) == pytest.approx(float(want.dw_num),
                                                                        rel=1e-10)
    assert ev.digest is None
    assert ev.notes == ("no row digest: this backend's passes do not run here in row order",)


def test_worker_killed_mid_fit_still_gives_the_answer(problem, client):
    X, y, _ = problem
    b = DaskBackend(da.from_array(X, chunks=1500), y, client=client)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    if pids[victim] == os.getpid():
        pytest.skip("the cluster runs in threads here (no process spawning): nothing to kill")
    killed = []

    def kill_after_two(info):
        if info["epoch"] == 2 and not killed:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    calm = fit_dask(b, solver="gd", standardize=True)  # several epochs: time to kill one
    try:
        res = fit_dask(b, solver="gd", standardize=True, callback=kill_after_two)
    except ClusterError as exc:  # the other allowed outcome: a loud, clear failure
        assert "fit stops here" in str(exc)
    else:  # lost blocks recomputed from the graph: the very same bits
        assert killed and res.converged and res.n_iter > 2
        assert np.array_equal(res.coef, calm.coef)
        assert _rel(res.coef, gradfit.fit(X, y, solver="gd", standardize=True).coef) < 1e-8
    finally:
        client.wait_for_workers(2, timeout=60)
        b.close()


# --------------------------------------------------------------------------- one closed form


@pytest.mark.parametrize("name", ["Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley",
                                  "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"])
def test_exact_is_one_algorithm_for_every_source(name, client, tmp_path):
    """Issue 11.3: in memory, from files and on Dask the closed form is the same algorithm
    (statistics, TSQR where needed, refinement in the arithmetic the condition asks for), so
    on every NIST set tiled x30 the three agree within 0.5 certified digit."""
    from conftest import digits, nist_xy

    X, y, fit_intercept, beta, _, _ = nist_xy(name)
    X, y = np.tile(X, (30, 1)), np.tile(y, 30)
    kw = dict(solver="exact", fit_intercept=fit_intercept)
    names = [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(dict(zip(names, X.T), y=y))
    path = tmp_path / "tiled.csv"
    frame.to_csv(path, index=False, float_format="%.17g")

    def lre(res):
        est = np.r_[res.intercept, res.coef] if fit_intercept else np.asarray(res.coef)
        return float(digits(est, beta).min())

    memory = lre(gradfit.fit(X, y, **kw))
    files = lre(gradfit.fit_files(path, "y", names, **kw))
    cluster = lre(fit_dask(da.from_array(X, chunks=len(X) // 3), y, client=client, **kw))
    assert abs(files - memory) <= 0.5 and abs(cluster - memory) <= 0.5, (memory, files, cluster)
    assert memory >= (7.5 if name == "Filip" else 9)
