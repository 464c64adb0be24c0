"""The ``gradfit`` command line: ``fit``, ``predict``, ``compare`` and ``demo``.

User errors (bad files, unknown columns, bad values, bad options, a diverging fit) print
one line, ``gradfit: error: ...``, on stderr and exit with status 2.  See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main", "build_parser"]

EXAMPLES = """\
examples:
  gradfit fit data.csv --target y                 fit and print the coefficients
  gradfit fit data.csv -t y --save model.json     ... and save the model
  gradfit fit 'data/*.parquet' -t y               stream many files (or --dask local)
  gradfit predict model.json new.csv > out.csv    apply a saved model
  gradfit compare data.csv -t y                   race the solvers and scikit-learn
  gradfit demo                                    the tutorial, with an HTML report

'gradfit COMMAND --help' shows every option of a command.
"""


def build_parser():
    """The argparse parser of the whole command line."""
    from gradfit._version import __version__
    from gradfit.cli import cmd_compare, cmd_demo, cmd_fit, cmd_predict
    from gradfit.cli.options import Parser

    parser = Parser(
        prog="gradfit",
        description="Fit linear regression by gradient descent.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", "-V", action="version", version=f"gradfit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (cmd_fit, cmd_predict, cmd_compare, cmd_demo):
        module.add_parser(commands)
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"gradfit: error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 user error, 1 internal).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):  # answered before any command module is imported
        from gradfit._version import __version__

        print(f"gradfit {__version__}")
        return 0
    from gradfit.cli.errors import user_message

    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else _fail(exc.code)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("gradfit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `gradfit predict ... | head`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        return _fail(message)
