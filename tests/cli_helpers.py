"""Helpers shared by the CLI tests: run ``gradfit`` in-process and read what it printed."""

from __future__ import annotations

from gradfit.cli import main


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``gradfit ARGV``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, *argv) -> str:
    """Run a command that must fail as a user error; returns its one-line message."""
    code, out, err = cli(capsys, *argv)
    assert code == 2, (code, out, err)
    assert err.startswith("gradfit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    return err
