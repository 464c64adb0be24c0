"""Argument parsing shared by the commands: the one-line usage errors, and the
:class:`gradfit.GDRegressor` options as flags."""

from __future__ import annotations

import argparse
import textwrap

__all__ = [
    "UsageError",
    "Parser",
    "SOLVERS",
    "add_estimator_options",
    "add_data_options",
    "add_design_options",
    "add_sep_option",
    "add_stream_options",
    "estimator_params",
    "split_names",
]

from gradfit.model.losses import LOSSES as _LOSS_TABLE
from gradfit.model.penalties import PENALTY_NAMES as PENALTIES
from gradfit.solvers import registry
from gradfit.solvers.schedules import SCHEDULES

SOLVERS = registry.names()
LOSSES = tuple(_LOSS_TABLE)


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


def tolerance(text: str):
    """argparse type of ``--tol``: a non-negative number or 'auto'."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number or 'auto', got {text!r}"
        ) from None


_STANDARDIZE = {"auto": "auto", "on": True, "true": True, "off": False, "false": False,
                "whiten": "whiten"}


def _standardize(text: str):
    try:
        return _STANDARDIZE[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"expected auto, on, off or whiten, got {text!r}") from None


def _core_defaults() -> dict:
    """The fitting parameters' defaults (``gradfit.fitting.params.FitParams``, the estimator's
    own), read without importing scikit-learn: ``gradfit --help`` stays fast."""
    import dataclasses

    from gradfit.fitting.params import FitParams

    return {f.name: f.default for f in dataclasses.fields(FitParams)}


# (flag, parameter, argparse keywords, help)
_OPTIONS = [
    ("--solver", "solver", {"choices": SOLVERS},
     "optimizer: " + ", ".join(SOLVERS) + " (exact: the closed form)"),
    ("--learning-rate", "learning_rate", {"type": _rate, "metavar": "RATE"},
     "step size: a number, 'auto' (1/L) or 'backtracking' (Armijo line search)"),
    ("--schedule", "schedule", {"choices": SCHEDULES}, "learning-rate schedule"),
    ("--batch-size", "batch_size", {"type": int, "metavar": "N"},
     "rows per step (mini-batch / stochastic); full batch when omitted"),
    ("--momentum", "momentum", {"type": float, "metavar": "BETA"},
     "momentum coefficient (momentum, nesterov; adam's beta1)"),
    ("--max-iter", "max_iter", {"type": int, "metavar": "N"}, "maximum epochs"),
    ("--tol", "tol", {"type": tolerance, "metavar": "TOL"},
     "stopping tolerance, or 'auto' (tight for full batches, looser for mini-batches)"),
    ("--loss", "loss", {"choices": LOSSES}, "loss: squared or huber (robust)"),
    ("--epsilon", "epsilon", {"type": float, "metavar": "EPS"}, "huber threshold"),
    ("--penalty", "penalty", {"choices": PENALTIES}, "regularization"),
    ("--alpha", "alpha", {"type": float, "metavar": "ALPHA"}, "regularization strength"),
    ("--l1-ratio", "l1_ratio", {"type": float, "metavar": "R"}, "elastic-net L1 share"),
    ("--no-intercept", "fit_intercept", {"action": "store_const", "const": False},
     "fit a line through the origin (no intercept)"),
    ("--standardize", "standardize", {"type": _standardize, "metavar": "auto|on|off|whiten"},
     "the coordinates of the descent: auto (whitened for full batches, standardized "
     "otherwise, your units with a numeric --learning-rate), on (standardized), off (your "
     "units), whiten"),
    ("--no-standardize", "standardize", {"action": "store_const", "const": False},
     "descend in raw feature units (no internal scaling; = --standardize off)"),
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

FLAGS = {**{p: f for f, p, kw, _ in _OPTIONS if "action" not in kw},
         **{(p, str(kw["const"])): f for f, p, kw, _ in _OPTIONS if "const" in kw}}
"""The flag of each value-taking option by parameter name, and of each switch by
(parameter, value): ``FLAGS["max_iter"] == "--max-iter"``,
``FLAGS[("fit_intercept", "False")] == "--no-intercept"``."""


def add_estimator_options(parser: argparse.ArgumentParser) -> None:
    """Add every GDRegressor option as a flag (unset flags keep the estimator default)."""
    defaults = _core_defaults()
    group = parser.add_argument_group("estimator options (gradfit.GDRegressor)")
    for flag, param, kwargs, text in _OPTIONS:
        if defaults.get(param) is not None and kwargs.get("action") != "store_const":
            text = f"{text} (default: {defaults[param]})"
        group.add_argument(flag, dest=param, default=None, help=text, **kwargs)


def add_data_options(parser: argparse.ArgumentParser, *, target_required: bool = True,
                     many: bool = False) -> None:
    """DATA, --target, --features, --drop-missing (``many``: DATA may name several files)."""
    parser.add_argument("data", metavar="DATA",
                        help="CSV or Parquet file, a folder or a quoted glob of them "
                             "('data/*.parquet': streamed), or '-' for CSV on standard input"
                        if many else "CSV or Parquet file, or '-' for CSV on standard input")
    parser.add_argument("--target", "-t", required=target_required, metavar="COL",
                        action=OneTarget, help="the column to predict (one)")
    parser.add_argument("--features", "-f", type=split_names, metavar="A,B,...",
                        help="predictor columns (default: every column but the target and "
                             "the --drop ones)")
    parser.add_argument("--drop", type=split_names, metavar="A,B,...",
                        help="columns to leave out of the default features (an id, say)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="drop rows with missing values instead of stopping")
    add_sep_option(parser)


def add_design_options(parser: argparse.ArgumentParser) -> None:
    """--formula and --categorical: how the design matrix is built from the columns."""
    group = parser.add_argument_group("design (formulas, categorical columns; see "
                                      "docs/tables.md)")
    group.add_argument("--formula", metavar="'Y ~ TERMS'",
                       help="the model as a formula (formulaic's, as in R and statsmodels): "
                            "'y ~ x1 + C(region) + np.log(x2)'; the target is its left side "
                            "(no -t), '- 1' fits without an intercept")
    group.add_argument("--categorical", type=categorical_columns, metavar="auto|A,B,...",
                       help="one-hot encode these feature columns (treatment coding, levels "
                            "sorted, the first the reference); auto: every feature that does "
                            "not hold numbers")


def categorical_columns(text: str):
    """The argparse type of --categorical: 'auto' or column names A,B,C."""
    return "auto" if text.strip().lower() == "auto" else split_names(text)


def add_sep_option(parser: argparse.ArgumentParser) -> None:
    """--sep: the CSV field separator."""
    parser.add_argument("--sep", type=separator, metavar="SEP",
                        help="CSV field separator: one character, or 'tab' (default: a tab "
                             "for .tsv, else the most frequent of ',', ';' and tab in the "
                             "header line)")


_SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
               "space": " "}


def separator(text: str) -> str:
    """The argparse type of --sep: one character, or a name (tab, comma, semicolon, pipe,
    space; a typed backslash-t is a tab)."""
    sep = _SEPARATORS.get(text.lower(), text)
    if len(sep) != 1 or sep in "\"\r\n":
        raise argparse.ArgumentTypeError(f"expected one character such as ';' or '|', or "
                                         f"'tab', got {text!r}")
    return sep


class OneTarget(argparse.Action):
    """--target, given once: a second one is an error, not a silent choice (gradfit fit
    fits one target at a time)."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest, None)
        if before is not None:
            raise UsageError(f"{option_string} is given twice ({before!r} and {values!r}): "
                             f"{parser.prog} fits one target at a time; run it once per "
                             "target (in Python, gradfit.fit(X, Y) fits several at once)")
        setattr(namespace, self.dest, values)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_stream_options(parser: argparse.ArgumentParser) -> None:
    """How ``fit`` reads its data: in memory, streamed from the files, or on Dask."""
    group = parser.add_argument_group(
        "large data (streamed from the files; see docs/out-of-core.md)")
    how = group.add_mutually_exclusive_group()
    how.add_argument("--stream", action="store_true",
                     help="read the files block by block (default for a folder, a glob, "
                          "several files, or a file larger than a quarter of the memory)")
    how.add_argument("--in-memory", action="store_true",
                     help="read the one file into memory, however large")
    group.add_argument("--checkpoint", metavar="PATH",
                       help="save the fit's state there after every epoch (first-order "
                            "solvers; implies --stream)")
    group.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                       help="write the checkpoint every N epochs (default 1)")
    group.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint PATH (same data and options)")
    group.add_argument("--skip-bad-rows", action="store_true",
                       help="skip and count malformed rows instead of stopping (implies "
                            "--stream)")
    group.add_argument("--weight", metavar="COL",
                       help="column of non-negative sample weights (implies --stream)")
    group.add_argument("--batch-rows", type=_positive_int, metavar="N",
                       help="rows read at a time (default 65536; implies --stream)")
    group.add_argument("--cache", metavar="DIR|auto|none", default=None,
                       help="keep the parsed rows in a binary cache in DIR (auto: the temp "
                            "dir, for CSV with an iterative solver) so that only the first "
                            "pass parses the files; reused by later runs on unchanged files "
                            "(implies --stream)")
    group.add_argument("--dask", metavar="ADDRESS",
                       help="fit on a Dask cluster: 'local' (a new cluster on this machine) "
                            "or a scheduler address such as tcp://host:8786 "
                            "(needs gradfit[dask])")
    group.add_argument("--dask-workers", type=_positive_int, metavar="N",
                       help="worker processes of --dask local (default: one per core)")


def estimator_params(args: argparse.Namespace) -> dict:
    """The estimator options given on the command line, as GDRegressor keywords."""
    return {p: getattr(args, p) for p in ESTIMATOR_PARAMS if getattr(args, p, None) is not None}
