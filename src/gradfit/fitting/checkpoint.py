"""Checkpoints of the training loop: save each epoch's state, resume bit-identically.

A checkpoint is two files, neither of them a pickle:

- ``<path>`` -- JSON: format and version, the epoch, every scalar of the loop's state (the
  objective, the step, counters, the random generator's state ...), the optimizer state's
  layout, and the caller's metadata (fit parameters, a fingerprint of the data ...);
- ``<path>.<epoch>.npz`` -- the arrays: the parameters ``P``, the last gradient, the
  optimizer's arrays (momentum, Adam's moments ...), the running average, the best
  parameters, the history, and the caller's arrays (standardization offsets ...).

Writing is crash-safe: the arrays go to a new file (temporary name, fsync, ``os.replace``),
then the JSON is replaced the same way, then older array files are removed.  A process
killed at any moment leaves a JSON that names a complete arrays file: the last checkpoint.

The loop's state is the :class:`~gradfit.solvers.state.LoopState` that
:func:`gradfit.solvers.engine.train` hands to ``LoopConfig.on_epoch_end`` and takes back as
``LoopConfig.resume_state``.
Resuming from it continues with the same parameters, optimizer state, step count, random
generator state, averages and stopping counters, so the resumed run ends at the same
coefficients, bit for bit, as the run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from gradfit.exceptions import InputError
from gradfit.model.result import History
from gradfit.solvers.state import LoopState

__all__ = ["FORMAT", "VERSION", "Checkpointer", "LoopState", "check_compatible",
           "load_checkpoint", "save_checkpoint"]

FORMAT = "gradfit-checkpoint"
VERSION = 1


# --------------------------------------------------------------------------- writing


def _arrays_path(path: Path, epoch: int) -> Path:
    return path.with_name(f"{path.name}.{epoch:06d}.npz")


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(file)`` to a temporary file beside ``path``, fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _scalar(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def _opt_state_layout(state, arrays: dict) -> dict:
    """JSON layout of an optimizer state; its arrays go into ``arrays``."""
    names = list(getattr(state, "_fields", ()))
    out = {}
    for name in names:
        value = getattr(state, name)
        if isinstance(value, np.ndarray):
            arrays[f"state.{name}"] = value
            out[name] = {"array": f"state.{name}"}
        else:
            out[name] = {"value": _scalar(value), "int": isinstance(value, (int, np.integer))}
    return {"type": type(state).__name__, "fields": out}


def _history_arrays(hist: History, arrays: dict) -> dict:
    layout, parts = hist.to_state()
    arrays.update({f"history.{k}": v for k, v in parts.items()})
    return layout


def _history_from(layout: dict, arrays) -> History:
    parts = {k: arrays[f"history.{k}"] for k in ("epoch", "scalars", "coef", "intercept")}
    return History.from_state(layout, parts)


def save_checkpoint(path, state: LoopState | dict, meta: dict | None = None,
                    arrays: dict | None = None) -> Path:
    """Write a checkpoint (crash-safe; see the module docstring).

    Parameters
    ----------
    path : str or Path
        The JSON file; the arrays go to ``<path>.<epoch>.npz`` beside it.
    state : LoopState (what ``LoopConfig.on_epoch_end`` receives)
    meta : dict, optional
        JSON-able metadata kept with the state (fit parameters, data fingerprint ...).
    arrays : dict of str to ndarray, optional
        Extra arrays kept with the state (standardization offsets ...).

    Returns
    -------
    Path
        The arrays file written.
    """
    if isinstance(state, dict):
        state = LoopState.from_dict(state)
    path = Path(path)
    out = {f"extra.{k}": np.asarray(v) for k, v in (arrays or {}).items()}
    variables = {}
    for name, value in state.plain().items():
        if value is None:
            variables[name] = {"none": True}
        elif isinstance(value, np.ndarray):
            out[f"loop.{name}"] = value
            variables[name] = {"array": f"loop.{name}"}
        else:
            variables[name] = {"value": _scalar(value),
                               "int": isinstance(value, (int, np.integer))}
    record = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(state.epoch),
        "arrays_file": _arrays_path(path, state.epoch).name,
        "variables": variables,
        "state": _opt_state_layout(state.state, out),
        "history": _history_arrays(state.history, out),
        "info": {k: _scalar(v) for k, v in state.info.items()},
        "rng_state": state.rng_state,
        "extra_arrays": sorted(arrays or {}),
        "meta": meta or {},
    }
    out["epoch"] = np.array(state.epoch)
    target = _arrays_path(path, state.epoch)
    _atomic_write(target, lambda fh: np.savez(fh, **out))
    text = json.dumps(record, indent=1, sort_keys=True)
    _atomic_write(path, lambda fh: fh.write(text.encode()))
    _remove_stale(path, keep=target)
    return target


def _remove_stale(path: Path, keep: Path) -> None:
    pattern = re.compile(re.escape(path.name) + r"\.\d{6,}\.npz")
    for other in path.parent.iterdir():
        if other != keep and pattern.fullmatch(other.name):
            try:
                other.unlink()
            except OSError:
                pass


# --------------------------------------------------------------------------- reading


def load_checkpoint(path) -> tuple[LoopState, dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    state : LoopState
        Call ``state.bind(optimizer)`` before resuming from it.
    meta : dict
    arrays : dict
        The extra arrays given to :func:`save_checkpoint`.

    Raises
    ------
    InputError
        When the file is not a gradfit checkpoint, or its arrays file is missing or does not
        belong to it.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"no checkpoint at {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the checkpoint {path}: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"{path} is not a gradfit checkpoint")
    if record.get("version") != VERSION:
        raise InputError(f"{path} is a version {record.get('version')} checkpoint; this gradfit "
                         f"reads version {VERSION}")
    apath = path.with_name(record["arrays_file"])
    try:
        with np.load(apath, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the arrays of the checkpoint {path} ({apath.name}): "
                         f"{exc}") from None
    if int(arrays["epoch"]) != record["epoch"]:
        raise InputError(f"the arrays file {apath.name} does not belong to {path}")
    layout = record["state"]
    opt_fields = {name: _value(spec, arrays) for name, spec in layout["fields"].items()}
    values = {name: _value(spec, arrays) for name, spec in record["variables"].items()}
    names = {f.name for f in fields(LoopState)}
    state = LoopState(state={"type": layout["type"], "fields": opt_fields},
                      history=_history_from(record["history"], arrays),
                      info=dict(record["info"]), rng_state=record["rng_state"],
                      extra={k: v for k, v in values.items() if k not in names},
                      **{k: v for k, v in values.items() if k in names})
    extra = {k: arrays[f"extra.{k}"] for k in record["extra_arrays"]}
    return state, record["meta"], extra


def _value(spec: dict, arrays: dict):
    if spec.get("none"):
        return None
    if "array" in spec:
        return arrays[spec["array"]]
    return int(spec["value"]) if spec["int"] else float(spec["value"])


def check_compatible(path, saved: dict, current: dict) -> None:
    """Raise InputError when a checkpoint's metadata ``saved`` differs from ``current`` (the
    same keys compared: fit parameters, data fingerprint ...), naming what differs."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            inner = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            diffs += [f"{key}.{k}: {a.get(k)!r} in the checkpoint, {b.get(k)!r} now"
                      for k in inner[:4]]
        else:
            diffs.append(f"{key}: {a!r} in the checkpoint, {b!r} now")
    if diffs:
        raise InputError(f"the checkpoint {path} was written for another fit ("
                         + "; ".join(diffs[:4]) + "); resume with the same data and parameters, "
                         "or start afresh without resume")


class Checkpointer:
    """``LoopConfig.on_epoch_end`` that saves a checkpoint every ``every`` epochs.

    Parameters
    ----------
    path : str or Path
    meta : dict, optional
    arrays : dict, optional
        Passed to :func:`save_checkpoint` with each state.
    every : int, default 1
    """

    def __init__(self, path, meta: dict | None = None, arrays: dict | None = None,
                 every: int = 1):
        self.path = Path(path)
        self.meta, self.arrays = meta or {}, arrays or {}
        self.every = max(1, int(every))
        self.saved_epoch: int | None = None

    def __call__(self, state: LoopState) -> None:
        if isinstance(state, dict):
            state = LoopState.from_dict(state)
        if state.epoch % self.every == 0:
            save_checkpoint(self.path, state, self.meta, self.arrays)
            self.saved_epoch = int(state.epoch)
