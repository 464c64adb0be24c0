"""Which exceptions are the user's to fix, and the one line that tells them how."""

from __future__ import annotations

import contextlib
import re

from gradfit.exceptions import DivergenceError, InputError

__all__ = ["UserError", "user_message", "options_checked_by_core", "cli_words"]


class UserError(Exception):
    """A problem with the command's input or options (exit status 2, no traceback)."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# The library's messages name its keyword arguments; on the command line, name the flags.
_CLI_WORDS = (
    ("pass skip_bad_rows=True", "pass --skip-bad-rows"),
    ("pass drop_missing=True", "pass --drop-missing"),
    ("start afresh without resume", "start afresh without --resume"),
)


# name=value with a parameter's name (solver='nesterov', max_iter=1000, tol=1e-06)
_ASSIGNMENT = re.compile(r"\b([a-z][a-z0-9_]*)=('?)([^\s',;)]+)\2")


def cli_words(text: str) -> str:
    """``text`` with the library's keyword arguments written as the command's flags:
    ``solver='nesterov'`` -> ``--solver nesterov``, ``max_iter=1000`` -> ``--max-iter 1000``,
    ``fit_intercept=False`` -> ``--no-intercept`` (other words are left as they are)."""
    from gradfit.cli.options import FLAGS

    for library, flag in _CLI_WORDS:
        text = text.replace(library, flag)

    def flag(m):
        name, value = m.group(1), m.group(3)
        switch = FLAGS.get((name, value))
        if switch is not None:
            return switch
        return f"{FLAGS[name]} {value}" if name in FLAGS else m.group(0)

    text = _ASSIGNMENT.sub(flag, text.replace("loosen tol", "loosen --tol"))
    # a bare parameter name in prose ("increase max_iter"): the names with an underscore
    return re.sub(r"(?<![-\w])([a-z0-9]+(?:_[a-z0-9]+)+)\b",
                  lambda m: FLAGS.get(m.group(1), m.group(1)), text)


def user_message(exc: BaseException) -> str | None:
    """The one-line message for a user error, or None when ``exc`` is an internal error."""
    from gradfit.cli.options import UsageError

    if isinstance(exc, DivergenceError):
        fix = "fix: rerun with --learning-rate auto"
        if exc.safe_rate:
            fix += f", or a fixed --learning-rate below {exc.safe_rate:.3g}"
        return _one_line(f"{exc} ({fix})")
    if isinstance(exc, (UsageError, InputError, UserError)):
        return _one_line(cli_words(str(exc)))
    return None


@contextlib.contextmanager
def options_checked_by_core():
    """Turn the core's ValueErrors about bad option values into :class:`UserError`.

    Used only around building and fitting an estimator, where a ValueError means the
    options (or the data) were refused with a clear message.
    """
    try:
        yield
    except (InputError, DivergenceError):
        raise
    except ValueError as exc:
        raise UserError(str(exc) or type(exc).__name__) from exc
