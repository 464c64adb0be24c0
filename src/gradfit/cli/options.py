"""Argument parsing shared by the commands: the one-line usage errors, and the
:class:`gradfit.GDRegressor` options as flags."""

from __future__ import annotations

import argparse
import inspect
import textwrap

__all__ = [
    "UsageError",
    "Parser",
    "SOLVERS",
    "add_estimator_options",
    "add_data_options",
    "estimator_params",
    "split_names",
]

SOLVERS = ("gd", "momentum", "nesterov", "adam", "lbfgs", "cg", "exact")
SCHEDULES = ("auto", "constant", "inverse_scaling", "step", "cosine")
LOSSES = ("squared", "huber")
PENALTIES = ("none", "l2", "l1", "elasticnet")


class UsageError(Exception):
    """A bad command line (the message is one line, without the usage block)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become :class:`UsageError` (one line, exit 2)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if kwargs.get("description"):
            kwargs["description"] = textwrap.fill(kwargs["description"], 79)
        super().__init__(*args, **kwargs)

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


def split_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (argparse type for --features)."""
    names = [t.strip() for t in text.split(",")]
    if not names or any(not t for t in names):
        raise argparse.ArgumentTypeError(f"expected column names as A,B,C, got {text!r}")
    return names


def _rate(text: str):
    if text in ("auto", "backtracking"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, 'auto' or 'backtracking', got {text!r}"
        ) from None


def _tol(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number or 'auto', got {text!r}"
        ) from None


def _core_defaults() -> dict:
    """The estimator's defaults, read from its signature (empty if it cannot be read)."""
    try:
        from gradfit import GDRegressor

        return {k: p.default for k, p in inspect.signature(GDRegressor).parameters.items()
                if p.default is not inspect.Parameter.empty}
    except Exception:  # noqa: BLE001 - help text must not depend on the core importing
        return {}


# (flag, parameter, argparse keywords, help)
_OPTIONS = [
    ("--solver", "solver", {"choices": SOLVERS},
     "optimizer: gd, momentum, nesterov, adam, lbfgs, cg or exact (closed form)"),
    ("--learning-rate", "learning_rate", {"type": _rate, "metavar": "RATE"},
     "step size: a number, 'auto' (1/L) or 'backtracking' (Armijo line search)"),
    ("--schedule", "schedule", {"choices": SCHEDULES}, "learning-rate schedule"),
    ("--batch-size", "batch_size", {"type": int, "metavar": "N"},
     "rows per step (mini-batch / stochastic); full batch when omitted"),
    ("--momentum", "momentum", {"type": float, "metavar": "BETA"},
     "momentum coefficient (momentum, nesterov; adam's beta1)"),
    ("--max-iter", "max_iter", {"type": int, "metavar": "N"}, "maximum epochs"),
    ("--tol", "tol", {"type": _tol, "metavar": "TOL"},
     "stopping tolerance, or 'auto' (tight for full batches, looser for mini-batches)"),
    ("--loss", "loss", {"choices": LOSSES}, "loss: squared or huber (robust)"),
    ("--epsilon", "epsilon", {"type": float, "metavar": "EPS"}, "huber threshold"),
    ("--penalty", "penalty", {"choices": PENALTIES}, "regularization"),
    ("--alpha", "alpha", {"type": float, "metavar": "ALPHA"}, "regularization strength"),
    ("--l1-ratio", "l1_ratio", {"type": float, "metavar": "R"}, "elastic-net L1 share"),
    ("--no-intercept", "fit_intercept", {"action": "store_const", "const": False},
     "fit a line through the origin (no intercept)"),
    ("--no-standardize", "standardize", {"action": "store_const", "const": False},
     "descend in raw feature units (no internal scaling)"),
    ("--early-stopping", "early_stopping", {"action": "store_const", "const": True},
     "stop when the loss on a held-out share of rows stops improving"),
    ("--validation-fraction", "validation_fraction", {"type": float, "metavar": "F"},
     "held-out share for --early-stopping"),
    ("--n-iter-no-change", "n_iter_no_change", {"type": int, "metavar": "N"},
     "epochs without improvement before stopping"),
    ("--average", "average", {"action": "store_const", "const": True},
     "return the average of the iterates (Polyak-Ruppert)"),
    ("--random-state", "random_state", {"type": int, "metavar": "SEED"},
     "seed for shuffling and the validation split"),
]

ESTIMATOR_PARAMS = tuple(p for _, p, _, _ in _OPTIONS)


def add_estimator_options(parser: argparse.ArgumentParser) -> None:
    """Add every GDRegressor option as a flag (unset flags keep the estimator default)."""
    defaults = _core_defaults()
    group = parser.add_argument_group("estimator options (gradfit.GDRegressor)")
    for flag, param, kwargs, text in _OPTIONS:
        if defaults.get(param) is not None and kwargs.get("action") != "store_const":
            text = f"{text} (default: {defaults[param]})"
        group.add_argument(flag, dest=param, default=None, help=text, **kwargs)


def add_data_options(parser: argparse.ArgumentParser, *, target_required: bool = True) -> None:
    """DATA, --target, --features, --drop-missing."""
    parser.add_argument("data", metavar="DATA",
                        help="CSV or Parquet file, or '-' for CSV on standard input")
    parser.add_argument("--target", "-t", required=target_required, metavar="COL",
                        help="the column to predict")
    parser.add_argument("--features", "-f", type=split_names, metavar="A,B,...",
                        help="predictor columns (default: every column but the target)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="drop rows with missing values instead of stopping")


def estimator_params(args: argparse.Namespace) -> dict:
    """The estimator options given on the command line, as GDRegressor keywords."""
    return {p: getattr(args, p) for p in ESTIMATOR_PARAMS if getattr(args, p, None) is not None}
