"""``gradfit fit``: fit one model to a table and show, save or report it."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gradfit.cli import output
from gradfit.cli.errors import cli_words
from gradfit.cli.fitting import design_params, exact_result, fit_estimator, write_view_files
from gradfit.cli.options import (
    UsageError,
    add_data_options,
    add_design_options,
    add_estimator_options,
    add_stream_options,
    estimator_params,
)

__all__ = ["add_parser", "run", "fit_record", "summary_rows"]

EXAMPLES = """\
examples:
  gradfit fit data.csv --target y
  gradfit fit houses.parquet -t price -f area,rooms --solver adam --learning-rate 0.01
  gradfit fit data.csv -t y --penalty l2 --alpha 0.1 --save model.json
  gradfit fit sales.csv --formula 'units ~ price + C(region) + np.log(area)'
  gradfit fit sales.csv -t units --categorical auto --save model.json
  gradfit fit data.csv -t y --json > result.json
  gradfit fit data.csv -t y --report report.html --plots charts/
  cat data.csv | gradfit fit - -t y --quiet
  gradfit fit 'data/*.parquet' -t y --checkpoint run.ckpt     streamed, resumable
  gradfit fit 'data/*.parquet' -t y --checkpoint run.ckpt --resume
  gradfit fit 'data/*.csv' -t y --skip-bad-rows --weight w --solver exact
  gradfit fit 'data/*.parquet' -t y --dask local
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``fit`` on the subcommand action."""
    p = commands.add_parser(
        "fit", help="fit a linear model to a table by gradient descent",
        description="Fit y = X w + b to a CSV or Parquet table (or to many files, streamed "
                    "block by block, or on a Dask cluster) and print the coefficients, "
                    "the objective, R², the iterations and why the fit stopped.",
        epilog=EXAMPLES,
    )
    add_data_options(p, many=True, target_required=False)
    add_design_options(p)
    add_stream_options(p)
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
    digits = certified_digits(est)
    coef_digits = digits[1:] if est.fit_intercept else digits
    rows = [(name, output.num(c, 10, g))
            for name, c, g in zip(table.feature_names, est.coef_, coef_digits)]
    design = getattr(table, "design", None)
    label = "Intercept" if design is not None and design.kind == "formula" else "(intercept)"
    rows.append((label, output.num(float(np.asarray(est.intercept_)), 10,
                                   digits[0] if est.fit_intercept else None)))
    known = digits[np.isfinite(digits)]
    rows += [
        ("certified", (f"{int(known.min())}" + ("" if known.min() == known.max() else
                                                f" to {int(known.max())}")
                       + " significant digits") if known.size
         else "no digits: the certificate bounds no coefficient (no curvature known)"),
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


def certified_digits(est) -> np.ndarray:
    """The significant digits the fit's certificate supports per parameter, intercept first
    (NaN: not bounded); see ``gradfit.solvers.certificate.parameter_digits``."""
    from gradfit.solvers.certificate import parameter_digits

    return parameter_digits(getattr(est, "certificate_", None), np.size(est.coef_),
                            est.fit_intercept)


def _whole(values) -> list:
    return [None if not np.isfinite(v) else int(v) for v in values]


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
        "coef_digits": _whole(certified_digits(est)[1 if est.fit_intercept else 0:]),
        "intercept_digits": (_whole(certified_digits(est)[:1])[0] if est.fit_intercept
                             else None),
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
    :func:`gradfit.stats.results.summarize` at the fitted parameters (the same statistics).
    Returns None when no summary can be made (the reason is in ``est.cli_warnings_``).
    """
    import inspect

    names, target = list(table.feature_names), table.target_name
    fn = getattr(est, "summary", None)
    try:
        if fn is not None and {"feature_names", "target_name"} <= set(
                inspect.signature(fn).parameters):
            return fn(table.X, table.y, feature_names=names, target_name=target)
        from gradfit.stats.results import summarize

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
    """Run ``gradfit fit``: in memory, streamed from the files, or on Dask (see
    :func:`gradfit.cli.streaming.choose`)."""
    from gradfit.cli import streaming

    check_design_options(args)
    plan = streaming.choose(args)
    show_progress = not (args.quiet or args.json) and output.is_interactive()
    if plan.note and not args.quiet and not args.json:
        print(f"gradfit: note: {plan.note}", file=sys.stderr)
    if plan.mode == "memory":
        return _finish(args, _fit_in_memory(args, show_progress))
    if plan.mode == "dask" and (args.formula or args.categorical):
        flag = "--formula" if args.formula else "--categorical"
        raise UsageError(f"{flag} is not available with --dask; fit the files streamed "
                         "(leave out --dask) or in memory")
    try:
        if plan.mode == "dask":
            fitted = streaming.fit_on_dask(args, estimator_params(args), plan,
                                           show=show_progress)
        else:
            fitted = streaming.fit_files_streamed(args, estimator_params(args), plan,
                                                  show=show_progress)
    except KeyboardInterrupt:
        print(f"gradfit: {_interrupted(args)}", file=sys.stderr)
        return 130
    return _finish(args, fitted)


def check_design_options(args) -> None:
    """A target (-t) or a formula, not both; the formula names its own columns."""
    formula = getattr(args, "formula", None)
    if formula is None:
        if args.target is None:
            raise UsageError("the target is required: -t COL, or a formula such as --formula "
                             "'y ~ x1 + x2'")
        return
    clash = [flag for attr, flag in (("target", "-t"), ("features", "--features"),
                                     ("drop", "--drop"), ("categorical", "--categorical"))
             if getattr(args, attr, None) is not None]
    if clash:
        raise UsageError(f"--formula names the target and the terms: leave out {clash[0]}")


def _interrupted(args) -> str:
    """The one line shown when Ctrl-C stops a streamed fit."""
    from gradfit.cli.streaming import checkpoint_epoch

    if not getattr(args, "checkpoint", None):
        return ("interrupted (a long fit can be resumed when it runs with --checkpoint PATH)"
                if not getattr(args, "dask", None) else "interrupted")
    epoch = checkpoint_epoch(args.checkpoint)
    if epoch is None:
        return (f"interrupted before the first checkpoint was written to {args.checkpoint}; "
                "rerun the same command to start again")
    return (f"interrupted; the checkpoint of epoch {epoch} is in {args.checkpoint}: rerun the "
            "same command with --resume to continue from it")


def _fit_in_memory(args, show_progress: bool):
    """The whole table in memory: read_table + GDRegressor (the ``Fitted`` fields)."""
    from types import SimpleNamespace

    from gradfit.io import read_table, train_data_hash

    table = read_table(args.data, target=args.target, features=args.features,
                       drop_missing=args.drop_missing, sep=args.sep, drop=args.drop,
                       formula=args.formula, categorical=args.categorical)
    params = design_params(estimator_params(args), table.design)
    with output.FitProgress() as progress:
        est, seconds = fit_estimator(table.X, table.y, params,
                                     callback=progress if show_progress else None)
    if table.design is not None:
        est.design_ = table.design
    r2 = float(est.score(table.X, table.y))
    return SimpleNamespace(
        table=table, est=est, seconds=seconds, r2=r2,
        train_hash=train_data_hash(table.X, table.y) if args.save else None,
        summary=_summary(est, table) if args.summary else None, exact=None, stream=None,
        rows=[], warnings=list(getattr(est, "cli_warnings_", [])), in_memory=True,
        notes=list(table.notes))


def _finish(args, fitted) -> int:
    """Show, save and report a fit (in memory, streamed or on Dask)."""
    from gradfit.io import save_model

    table, est, r2, seconds = fitted.table, fitted.est, fitted.r2, fitted.seconds
    record = fit_record(table, est, r2, seconds)
    record["stream"] = fitted.stream
    rows = summary_rows(table, est, r2, seconds)
    if fitted.rows:
        rows[-1:-1] = fitted.rows  # before the time
    notes = []
    stream = fitted.stream or {}
    if stream.get("skipped_rows"):
        examples = "; ".join(stream.get("skipped_examples") or [])
        fitted.warnings.insert(0, f"skipped {stream['skipped_rows']} malformed row(s)"
                               + (f", the first at {examples}" if examples else ""))
    if args.save:
        path = save_model(args.save, est, target_name=table.target_name,
                          train_hash=fitted.train_hash, feature_names=table.feature_names,
                          n_train_rows=table.n_rows)
        record["files"]["model"] = str(path)
        notes.append(f"saved the model to {path}")
    if args.report or args.plots:
        inference = fitted.summary
        if inference is None and args.report and getattr(fitted, "in_memory", False):
            inference = _summary(est, table)  # the report's statistical section
        view = _view(table, est, rows, record, exact=fitted.exact,
                     in_memory=getattr(fitted, "in_memory", False),
                     inference_text=None if inference is None else str(inference))
        files = write_view_files(view, report=args.report, plots=args.plots)
        record["files"].update(files)
        if files["report"]:
            notes.append(f"wrote the report to {files['report']}")
        if files["plots"]:
            notes.append(f"wrote {len(files['plots'])} charts to {args.plots}")
        if stream.get("sample_rows") is not None and stream["sample_rows"] < table.n_rows:
            notes.append(f"the charts show the first {stream['sample_rows']:,} of "
                         f"{table.n_rows:,} rows")
    summary = fitted.summary
    if summary is not None:
        record["summary"] = summary.to_dict() if hasattr(summary, "to_dict") else str(summary)
    if args.json:
        output.emit_json(record)
    else:
        _print(table, est, rows, summary, args)
    _tell(args, fitted, notes)
    return 0


def _tell(args, fitted, files_written) -> None:
    """On stderr (not with --quiet): what the column rules did, the fit's warnings, and
    (not with --json) the files written."""
    if args.quiet:
        return
    for message in getattr(fitted, "notes", []):
        print(f"gradfit: note: {message}", file=sys.stderr)
    for message in fitted.warnings:
        print(f"gradfit: warning: {cli_words(message)}", file=sys.stderr)
    if files_written and not args.json:
        err = output.stderr_console()
        for note in files_written:
            err.print(note, markup=False)


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


def _view(table, est, rows, record, *, exact=None, in_memory=True, inference_text=None):
    from gradfit.charts.view import FitView

    solver = record["solver"] or "gd"
    results = {solver: est.result_}
    exact_name = "exact"
    if solver == "exact":
        results = {"exact": est.result_}
    else:
        if in_memory:
            exact = exact_result(table.X, table.y, record["params"])
        if exact is not None:
            results["exact"] = exact
    settings = {k: v for k, v in record["params"].items() if v is not None}
    title = f"gradfit: {table.target_name} from {table.source}"
    if not in_memory and len(table.X) < table.n_rows:
        title += f" (charts from the first {len(table.X):,} of {table.n_rows:,} rows)"
    return FitView(
        X=table.X, y=table.y, feature_names=list(table.feature_names),
        target_name=table.target_name, results=results, exact_name=exact_name,
        sample_weight=None if in_memory else table.sample_weight,
        fit_intercept=bool(record["params"].get("fit_intercept", True)),
        settings=settings, summary_rows=rows, title=title, inference_text=inference_text,
    )
