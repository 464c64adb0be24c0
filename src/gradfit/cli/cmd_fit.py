"""``gradfit fit``: fit one model to a table and show, save or report it."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gradfit.cli import output
from gradfit.cli.fitting import exact_result, fit_estimator, write_view_files
from gradfit.cli.options import add_data_options, add_estimator_options, estimator_params

__all__ = ["add_parser", "run", "fit_record", "summary_rows"]

EXAMPLES = """\
examples:
  gradfit fit data.csv --target y
  gradfit fit houses.parquet -t price -f area,rooms --solver adam --learning-rate 0.01
  gradfit fit data.csv -t y --penalty l2 --alpha 0.1 --save model.json
  gradfit fit data.csv -t y --json > result.json
  gradfit fit data.csv -t y --report report.html --plots charts/
  cat data.csv | gradfit fit - -t y --quiet
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``fit`` on the subcommand action."""
    p = commands.add_parser(
        "fit", help="fit a linear model to a table by gradient descent",
        description="Fit y = X w + b to a CSV or Parquet table and print the coefficients, "
                    "the objective, R², the iterations and why the fit stopped.",
        epilog=EXAMPLES,
    )
    add_data_options(p)
    add_estimator_options(p)
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print the result as JSON (schema in docs/cli.md)")
    out.add_argument("--save", metavar="MODEL.json", help="save the fitted model (JSON)")
    out.add_argument("--report", metavar="REPORT.html", help="write an HTML report")
    out.add_argument("--plots", metavar="DIR", help="write PNG charts into DIR")
    out.add_argument("--summary", action="store_true",
                     help="also print the statistical summary (standard errors, t, p)")
    out.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar and no notes: only the result")
    p.set_defaults(run=run)
    return p


def summary_rows(table, est, r2: float, seconds: float) -> list[tuple[str, str]]:
    """The (name, value) rows of the summary table, shared with the report."""
    rows = [(name, output.num(c, 10)) for name, c in zip(table.feature_names, est.coef_)]
    rows.append(("(intercept)", output.num(float(np.asarray(est.intercept_)), 10)))
    rows += [
        ("solver", str(est.get_params().get("solver", "?"))),
        ("objective", output.num(est.objective_, 10)),
        ("R²", output.num(r2, 8)),
        ("iterations", str(int(est.n_iter_))),
        ("converged", "yes" if est.converged_ else "no"),
        ("stopped because", str(est.stop_reason_)),
        ("learning rate", output.num(getattr(est, "learning_rate_", None), 6)),
        ("rows", f"{table.n_rows}" + (f" ({table.n_dropped} dropped: missing values)"
                                      if table.n_dropped else "")),
        ("time", f"{seconds:.3g} s"),
    ]
    return rows


def fit_record(table, est, r2: float, seconds: float) -> dict:
    """The ``--json`` record of a fit (documented in docs/cli.md)."""
    from gradfit._version import __version__

    params = est.get_params()
    params.pop("callback", None)
    return {
        "command": "fit",
        "gradfit_version": __version__,
        "data": {"source": table.source, "target": table.target_name,
                 "features": list(table.feature_names), "n_rows": table.n_rows,
                 "n_dropped": table.n_dropped},
        "solver": params.get("solver"),
        "params": params,
        "feature_names": list(table.feature_names),
        "coef": np.asarray(est.coef_, dtype=float).tolist(),
        "intercept": float(np.asarray(est.intercept_)),
        "objective": float(est.objective_),
        "r2": float(r2),
        "n_iter": int(est.n_iter_),
        "converged": bool(est.converged_),
        "stop_reason": str(est.stop_reason_),
        "learning_rate": getattr(est, "learning_rate_", None),
        "time_s": seconds,
        "files": {"model": None, "report": None, "plots": []},
        "summary": None,
    }


def _summary(est, table):
    """The inference summary of the fit, with the table's column names.

    Uses ``est.summary(...)`` when it takes ``feature_names`` and ``target_name``; else
    :func:`gradfit.inference.summarize` at the fitted parameters (the same statistics).
    Returns None when no summary can be made (the reason is in ``est.cli_warnings_``).
    """
    import inspect

    names, target = list(table.feature_names), table.target_name
    fn = getattr(est, "summary", None)
    try:
        if fn is not None and {"feature_names", "target_name"} <= set(
                inspect.signature(fn).parameters):
            return fn(table.X, table.y, feature_names=names, target_name=target)
        from gradfit.inference import summarize

        return summarize(table.X, table.y, est.coef_, est.intercept_,
                         fit_intercept=est.get_params().get("fit_intercept", True),
                         feature_names=names, target_name=target,
                         penalized_reason=_penalized_reason(est))
    except (ImportError, NotImplementedError, ValueError) as exc:
        est.cli_warnings_ = [*getattr(est, "cli_warnings_", []),
                             f"no statistical summary: {exc}"]
        return None


def _penalized_reason(est) -> str | None:
    own = getattr(est, "_penalized_reason", None)
    if callable(own):
        return own()
    params = est.get_params()
    if params.get("penalty") not in (None, "none") and params.get("alpha", 0) > 0:
        return f"penalty={params['penalty']!r}: standard errors of a penalized fit mislead"
    if params.get("loss", "squared") != "squared":
        return f"loss={params['loss']!r}: least-squares standard errors do not apply"
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``gradfit fit``."""
    from gradfit.io import read_table, save_model, train_data_hash

    table = read_table(args.data, target=args.target, features=args.features,
                       drop_missing=args.drop_missing)
    params = estimator_params(args)
    show_progress = not (args.quiet or args.json) and output.is_interactive()
    with output.FitProgress() as progress:
        est, seconds = fit_estimator(table.X, table.y, params,
                                     callback=progress if show_progress else None)
    r2 = float(est.score(table.X, table.y))
    record = fit_record(table, est, r2, seconds)
    rows = summary_rows(table, est, r2, seconds)
    notes = []
    if args.save:
        path = save_model(args.save, est, target_name=table.target_name,
                          train_hash=train_data_hash(table.X, table.y),
                          feature_names=table.feature_names, n_train_rows=table.n_rows)
        record["files"]["model"] = str(path)
        notes.append(f"saved the model to {path}")
    if args.report or args.plots:
        view = _view(table, est, rows, record)
        files = write_view_files(view, report=args.report, plots=args.plots)
        record["files"].update(files)
        if files["report"]:
            notes.append(f"wrote the report to {files['report']}")
        if files["plots"]:
            notes.append(f"wrote {len(files['plots'])} charts to {args.plots}")
    summary = _summary(est, table) if args.summary else None
    if summary is not None:
        record["summary"] = summary.to_dict() if hasattr(summary, "to_dict") else str(summary)
    if args.json:
        output.emit_json(record)
    else:
        _print(table, est, rows, summary, args)
    if not args.quiet:
        for message in getattr(est, "cli_warnings_", []):
            print(f"gradfit: warning: {message}", file=sys.stderr)
    if notes and not args.quiet and not args.json:
        err = output.stderr_console()
        for note in notes:
            err.print(note, markup=False)
    return 0


def _print(table, est, rows, summary, args) -> None:
    from rich.table import Table
    from rich.text import Text

    console = output.stdout_console()
    d = len(table.feature_names)
    coefs = Table(title=Text(f"{table.target_name} ~ {', '.join(table.feature_names)}"
                             if d <= 6 else f"{table.target_name} ~ {d} features"))
    coefs.add_column("term")
    coefs.add_column("coefficient", justify="right")
    for name, value in rows[: d + 1]:
        coefs.add_row(Text(name), value)
    console.print(coefs)
    console.print(output.key_value_table(rows[d + 1:]))
    if summary is not None:
        console.print()
        console.print(Text(str(summary)))


def _view(table, est, rows, record):
    from gradfit.charts.view import FitView

    solver = record["solver"] or "gd"
    results = {solver: est.result_}
    exact_name = "exact"
    if solver == "exact":
        results = {"exact": est.result_}
    else:
        exact = exact_result(table.X, table.y, record["params"])
        if exact is not None:
            results["exact"] = exact
    settings = {k: v for k, v in record["params"].items() if v is not None}
    return FitView(
        X=table.X, y=table.y, feature_names=list(table.feature_names),
        target_name=table.target_name, results=results, exact_name=exact_name,
        fit_intercept=bool(record["params"].get("fit_intercept", True)),
        settings=settings, summary_rows=rows,
        title=f"gradfit: {table.target_name} from {table.source}",
    )
