"""Printing: rich tables on stdout, JSON, notes on stderr, and the fit progress bar."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

__all__ = [
    "stdout_console",
    "stderr_console",
    "emit_json",
    "jsonable",
    "num",
    "key_value_table",
    "FitProgress",
    "StreamProgress",
    "status",
    "human_bytes",
    "is_interactive",
]


def stdout_console():
    """A rich Console on the current ``sys.stdout`` (no markup guessing, no highlighting)."""
    from rich.console import Console

    width = None
    if not getattr(sys.stdout, "isatty", lambda: False)() and "COLUMNS" not in os.environ:
        width = 120  # piped: wide enough that tables are not squeezed to 80 columns
    return Console(file=sys.stdout, highlight=False, emoji=False, width=width)


def stderr_console():
    """A rich Console on the current ``sys.stderr``."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, emoji=False)


def is_interactive() -> bool:
    """Whether both stdout and stderr are terminals (progress bars are then shown)."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)()
                and getattr(sys.stderr, "isatty", lambda: False)())


def jsonable(value):
    """Plain JSON data: numpy unwrapped, non-finite floats as null, paths as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def emit_json(record: dict) -> None:
    """Print ``record`` as indented JSON on stdout (floats round-trip exactly)."""
    sys.stdout.write(json.dumps(jsonable(record), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def num(value, digits: int = 8, certified=None) -> str:
    """A number for a table: ``digits`` significant digits, '—' for None / NaN; with
    ``certified`` (the digits the fit's optimality certificate supports; NaN or None: not
    bounded) no more than those, and '~' before a number with none certified."""
    if certified is not None and math.isfinite(certified) and value is not None:
        text = num(value, max(1, min(digits, int(certified))))
        return "~" + text if certified < 1 else text
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "—"
    return f"{value:.{digits}g}"


def key_value_table(rows, title: str | None = None):
    """A two-column rich Table of (name, value) strings, shown literally (no markup)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(str(key)), Text(str(value)))
    return table


class FitProgress:
    """A fit callback that shows a rich progress bar on stderr once a fit runs long.

    Columns: epoch / max_iter, a bar, the objective, then ``columns`` (rich templates over
    the task fields that ``_fields`` returns), then the time left.

    Nothing is drawn for the first ``delay`` seconds, so quick fits print only their
    result.  Use as a context manager so the bar is removed when the fit ends.

    Parameters
    ----------
    delay : float
        Seconds before the bar appears.
    label : str
    interval : float
        Least seconds (of fit time) between two redraws.
    """

    columns = ("lr {task.fields[lr]:.3g}", "{task.fields[speed]}")
    bar_width = 24

    def __init__(self, delay: float = 0.5, label: str = "fitting", interval: float = 0.05):
        self.delay = delay
        self.interval = interval
        self._last = -float("inf")
        self.label = label
        self._progress = None
        self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _start(self, info: dict) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"{self.label} epoch"),
            MofNCompleteColumn(),
            BarColumn(bar_width=self.bar_width),
            TextColumn("objective {task.fields[objective]:.6g}"),
            *(TextColumn(text) for text in self.columns),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self._progress.start()
        total = int(info.get("max_iter") or 0) or None
        self._task = self._progress.add_task(self.label, total=total, **self._fields(info))

    @staticmethod
    def _fields(info: dict) -> dict:
        elapsed = float(info.get("elapsed", 0.0))
        epoch = int(info.get("epoch", 0))
        rate = epoch / elapsed if elapsed > 0 else 0.0
        lr = info.get("lr")
        return {"objective": float(info.get("objective", float("nan"))),
                "lr": float(lr) if lr is not None else float("nan"),
                "speed": f"{rate:,.0f} epochs/s"}

    def __call__(self, info: dict) -> bool:
        """Called by the fit once per epoch with epoch, max_iter, objective, lr, elapsed."""
        elapsed = float(info.get("elapsed", 0.0))
        if self._progress is None:
            if elapsed < self.delay:
                return True
            self._start(info)
        elif elapsed - self._last < self.interval:
            return True  # redraws are throttled: the fit's own speed comes first
        self._last = elapsed
        self._progress.update(self._task, completed=int(info.get("epoch", 0)),
                              **self._fields(info))
        return True

    def close(self) -> None:
        """Remove the bar (if it was shown)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def human_bytes(n) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as file managers show them)."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover - the loop returns


class StreamProgress(FitProgress):
    """The progress bar of a streamed fit: epoch / max_iter, objective, rows and bytes read
    since the fit began, the reading rate and the time left.

    Parameters
    ----------
    read : callable () -> (rows, bytes or None)
        What the fit has read so far (e.g. passes made x rows and file bytes).
    delay, label, interval
        As for :class:`FitProgress`.
    """

    columns = ("{task.fields[volume]}", "{task.fields[speed]}")
    bar_width = 20

    def __init__(self, read, delay: float = 0.5, label: str = "fitting",
                 interval: float = 0.1):
        super().__init__(delay=delay, label=label, interval=interval)
        self.read = read

    def _fields(self, info: dict) -> dict:
        elapsed = float(info.get("elapsed", 0.0))
        rows, nbytes = self.read()
        volume = f"read {rows:,} rows" + (f", {human_bytes(nbytes)}" if nbytes is not None else "")
        if elapsed > 0:
            speed = f"{rows / elapsed:,.0f} rows/s" + (
                f", {human_bytes(nbytes / elapsed)}/s" if nbytes is not None else "")
        else:
            speed = ""
        return {"objective": float(info.get("objective", float("nan"))),
                "volume": volume, "speed": speed}


class _NoStatus:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def status(message: str, show: bool):
    """A transient spinner with ``message`` on stderr while a block runs (when ``show``)."""
    if not show:
        return _NoStatus()
    return stderr_console().status(message)
