"""``gradfit predict``: apply a saved model to a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradfit.cli.errors import UserError
from gradfit.cli.options import add_sep_option

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  gradfit fit train.csv --target price --save model.json
  gradfit predict model.json new.csv                 # CSV with a predicted_price column
  gradfit predict model.json new.csv -o scored.parquet
  gradfit predict model.json new.csv --prediction-only > predictions.csv
  cat new.csv | gradfit predict model.json -

Columns are matched by name: the data may hold extra columns, in any order.  A model
fitted with --formula or --categorical rebuilds its design (the same levels and
transforms); a level it did not see in training is an error.
"""


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``predict`` on the subcommand action."""
    p = commands.add_parser(
        "predict", help="apply a saved model to a table",
        description="Predict with a model saved by 'gradfit fit --save'. The output is the "
                    "input table plus a prediction column, as CSV on standard output "
                    "(or to -o; a .parquet name writes Parquet).",
        epilog=EXAMPLES,
    )
    p.add_argument("model", metavar="MODEL", help="a model file written by gradfit fit --save")
    p.add_argument("data", metavar="DATA",
                   help="CSV or Parquet file, or '-' for CSV on standard input")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write here instead of standard output (.parquet: Parquet)")
    p.add_argument("--prediction-only", action="store_true",
                   help="write only the prediction column")
    p.add_argument("--column", metavar="NAME",
                   help="name of the prediction column (default: predicted_<target>)")
    p.add_argument("--drop-missing", action="store_true",
                   help="drop rows with missing feature values instead of stopping")
    add_sep_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``gradfit predict``."""
    from gradfit.io import load_model, read_matrix

    model = load_model(args.model)
    frame, X, kept, _ = read_matrix(args.data, model.columns, drop_missing=args.drop_missing,
                                    required_by=f"the model {args.model}", sep=args.sep,
                                    design=model.design)
    pred = X @ model.coef + model.intercept
    name = args.column or f"predicted_{model.target_name}"
    if args.prediction_only:
        import pandas as pd

        out = pd.DataFrame({name: pred})
    else:
        if name in frame.columns:
            raise UserError(f"the data already has a column {name!r}: choose another "
                            "prediction column name with --column")
        out = frame.loc[kept].reset_index(drop=True)
        out[name] = pred
    _write(out, args.output)
    return 0


def _write(frame, target) -> None:
    if target is None:
        frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return
    path = Path(target)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
