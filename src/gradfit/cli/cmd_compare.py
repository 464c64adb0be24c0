"""``gradfit compare``: race the solvers (and scikit-learn) on one least-squares problem."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from gradfit.cli import output
from gradfit.cli.fitting import fit_result
from gradfit.cli.options import SOLVERS, UsageError, add_data_options, split_names, tolerance

__all__ = ["add_parser", "run", "compare_rows"]

SKLEARN = ("sklearn-linear", "sklearn-sgd")
EXAMPLES = """\
examples:
  gradfit compare data.csv --target y
  gradfit compare data.csv -t y --methods gd,adam,lbfgs,exact --max-iter 5000
  gradfit compare data.csv -t y --no-standardize --json

methods: gd, momentum, nesterov, adam, lbfgs, cg, exact (gradfit solvers) and
sklearn-linear (LinearRegression), sklearn-sgd (SGDRegressor, scaled when gradfit is).
The objective is the mean squared residual; "gap" is objective minus the exact optimum's,
and "param gap" is |(w, b) - (w*, b*)| / |(w*, b*)|.
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``compare`` on the subcommand action."""
    p = commands.add_parser(
        "compare", help="compare solvers and scikit-learn on one problem",
        description="Fit the same least-squares problem with several solvers and "
                    "scikit-learn, and show time, iterations, the final objective and "
                    "the gap to the exact solution side by side.",
        epilog=EXAMPLES,
    )
    add_data_options(p)
    p.add_argument("--methods", type=split_names, metavar="A,B,...",
                   help="which methods to run (default: all)")
    p.add_argument("--max-iter", type=int, metavar="N", help="maximum epochs per solver")
    p.add_argument("--tol", type=tolerance, metavar="TOL", help="stopping tolerance (gradfit)")
    p.add_argument("--no-intercept", dest="fit_intercept", action="store_const", const=False,
                   default=None, help="fit through the origin")
    p.add_argument("--no-standardize", dest="standardize", action="store_const", const=False,
                   default=None, help="descend in raw feature units")
    p.add_argument("--random-state", type=int, metavar="SEED", default=0,
                   help="seed for the stochastic methods (default: 0)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(run=run)
    return p


def _objective(X, y, coef, intercept) -> float:
    r = y - (X @ np.asarray(coef, dtype=float).reshape(-1) + float(intercept))
    return float(np.mean(r * r))


def _sklearn(method, X, y, common):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression, SGDRegressor

    fit_intercept = common.get("fit_intercept", True)
    t0 = time.perf_counter()
    if method == "sklearn-linear":
        model = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
        seconds = time.perf_counter() - t0
        return model.coef_, float(model.intercept_), None, True, seconds
    standardize = common.get("standardize", True)
    mean = X.mean(axis=0) if standardize else np.zeros(X.shape[1])
    scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    if not fit_intercept:
        mean = np.zeros(X.shape[1])
    sgd = SGDRegressor(penalty=None, fit_intercept=fit_intercept,
                       max_iter=common.get("max_iter", 1000),
                       random_state=common.get("random_state", 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit((X - mean) / scale, y)
    seconds = time.perf_counter() - t0
    coef = sgd.coef_ / scale
    intercept = float(sgd.intercept_[0]) - float(mean @ coef)
    return coef, intercept, int(sgd.n_iter_), int(sgd.n_iter_) < sgd.max_iter, seconds


def compare_rows(X, y, methods, common) -> list[dict]:
    """Run each method; one dict a method (objective gaps filled against "exact")."""
    from gradfit.exceptions import DivergenceError

    rows = []
    for method in methods:
        row = {"method": method, "time_s": None, "n_iter": None, "converged": None,
               "objective": None, "gap": None, "param_gap": None, "note": ""}
        if method in SKLEARN:
            coef, icpt, n_iter, conv, seconds = _sklearn(method, X, y, common)
            row.update(time_s=seconds, n_iter=n_iter, converged=conv,
                       objective=_objective(X, y, coef, icpt))
        else:
            params = dict(common)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result, seconds = fit_result(X, y, dict(params, solver=method))
            except DivergenceError as exc:
                row.update(note=f"diverged at epoch {exc.epoch}")
                rows.append(row)
                continue
            coef, icpt = result.coef, float(np.asarray(result.intercept))
            row.update(time_s=seconds, n_iter=int(result.n_iter),
                       converged=bool(result.converged), objective=float(result.objective),
                       note=result.stop_reason)
        row["_theta"] = np.append(np.asarray(coef, dtype=float).reshape(-1), icpt)
        rows.append(row)
    ref = next((r for r in rows if r["method"] == "exact" and "_theta" in r), None)
    if ref is None:
        exact, _ = fit_result(X, y, {k: v for k, v in common.items()
                                     if k in ("fit_intercept",)} | {"solver": "exact"})
        ref = {"objective": float(exact.objective),
               "_theta": np.append(np.asarray(exact.coef, dtype=float).reshape(-1),
                                   float(np.asarray(exact.intercept)))}
    ref_theta, ref_objective = ref["_theta"], ref["objective"]
    norm = float(np.linalg.norm(ref_theta)) or 1.0
    for row in rows:
        theta = row.pop("_theta", None)
        if theta is not None:
            row["gap"] = row["objective"] - ref_objective
            row["param_gap"] = float(np.linalg.norm(theta - ref_theta)) / norm
    return rows


def run(args: argparse.Namespace) -> int:
    """Run ``gradfit compare``."""
    from gradfit.io import read_table

    methods = args.methods or list(SOLVERS) + list(SKLEARN)
    unknown = [m for m in methods if m not in SOLVERS + SKLEARN]
    if unknown:
        raise UsageError(f"unknown method {unknown[0]!r} (choose from "
                         f"{', '.join(SOLVERS + SKLEARN)})")
    table = read_table(args.data, target=args.target, features=args.features,
                       drop_missing=args.drop_missing, sep=args.sep, drop=args.drop)
    if not args.json:
        for note in table.notes:
            print(f"gradfit: note: {note}", file=sys.stderr)
    common = {k: getattr(args, k) for k in ("max_iter", "tol", "fit_intercept", "standardize")
              if getattr(args, k) is not None}
    common["random_state"] = args.random_state
    rows = compare_rows(table.X, table.y, methods, common)
    if args.json:
        from gradfit._version import __version__

        output.emit_json({"command": "compare", "gradfit_version": __version__,
                          "data": {"source": table.source, "target": table.target_name,
                                   "features": table.feature_names, "n_rows": table.n_rows,
                                   "n_dropped": table.n_dropped},
                          "rows": rows})
        return 0
    _print(table, rows)
    return 0


def _print(table, rows) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(f"{table.target_name} ~ {', '.join(table.feature_names[:6])}"
                         f"{', ...' if len(table.feature_names) > 6 else ''}"
                         f"  ({table.n_rows} rows)"), box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify in [("method", "left"), ("time", "right"), ("iters", "right"),
                          ("conv.", "center"), ("objective", "right"),
                          ("gap to exact", "right"), ("param gap", "right")]:
        t.add_column(name, justify=justify, no_wrap=True)
    for r in rows:
        if r["objective"] is None:
            t.add_row(r["method"], "—", "—", "—", Text(r["note"]), "—", "—")
            continue
        t.add_row(r["method"], _ms(r["time_s"]), output.num(r["n_iter"]),
                  output.num(r["converged"]), output.num(r["objective"], 10),
                  f"{r['gap']:.2e}", f"{r['param_gap']:.2e}")
    output.stdout_console().print(t)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
