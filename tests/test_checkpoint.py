"""Checkpoints: the loop's state saved after each epoch (JSON + .npz, no pickle), written
crash-safely; a resumed fit ends at exactly the coefficients of the uninterrupted one, even
after the process was killed (SIGKILL) mid-fit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from gradfit.exceptions import InputError
from gradfit.fitting.checkpoint import Checkpointer, LoopState, load_checkpoint, save_checkpoint
from gradfit.fitting.files import fit_files
from gradfit.solvers.optimizers import adam, nesterov

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N = 300


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, 3)) * [1.0, 10.0, 0.1] + [1.0, 5.0, -2.0]
    y = X @ [2.0, -0.5, 8.0] + 1.0 + 0.5 * rng.standard_normal(N)
    path = tmp_path_factory.mktemp("ckpt") / "data.csv"
    pcsv.write_csv(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y,
                             "w": rng.uniform(0.5, 1.5, N)}), path)
    return path


def _same(a, b):
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.intercept == b.intercept
    assert a.n_iter == b.n_iter and a.stop_reason == b.stop_reason
    np.testing.assert_array_equal(a.history.objective, b.history.objective)
    np.testing.assert_array_equal(a.history.coef, b.history.coef)


class Crash(Exception):
    pass


def _crash_at(epoch):
    def callback(info):
        if info["epoch"] == epoch:
            raise Crash

    return callback


CONFIGS = [  # full batches standardized, not whitened: enough epochs to crash in
    dict(solver="gd", standardize=True),
    dict(solver="nesterov", penalty="l1", alpha=0.01, max_iter=60),
    dict(solver="gd", learning_rate="backtracking", max_iter=30, standardize=True),
    dict(solver="momentum", batch_size=16, max_iter=12, random_state=4),
    dict(solver="adam", batch_size=25, max_iter=12, random_state=5, batch_rows=16,
         buffer_rows=64),
]


@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "-".join(map(str, p.values())))
def test_resume_after_a_crash_is_bit_identical(csv_file, tmp_path, params):
    path = tmp_path / "fit.ckpt"
    whole = fit_files(csv_file, "y", weight="w", **params)
    with pytest.raises(Crash):
        fit_files(csv_file, "y", weight="w", checkpoint=path, callback=_crash_at(6), **params)
    assert json.loads(path.read_text())["epoch"] == 5
    resumed = fit_files(csv_file, "y", weight="w", checkpoint=path, resume=True, **params)
    assert resumed.info["resumed_from_epoch"] == 5
    _same(resumed, whole)


def test_killed_process_resumes_bit_identically(csv_file, tmp_path):
    """A fit in a child process is SIGKILLed mid-fit; resuming from its last checkpoint ends
    at the coefficients of the uninterrupted run."""
    path = tmp_path / "fit.ckpt"
    params = dict(solver="adam", batch_size=20, max_iter=40, tol=0.0, n_iter_no_change=40,
                  random_state=11)
    code = textwrap.dedent(f"""
        import time
        from gradfit.fitting.files import fit_files
        fit_files({str(csv_file)!r}, "y", checkpoint={str(path)!r},
                  callback=lambda info: time.sleep(0.1), **{params!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        epoch = None
        while time.monotonic() < deadline and child.poll() is None:
            try:
                epoch = json.loads(path.read_text())["epoch"]
            except (OSError, ValueError):
                epoch = None
            if epoch is not None and epoch >= 3:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the fit ended before it could be killed"
    killed_at = json.loads(path.read_text())["epoch"]
    assert 3 <= killed_at < params["max_iter"] - 1
    resumed = fit_files(csv_file, "y", checkpoint=path, resume=True, **params)
    assert resumed.info["resumed_from_epoch"] >= killed_at
    _same(resumed, fit_files(csv_file, "y", **params))


def test_file_truncated_mid_fit_keeps_the_last_checkpoint(csv_file, tmp_path):
    data = tmp_path / "d.csv"
    original = csv_file.read_bytes()
    data.write_bytes(original)
    path = tmp_path / "fit.ckpt"
    params = dict(solver="momentum", batch_size=32, max_iter=10, random_state=2)

    def truncate(info):
        if info["epoch"] == 4:
            data.write_bytes(original[: len(original) // 2])

    with pytest.raises(InputError, match="changed during the fit"):
        fit_files(data, "y", checkpoint=path, callback=truncate, **params)
    assert json.loads(path.read_text())["epoch"] == 4  # the last epoch done on good data
    data.write_bytes(original)  # restored (a new modification time: still the same data)
    resumed = fit_files(data, "y", checkpoint=path, resume=True, **params)
    _same(resumed, fit_files(csv_file, "y", **params))


def test_resume_refuses_other_parameters_or_data(csv_file, tmp_path):
    path = tmp_path / "fit.ckpt"
    with pytest.raises(Crash):
        fit_files(csv_file, "y", solver="gd", standardize=True, checkpoint=path,
                  callback=_crash_at(3))
    with pytest.raises(InputError, match=r"written for another fit .*alpha: 0.0 in the "
                                         r"checkpoint, 0.5 now"):
        fit_files(csv_file, "y", solver="gd", standardize=True, penalty="l2", alpha=0.5,
                  checkpoint=path, resume=True)
    other = tmp_path / "other.csv"
    other.write_bytes(csv_file.read_bytes() + b"1,2,3,4,1\n")
    with pytest.raises(InputError, match=r"written for another fit .*data"):
        fit_files(other, "y", solver="gd", standardize=True, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="checkpoints cover the first-order solvers"):
        fit_files(csv_file, "y", solver="lbfgs", checkpoint=path)


def test_resume_without_a_checkpoint_starts_afresh(csv_file, tmp_path):
    res = fit_files(csv_file, "y", solver="nesterov", checkpoint=tmp_path / "new.ckpt",
                    resume=True)
    assert res.info["resumed_from_epoch"] is None
    _same(res, fit_files(csv_file, "y", solver="nesterov"))


def _state(epoch=3):
    from gradfit.model.result import History

    rng = np.random.default_rng(0)
    P = rng.standard_normal((4, 1))
    hist = History(4)
    for e in range(epoch + 1):  # enough records to thin: a stride and an off-stride tail
        hist.append(e, 1.0 / (e + 1), 0.5, 0.1, 0.01 * e, P[:3] * e, P[3] * e)
    snap = dict(P=P, state=adam().init(P)._replace(t=7, m=P * 2), f=1.5, g=P / 3,
                f_start=9.0, lr=0.1, step_ref=0.1, G0=2.0, history=hist, avg=P + 1, n_avg=5,
                best_val=np.inf, best_P=None, no_change=2, best_f=1.25, best_G=0.5,
                epoch=epoch, info={"line_search_trials": 3, "restarts": 0},
                rng_state=rng.bit_generator.state, elapsed=1.25, extra_counter=4)
    return snap


def test_save_and_load_round_trip(tmp_path):
    snap = _state(epoch=9)
    path = tmp_path / "c.json"
    save_checkpoint(path, snap, meta={"who": "test"}, arrays={"mu": np.arange(3.0)})
    state, meta, extra = load_checkpoint(path)
    assert meta == {"who": "test"} and np.array_equal(extra["mu"], np.arange(3.0))
    back = state.bind(adam()).to_dict()
    assert set(snap) <= set(back)
    for key, value in snap.items():
        if key == "history":
            for name in ("epoch", "objective", "grad_norm", "lr", "time", "coef", "intercept"):
                np.testing.assert_array_equal(getattr(back[key], name), getattr(value, name))
            assert back[key].stride == value.stride
        elif key == "state":
            assert type(back[key]) is type(value) and back[key].t == 7
            np.testing.assert_array_equal(back[key].m, value.m)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back[key], value)
        else:
            assert back[key] == value and type(back[key]) is type(value), key
    with pytest.raises(InputError, match="another optimizer"):
        load_checkpoint(path)[0].bind(nesterov())


def test_writes_are_crash_safe_and_tidy(tmp_path, monkeypatch):
    path = tmp_path / "c.json"
    saver = Checkpointer(path, meta={}, every=2)
    saver(_state(epoch=3))  # not a multiple of `every`: nothing written
    assert not path.exists()
    saver(_state(epoch=4))
    saver(_state(epoch=6))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.json.000006.npz"]
    real_replace = os.replace

    def dies_on_json(src, dst):  # the process dies between the arrays and the JSON
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_on_json)
    with pytest.raises(KeyboardInterrupt):
        saver(_state(epoch=8))
    monkeypatch.setattr(os, "replace", real_replace)
    state, _, _ = load_checkpoint(path)  # the previous checkpoint is whole
    assert state.epoch == 6
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(InputError, match="not a gradfit checkpoint"):
        (tmp_path / "x.json").write_text("{}")
        load_checkpoint(tmp_path / "x.json")
    assert isinstance(LoopState.from_engine(_state()), LoopState)
