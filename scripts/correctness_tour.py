"""The correctness tour of issue 11: correct digits of gradfit's fits on real data sets.

For each data set (statsmodels' and scikit-learn's bundled data, tests/realdata.py; the NIST
StRD sets with --nist) and each configuration (the defaults, then every solver), the table
shows the correct significant digits of the intercept and coefficients (the minimum over
them, NIST's log relative error) against an independent oracle, and what the fit claims:
"c" converged_, "-" not converged; with a certificate, the digits it states in brackets.
A claim of more digits than are correct is marked "!!".

    .venv/bin/python scripts/correctness_tour.py [--nist] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import realdata  # noqa: E402

CONFIGS = {
    "defaults": {},
    "gd": {"solver": "gd"},
    "momentum": {"solver": "momentum"},
    "nesterov": {"solver": "nesterov"},
    "adam": {"solver": "adam"},
    "lbfgs": {"solver": "lbfgs"},
    "cg": {"solver": "cg"},
    "exact": {"solver": "exact"},
}


def nist_sets():
    from conftest import NIST_NAMES, nist_xy

    for name in NIST_NAMES:
        X, y, fit_intercept, beta, _, _ = nist_xy(name)
        yield f"NIST {name}", X, y, fit_intercept, beta


def real_sets():
    for name in realdata.NAMES:
        X, y = realdata.load(name)
        w, b = realdata.reference_solution(X, y)
        yield name, X.to_numpy(), y.to_numpy(), True, np.r_[b, w]


def run(X, y, fit_intercept, params):
    import gradfit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = gradfit.GDRegressor(fit_intercept=fit_intercept, **params).fit(X, y)
        seconds = time.perf_counter() - t0
    est = np.r_[model.intercept_, model.coef_] if fit_intercept else np.asarray(model.coef_)
    cert = getattr(model.result_, "certificate", None) or {}
    return est, bool(model.converged_), cert.get("digits"), model.n_iter_, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nist", action="store_true", help="the NIST StRD sets too")
    ap.add_argument("--only", default=None, help="comma-separated configurations")
    args = ap.parse_args(argv)
    configs = {k: v for k, v in CONFIGS.items()
               if args.only is None or k in args.only.split(",")}
    sets = list(real_sets()) + (list(nist_sets()) if args.nist else [])
    head = "| data set | n | d | " + " | ".join(configs) + " |"
    print(head)
    print("|" + "---|" * (3 + len(configs)))
    worst = {k: 15.0 for k in configs}
    lies = 0
    for name, X, y, fit_intercept, truth in sets:
        cells = []
        for key, params in configs.items():
            est, conv, stated, n_iter, seconds = run(X, y, fit_intercept, params)
            dg = float(realdata.digits(est, truth).min())
            worst[key] = min(worst[key], dg)
            mark = "c" if conv else "-"
            claim = "" if stated is None else f" [{stated}]"
            lie = conv and stated is not None and stated > dg + 0.5
            lies += lie
            cells.append(f"{dg:.1f} {mark}{claim}{' !!' if lie else ''}")
        print(f"| {name} | {X.shape[0]} | {X.shape[1]} | " + " | ".join(cells) + " |",
              flush=True)
    print("| **worst** | | | " + " | ".join(f"{v:.1f}" for v in worst.values()) + " |")
    print(f"\nclaims of more digits than correct: {lies}")


if __name__ == "__main__":
    main()
