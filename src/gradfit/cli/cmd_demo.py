"""``gradfit demo``: the tutorial, end to end, on scikit-learn's diabetes data.

Disease progression one year after baseline against body-mass index, 80/20 train/test
split with a fixed seed.  From a naive guess (slope 0, intercept 0), gradient descent and
gradient descent with momentum walk down to the least-squares line, which the exact
solver finds in one solve.  A table compares them and an HTML report with charts is
written.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from gradfit.cli import output
from gradfit.cli.fitting import r2_score, write_view_files

__all__ = ["add_parser", "run", "load_demo_data", "demo_fits", "DEMO_FITS"]

FEATURE = "bmi"
TARGET = "disease progression"
SEED = 0
# name -> gradfit.fit keywords.  A fixed rate of 0.1 (in standardized units; 1/L would
# land on the answer in one step for a single feature) makes the descent visible.
DEMO_FITS = {
    "gradient descent": {"solver": "gd", "learning_rate": 0.1, "standardize": True},
    "momentum": {"solver": "momentum", "learning_rate": 0.1, "momentum": 0.5,
                 "standardize": True},
    "exact": {"solver": "exact"},
}
EXAMPLES = """\
examples:
  gradfit demo                    # writes gradfit-demo/report.html and PNG charts
  gradfit demo --out /tmp/demo
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``demo`` on the subcommand action."""
    p = commands.add_parser(
        "demo", help="the tutorial: fit the diabetes data and write a report",
        description="Fit disease progression against BMI (scikit-learn's diabetes data, "
                    "80/20 split, seed 0) from a naive starting guess with gradient "
                    "descent, momentum and the exact solver; print a comparison and write "
                    "an HTML report with charts.",
        epilog=EXAMPLES,
    )
    p.add_argument("--out", "-o", default="gradfit-demo", metavar="DIR",
                   help="folder for report.html and the charts (default: gradfit-demo)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(run=run)
    return p


def load_demo_data():
    """``(X_train, X_test, y_train, y_test)``: BMI (one column) and disease progression."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    data = load_diabetes(scaled=False)
    x = np.asarray(data.data[:, list(data.feature_names).index(FEATURE)], dtype=float)
    y = np.asarray(data.target, dtype=float)
    return train_test_split(x[:, None], y, test_size=0.2, random_state=SEED)


def demo_fits(X, y):
    """Run :data:`DEMO_FITS` from the naive start; returns ``{name: (FitResult, seconds)}``."""
    import gradfit

    out = {}
    for name, params in DEMO_FITS.items():
        kwargs = dict(params)
        if params["solver"] != "exact":
            kwargs.update(coef_init=np.zeros(X.shape[1]), intercept_init=0.0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = gradfit.fit(X, y, **kwargs)
        out[name] = (result, time.perf_counter() - t0)
    return out


def _row(name, coef, intercept, X, y, X_test, y_test, n_iter, seconds, converged):
    coef = np.asarray(coef, dtype=float).reshape(-1)
    pred = X @ coef + intercept
    return {
        "method": name,
        "intercept": float(intercept),
        "slope": float(coef[0]),
        "train_mse": float(np.mean((y - pred) ** 2)),
        "test_r2": r2_score(y_test, X_test @ coef + intercept),
        "n_iter": n_iter,
        "converged": converged,
        "time_s": seconds,
    }


def _exact_summary(X, y) -> str:
    """The statistician's view of the exact line, for the report's inference section."""
    from gradfit import GDRegressor

    model = GDRegressor(solver="exact").fit(X, y)
    return str(model.summary(feature_names=[FEATURE], target_name=TARGET))


def run(args: argparse.Namespace) -> int:
    """Run ``gradfit demo``."""
    from gradfit.charts.view import FitView

    X, X_test, y, y_test = load_demo_data()
    fits = demo_fits(X, y)
    start = (np.zeros(1), 0.0)
    rows = [_row("starting guess", start[0], start[1], X, y, X_test, y_test, None, None, None)]
    for name, (res, seconds) in fits.items():
        rows.append(_row(name, res.coef, float(np.asarray(res.intercept)), X, y, X_test,
                         y_test, int(res.n_iter), seconds, bool(res.converged)))
    summary = [(r["method"], f"intercept {r['intercept']:.4f}, slope {r['slope']:.4f}, "
                             f"train MSE {r['train_mse']:.2f}, test R² {r['test_r2']:.3f}, "
                             f"{output.num(r['n_iter'])} iterations")
               for r in rows]
    view = FitView(
        X=X, y=y, feature_names=[FEATURE], target_name=TARGET,
        results={name: res for name, (res, _) in fits.items()}, exact_name="exact",
        settings={name: ", ".join(f"{k}={v}" for k, v in p.items())
                  for name, p in DEMO_FITS.items()} | {
                      "data": "scikit-learn diabetes (scaled=False), BMI only",
                      "split": f"80/20 train/test, train_test_split(random_state={SEED})",
                      "start": "slope 0, intercept 0"},
        summary_rows=summary,
        title="gradfit demo: diabetes progression against BMI",
        X_test=X_test, y_test=y_test, start=start,
        inference_text=_exact_summary(X, y),
    )
    folder = Path(args.out)
    files = write_view_files(view, report=folder / "report.html", plots=folder)
    if args.json:
        from gradfit._version import __version__

        output.emit_json({"command": "demo", "gradfit_version": __version__,
                          "data": {"feature": FEATURE, "target": TARGET,
                                   "n_train": int(len(y)), "n_test": int(len(y_test))},
                          "rows": rows, "files": files})
        return 0
    _print(rows, files, len(y), len(y_test))
    return 0


def _print(rows, files, n_train, n_test) -> None:
    from rich.table import Table

    console = output.stdout_console()
    t = Table(title=f"{TARGET} ~ {FEATURE}  (diabetes, {n_train} train / {n_test} test rows)")
    for name, justify in [("method", "left"), ("intercept", "right"), ("slope", "right"),
                          ("train MSE", "right"), ("test R²", "right"),
                          ("iterations", "right"), ("time", "right")]:
        t.add_column(name, justify=justify)
    for r in rows:
        t.add_row(r["method"], f"{r['intercept']:.4f}", f"{r['slope']:.4f}",
                  f"{r['train_mse']:.2f}", f"{r['test_r2']:.3f}", output.num(r["n_iter"]),
                  "—" if r["time_s"] is None else f"{r['time_s'] * 1e3:.3g} ms")
    console.print(t)
    console.print(f"report: {files['report']}", markup=False)
    console.print(f"charts: {', '.join(files['plots'])}", markup=False)
