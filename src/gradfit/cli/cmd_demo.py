"""``gradfit demo``: the tutorial, end to end, on the tutorial's own 100 points (default) or
on scikit-learn's diabetes data (``--data diabetes``).

From a naive guess (slope 0, intercept 0), gradient descent walks down towards the
least-squares line, which the exact solver finds in one solve.  A table compares the fits
and an HTML report with charts is written.

* ``tutorial``: the 100 points shipped in :mod:`gradfit.datasets`, all used for training.
  The tutorial's loop (learning rate 1e-4 in the data's units, 1000 iterations) gives the
  published b = 0.0889, m = 1.4777, error 112.61: still far from the least-squares line
  along the valley's floor; the automatic rate gets there in a few steps.
* ``diabetes``: disease progression against body-mass index, 80/20 train/test split
  (seed 0); gradient descent and momentum at a fixed standardized rate of 0.1.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradfit.cli import output
from gradfit.cli.fitting import r2_score, write_view_files

__all__ = ["add_parser", "run", "load_demo_data", "demo_fits", "DEMOS", "Demo"]

SEED = 0


@dataclass
class Demo:
    """One demo: its data, its fits (name -> ``gradfit.fit`` keywords) and its labels."""

    name: str
    feature: str
    target: str
    title: str
    data_note: str
    split_note: str
    fits: dict = field(default_factory=dict)

    def load(self):
        """``(X_train, X_test, y_train, y_test)``; the test part is None without a split."""
        return _LOADERS[self.name]()


def _tutorial():
    from gradfit.datasets import load_tutorial

    X, y = load_tutorial(return_X_y=True)
    return X, None, y, None


def _diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    data = load_diabetes(scaled=False)
    x = np.asarray(data.data[:, list(data.feature_names).index("bmi")], dtype=float)
    y = np.asarray(data.target, dtype=float)
    return train_test_split(x[:, None], y, test_size=0.2, random_state=SEED)


_LOADERS = {"tutorial": _tutorial, "diabetes": _diabetes}

# A numeric learning rate is in the data's units (standardize="auto"), as the tutorial means it.
DEMOS = {
    "tutorial": Demo(
        "tutorial", "x", "y", "gradfit demo: the tutorial's 100 points",
        "gradfit.datasets.load_tutorial(): the classic gradient-descent tutorial data",
        "all 100 rows (no split, as in the tutorial)",
        {"gradient descent (rate 1e-4)": {"solver": "gd", "learning_rate": 1e-4,
                                          "max_iter": 1000},
         "gradient descent (auto rate)": {"solver": "gd", "learning_rate": "auto"},
         "momentum (rate 1e-4)": {"solver": "momentum", "learning_rate": 1e-4,
                                  "momentum": 0.9, "max_iter": 1000},
         "exact": {"solver": "exact"}}),
    # A fixed rate of 0.1 (in standardized units; 1/L would land on the answer in one step
    # for a single feature) makes the descent visible.
    "diabetes": Demo(
        "diabetes", "bmi", "disease progression",
        "gradfit demo: diabetes progression against BMI",
        "scikit-learn diabetes (scaled=False), BMI only",
        f"80/20 train/test, train_test_split(random_state={SEED})",
        {"gradient descent": {"solver": "gd", "learning_rate": 0.1, "standardize": True},
         "momentum": {"solver": "momentum", "learning_rate": 0.1, "momentum": 0.5,
                      "standardize": True},
         "exact": {"solver": "exact"}}),
}
EXAMPLES = """\
examples:
  gradfit demo                    # the tutorial's 100 points: gradfit-demo/report.html + PNGs
  gradfit demo --data diabetes    # scikit-learn's diabetes data, BMI only, 80/20 split
  gradfit demo --out /tmp/demo --json
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``demo`` on the subcommand action."""
    p = commands.add_parser(
        "demo", help="the tutorial: fit its 100 points (or the diabetes data), write a report",
        description="Fit the tutorial's 100 points (default) or disease progression against "
                    "BMI (scikit-learn's diabetes data, 80/20 split, seed 0) from a naive "
                    "starting guess with gradient descent, momentum and the exact solver; "
                    "print a comparison and write an HTML report with charts.",
        epilog=EXAMPLES,
    )
    p.add_argument("--data", choices=list(DEMOS), default="tutorial",
                   help="which demo data set (default: tutorial)")
    p.add_argument("--out", "-o", default="gradfit-demo", metavar="DIR",
                   help="folder for report.html and the charts (default: gradfit-demo)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(run=run)
    return p


def load_demo_data(name: str = "diabetes"):
    """``(X_train, X_test, y_train, y_test)`` of demo `name` (test parts None without a
    split)."""
    return DEMOS[name].load()


def demo_fits(X, y, fits: dict | None = None):
    """Run `fits` (default: the diabetes demo's) from the naive start; returns
    ``{name: (FitResult, seconds)}``."""
    import gradfit

    out = {}
    for name, params in (fits or DEMOS["diabetes"].fits).items():
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
        "train_r2": r2_score(y, pred),
        "test_r2": None if X_test is None else r2_score(y_test, X_test @ coef + intercept),
        "n_iter": n_iter,
        "converged": converged,
        "time_s": seconds,
    }


def _exact_summary(demo: Demo, X, y) -> str:
    """The statistician's view of the exact line, for the report's inference section."""
    from gradfit import GDRegressor

    model = GDRegressor(solver="exact").fit(X, y)
    return str(model.summary(feature_names=[demo.feature], target_name=demo.target))


def run(args: argparse.Namespace) -> int:
    """Run ``gradfit demo``."""
    from gradfit.charts.view import FitView

    demo = DEMOS[getattr(args, "data", "tutorial")]
    X, X_test, y, y_test = demo.load()
    fits = demo_fits(X, y, demo.fits)
    start = (np.zeros(1), 0.0)
    rows = [_row("starting guess", start[0], start[1], X, y, X_test, y_test, None, None, None)]
    for name, (res, seconds) in fits.items():
        rows.append(_row(name, res.coef, float(np.asarray(res.intercept)), X, y, X_test,
                         y_test, int(res.n_iter), seconds, bool(res.converged)))
    r2 = "test_r2" if X_test is not None else "train_r2"
    summary = [(r["method"], f"intercept {r['intercept']:.6g}, slope {r['slope']:.6g}, "
                             f"train MSE {r['train_mse']:.6g}, "
                             f"{'test' if X_test is not None else 'train'} R² {r[r2]:.3f}, "
                             f"{output.num(r['n_iter'])} iterations")
               for r in rows]
    view = FitView(
        X=X, y=y, feature_names=[demo.feature], target_name=demo.target,
        results={name: res for name, (res, _) in fits.items()}, exact_name="exact",
        settings={name: ", ".join(f"{k}={v}" for k, v in p.items())
                  for name, p in demo.fits.items()} | {
                      "data": demo.data_note, "split": demo.split_note,
                      "start": "slope 0, intercept 0"},
        summary_rows=summary, title=demo.title, X_test=X_test, y_test=y_test, start=start,
        inference_text=_exact_summary(demo, X, y),
    )
    folder = Path(args.out)
    files = write_view_files(view, report=folder / "report.html", plots=folder)
    n_test = 0 if y_test is None else int(len(y_test))
    if args.json:
        from gradfit._version import __version__

        output.emit_json({"command": "demo", "gradfit_version": __version__,
                          "data": {"name": demo.name, "feature": demo.feature,
                                   "target": demo.target, "n_train": int(len(y)),
                                   "n_test": n_test},
                          "rows": rows, "files": files})
        return 0
    _print(demo, rows, files, len(y), n_test)
    return 0


def _print(demo: Demo, rows, files, n_train, n_test) -> None:
    from rich.table import Table

    console = output.stdout_console()
    split = f"{n_train} train / {n_test} test rows" if n_test else f"{n_train} rows"
    t = Table(title=f"{demo.target} ~ {demo.feature}  ({demo.name}, {split})")
    r2 = "test R²" if n_test else "R²"
    for name, justify in [("method", "left"), ("intercept", "right"), ("slope", "right"),
                          ("train MSE", "right"), (r2, "right"),
                          ("iterations", "right"), ("time", "right")]:
        t.add_column(name, justify=justify)
    for r in rows:
        t.add_row(r["method"], f"{r['intercept']:.6g}", f"{r['slope']:.6g}",
                  f"{r['train_mse']:.6g}", f"{r['test_r2' if n_test else 'train_r2']:.3f}",
                  output.num(r["n_iter"]),
                  "—" if r["time_s"] is None else f"{r['time_s'] * 1e3:.3g} ms")
    console.print(t)
    console.print(f"report: {files['report']}", markup=False)
    console.print(f"charts: {', '.join(files['plots'])}", markup=False)
