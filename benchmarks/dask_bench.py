"""Dask benchmark: gradfit on a 2-worker LocalCluster against numpy in memory and dask-ml.

``bench_dask()`` returns rows (dicts with figure, size, gradfit, baseline, ratio, target,
met, note); times are seconds, best of a few runs.  The data are generated block by block
from a seed on the workers, and the same blocks are generated here for the in-memory
baseline, so both solve the very same problem.

    python benchmarks/dask_bench.py            # 5e6 x 10
    python benchmarks/dask_bench.py 1000000    # smaller n
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

SEED = 20240601


def _gen_x(i, rows, d):
    rng = np.random.default_rng([SEED, i])
    X = rng.standard_normal((rows, d))
    X *= np.linspace(0.5, 3.0, d)
    X += np.linspace(-2.0, 5.0, d)
    return X


def _gen_y(i, rows, d):
    X = _gen_x(i, rows, d)
    noise = np.random.default_rng([SEED, i, 1]).standard_normal(rows)
    return X @ np.linspace(-1.0, 2.0, d) + 3.0 + noise


def _best(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _row(figure, size, gradfit, baseline, target, met, note=""):
    ratio = gradfit / baseline if baseline else None
    return {"figure": figure, "size": size, "gradfit": gradfit, "baseline": baseline,
            "ratio": ratio, "target": target, "met": bool(met), "note": note}


def bench_dask(n: int = 5_000_000, d: int = 10, client=None, dask_ml: bool = True,
               repeat: int = 3) -> list[dict]:
    """Time gradfit on Dask (2 workers x 1 thread unless ``client`` is given).

    Parameters
    ----------
    n, d : int
        Problem size (float64: 8 n d bytes on the workers and as much again in memory
        here for the numpy baseline; 5e6 x 10 is 400 MB each).
    client : distributed.Client or None
        None: a new ``LocalCluster(n_workers=2, threads_per_worker=1)``, closed at the end.
    dask_ml : bool
        Also time dask-ml's ``LinearRegression`` (solvers "admm" and "lbfgs", penalty off),
        if dask-ml is installed.
    repeat : int
        Runs per timing (the best is kept).

    Returns
    -------
    list of dict
        figure, size, gradfit, baseline, ratio (gradfit / baseline), target, met, note.
    """
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import gradfit
    from gradfit.data.memory import InMemory
    from gradfit.fitting.dask import DaskBackend, fit_dask
    from gradfit.model.objective import Objective
    from gradfit.model.penalties import make_penalty

    own = client is None
    if own:
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    size = f"{n:.0e} x {d}".replace("e+0", "e")
    rows = []
    try:
        client.run(lambda: __import__("gradfit.fitting.dask"))
        n_blocks = 2 * sum(client.nthreads().values())
        bounds = [round(j * n / n_blocks) for j in range(n_blocks + 1)]
        sizes = np.diff(bounds).tolist()
        Xd = da.concatenate([da.from_delayed(dask.delayed(_gen_x)(i, m, d), (m, d), float)
                             for i, m in enumerate(sizes)])
        yd = da.concatenate([da.from_delayed(dask.delayed(_gen_y)(i, m, d), (m,), float)
                             for i, m in enumerate(sizes)])
        t0 = time.perf_counter()
        data = DaskBackend(Xd, yd, client=client, n_blocks=n_blocks)
        load = time.perf_counter() - t0
        X = np.concatenate([_gen_x(i, m, d) for i, m in enumerate(sizes)])
        y = np.concatenate([_gen_y(i, m, d) for i, m in enumerate(sizes)])

        # exact: Dask (statistics + one refinement pass) vs numpy in memory
        t_np, ref = _best(lambda: gradfit.fit(X, y, solver="exact"), repeat)
        t_dk, res = _best(lambda: fit_dask(data, solver="exact"), repeat)
        t_one, one = _best(lambda: fit_dask(data, solver="exact", exact_refine=False), repeat)
        err = _rel(res.coef, ref.coef)
        rows.append(_row("exact on Dask vs numpy exact in memory", size, t_dk, t_np,
                         "<= 1.3x numpy, coef within 1e-10", t_dk <= 1.3 * t_np and err < 1e-10,
                         f"{res.info['passes']} passes, coef rel diff {err:.1e}; building the "
                         f"blocks took {load:.2f}s"))
        rows.append(_row("exact on Dask, statistics pass only", size, t_one, t_np,
                         "<= 1x numpy exact", t_one <= t_np,
                         f"coef rel diff {_rel(one.coef, ref.coef):.1e}"))

        # one full gradient pass, and the fixed cost per pass
        pen = make_penalty(None, 0.0, 0.15)
        kw = dict(loss="squared", epsilon=1.35, penalty=pen, fit_intercept=True,
                  standardize=False)
        obj_dk = Objective(data, **kw)
        obj_np = Objective(InMemory(X, y[:, None], None), **kw)
        P = np.full((d + 1, 1), 0.1)
        t_pass_np, g_np = _best(lambda: obj_np.value_grad(P), repeat)
        t_pass_dk, g_dk = _best(lambda: obj_dk.value_grad(P), repeat)
        rows.append(_row("one full-gradient pass, Dask vs numpy", size, t_pass_dk, t_pass_np,
                         "<= 2x numpy", t_pass_dk <= 2 * t_pass_np,
                         f"gradient rel diff {_rel(g_dk[1], g_np[1]):.1e}"))
        small = DaskBackend(X[:4000], y[:4000], client=client, n_blocks=n_blocks)
        obj_small = Objective(small, **kw)
        t_fixed, _ = _best(lambda: obj_small.value_grad(P), 5 * repeat)
        rows.append(_row("fixed cost per pass (4000 rows)", f"{n_blocks} blocks", t_fixed,
                         None, "<= 0.05 s", t_fixed <= 0.05,
                         "scheduler round trip + gather of the block results"))
        small.close()

        t_lb, lb = _best(lambda: fit_dask(data, solver="lbfgs"), 1)
        rows.append(_row("lbfgs on Dask vs numpy exact", size, t_lb, t_np, "informational",
                         True, f"{lb.info['passes']} passes, coef rel diff "
                         f"{_rel(lb.coef, ref.coef):.1e}"))
        if dask_ml:
            rows.extend(_bench_dask_ml(Xd, yd, ref, size, (t_dk, res), (t_lb, lb)))
        data.close()
    finally:
        if own:
            cluster = client.cluster
            client.close()
            cluster.close()
    return rows


def _bench_dask_ml(Xd, yd, ref, size, exact, lbfgs):
    try:
        from dask_ml.linear_model import LinearRegression
    except ImportError:
        return [_row("dask-ml LinearRegression", size, None, None, "skipped", False,
                     "dask-ml is not installed (pip install dask-ml)")]
    Xp, yp = Xd.persist(), yd.persist()
    out = []
    for solver, gradfit_name, (gradfit_time, res) in (("admm", "exact", exact),
                                                       ("lbfgs", "lbfgs", lbfgs)):
        gradfit_err = _rel(res.coef, ref.coef)
        est = LinearRegression(solver=solver, C=1e30, fit_intercept=True, max_iter=500,
                               **({"tol": 1e-10} if solver == "lbfgs" else {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(Xp, yp)
            t_ml = time.perf_counter() - t0
        err = _rel(est.coef_, ref.coef)
        out.append(_row(f"dask-ml LinearRegression({solver}) vs gradfit {gradfit_name} on "
                        "Dask", size, gradfit_time, t_ml,
                        ">= 5x faster (ratio <= 0.2), at least as accurate",
                        gradfit_time <= 0.2 * t_ml and gradfit_err <= max(err, 1e-8),
                        f"dask-ml coef rel error {err:.1e}, gradfit {gradfit_err:.1e}"))
    return out


if __name__ == "__main__":
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 5_000_000
    for row in bench_dask(n):
        print(row)
