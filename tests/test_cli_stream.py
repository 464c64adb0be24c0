"""``gradfit fit`` on streamed data: globs, folders, --stream, --skip-bad-rows, checkpoints
and Ctrl-C, errors, and --dask local (in-process via main(), plus one interrupted
subprocess)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import gradfit
from cli_helpers import cli, user_error
from gradfit.cli import main

N, PARTS = 3000, 3
FEATURES = ["a", "b", "c"]


def fit_json(capsys, *argv) -> dict:
    code, out, err = cli(capsys, "fit", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as 3 CSV files (a glob), 3 Parquet files (a folder) and one CSV."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, 3)) * [1.0, 3.0, 0.5] + [2.0, 0.0, -1.0]
    y = X @ [1.5, -2.0, 0.7] + 4.0 + rng.standard_normal(N)
    w = rng.uniform(0.5, 2.0, N)
    frame = pd.DataFrame(X, columns=FEATURES).assign(y=y)
    root = tmp_path_factory.mktemp("stream")
    (root / "csv").mkdir()
    (root / "pq").mkdir()
    for i, part in enumerate(np.array_split(np.arange(N), PARTS)):
        frame.iloc[part].to_csv(root / "csv" / f"part{i}.csv", index=False,
                                float_format="%.17g")
        frame.iloc[part].to_parquet(root / "pq" / f"part{i}.parquet", index=False)
    frame.to_csv(root / "all.csv", index=False, float_format="%.17g")
    frame.assign(w=w).to_csv(root / "weighted.csv", index=False, float_format="%.17g")
    return root, X, y, w


# ------------------------------------------------------------------ equal to in memory


@pytest.mark.parametrize("solver, tol", [("exact", 1e-10), ("nesterov", 1e-8)])
@pytest.mark.parametrize("layout", ["csv glob", "parquet folder"])
def test_many_files_equal_the_in_memory_fit(capsys, data, layout, solver, tol):
    root, X, y, _ = data
    source = root / "csv" / "*.csv" if layout == "csv glob" else root / "pq"
    rec = fit_json(capsys, source, "-t", "y", "--solver", solver)
    ref = gradfit.fit(X, y, solver=solver)
    np.testing.assert_allclose(rec["coef"], ref.coef, rtol=tol, atol=tol)
    assert abs(rec["intercept"] - ref.intercept) <= tol * max(1.0, abs(ref.intercept))
    assert rec["feature_names"] == FEATURES and rec["data"]["n_rows"] == N
    assert rec["stream"]["mode"] == "files" and rec["stream"]["n_files"] == PARTS
    r2 = 1 - np.sum((y - X @ ref.coef - ref.intercept) ** 2) / np.sum((y - y.mean()) ** 2)
    assert rec["r2"] == pytest.approx(r2, rel=1e-10)


def test_stream_one_file_equals_the_in_memory_cli(capsys, data, tmp_path):
    root, *_ = data
    path = root / "all.csv"
    mem = fit_json(capsys, path, "-t", "y", "--save", tmp_path / "mem.json")
    streamed = fit_json(capsys, path, "-t", "y", "--stream", "--save", tmp_path / "str.json")
    assert mem["stream"] is None and streamed["stream"]["n_files"] == 1
    np.testing.assert_allclose(streamed["coef"], mem["coef"], rtol=1e-12, atol=0)
    assert streamed["n_iter"] == mem["n_iter"] and streamed["data"] == mem["data"]
    saved = [json.loads((tmp_path / f).read_text()) for f in ("mem.json", "str.json")]
    assert saved[0]["train_data_sha256"] == saved[1]["train_data_sha256"]  # same rows
    assert saved[1]["feature_names"] == FEATURES and saved[1]["n_train_rows"] == N
    # the table prints for streamed fits too
    code, out, err = cli(capsys, "fit", path, "-t", "y", "--stream", "--solver", "exact")
    assert code == 0 and "(intercept)" in out and "streamed" in out and err == ""


def test_weight_column(capsys, data):
    root, X, y, w = data
    rec = fit_json(capsys, root / "weighted.csv", "-t", "y", "-f", "a,b,c", "--weight", "w",
                   "--solver", "exact")
    ref = gradfit.fit(X, y, w, solver="exact")
    np.testing.assert_allclose(rec["coef"], ref.coef, rtol=1e-10)
    assert rec["stream"]["weight"] == "w"


def test_a_big_file_streams_by_itself(capsys, data, monkeypatch):
    from gradfit.cli import streaming

    root, *_ = data
    monkeypatch.setattr(streaming, "ram_bytes", lambda: 1000)  # every file is "big"
    code, out, err = cli(capsys, "fit", root / "all.csv", "-t", "y", "--json")
    assert code == 0 and json.loads(out)["stream"]["mode"] == "files"
    code, out, err = cli(capsys, "fit", root / "all.csv", "-t", "y")
    assert "streaming it from disk" in err and "--in-memory" in err
    rec = fit_json(capsys, root / "all.csv", "-t", "y", "--in-memory")
    assert rec["stream"] is None
    assert streaming.memory_estimate(root / "pq" / "part0.parquet") > 0


def test_summary_and_report_sample(capsys, data, monkeypatch):
    from gradfit.cli import cmd_fit, streaming

    root, X, y, _ = data
    seen = {}

    def fake_write(view, report=None, plots=None):
        seen["view"] = view
        return {"report": str(report), "plots": []}

    monkeypatch.setattr(cmd_fit, "write_view_files", fake_write)
    monkeypatch.setattr(streaming, "SAMPLE_ROWS", 500)
    rec = fit_json(capsys, root / "pq", "-t", "y", "--summary", "--report", "r.html")
    view = seen["view"]
    assert view.X.shape == (500, 3) and np.array_equal(view.X, X[:500])
    assert "first 500 of 3,000 rows" in view.title and "exact" in view.results
    assert rec["stream"]["sample_rows"] == 500
    mem = fit_json(capsys, root / "all.csv", "-t", "y", "--summary")
    for a, b in zip(rec["summary"]["coefficients"], mem["summary"]["coefficients"]):
        assert a["std_err"] == pytest.approx(b["std_err"], rel=1e-8)


# ------------------------------------------------------------------ bad rows and errors


@pytest.fixture()
def bad_csvs(data, tmp_path):
    root, *_ = data
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(2):
        lines = (root / "csv" / f"part{i}.csv").read_text().splitlines()
        if i == 1:
            lines[4] = "1.0,2.0,oops,3.0"  # line 5: a value that is not a number
            lines[8] = "1.0,2.0"  # line 9: too few fields
        (folder / f"part{i}.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_skip_bad_rows(capsys, bad_csvs):
    code, out, err = cli(capsys, "fit", bad_csvs / "*.csv", "-t", "y", "--skip-bad-rows",
                         "--json")
    assert code == 0
    rec = json.loads(out)
    assert rec["stream"]["skipped_rows"] == 2 and rec["data"]["n_rows"] == 2 * N // 3 - 2
    assert "skipped 2 malformed row(s)" in err and "line 5 of" in err and "line 9 of" in err


def test_malformed_row_is_a_one_line_error(capsys, bad_csvs, data):
    err = user_error(capsys, "fit", bad_csvs / "*.csv", "-t", "y")
    assert "part1.csv" in err and "line 9" in err and "'c'" in err and "--skip-bad-rows" in err
    root, *_ = data
    text = (root / "csv" / "part0.csv").read_text().splitlines()
    text[3] = "1.0,2.0,x,3.0"
    (bad_csvs / "part1.csv").write_text("\n".join(text) + "\n")
    err = user_error(capsys, "fit", bad_csvs, "-t", "y")
    assert "'x'" in err and "column 'c'" in err and "line 4 of" in err and "part1.csv" in err
    (bad_csvs / "part1.csv").write_text("A,b,c,y\n1,2,3,4\n")
    err = user_error(capsys, "fit", bad_csvs, "-t", "y")
    assert "header" in err and "'A'" in err


def test_usage_errors(capsys, data, monkeypatch):
    root, *_ = data
    glob = root / "csv" / "*.csv"
    assert "--resume needs --checkpoint" in user_error(capsys, "fit", glob, "-t", "y",
                                                       "--resume")
    assert "--in-memory reads one file" in user_error(capsys, "fit", glob, "-t", "y",
                                                      "--in-memory")
    assert "leave out --in-memory" in user_error(capsys, "fit", root / "all.csv", "-t", "y",
                                                 "--in-memory", "--skip-bad-rows")
    assert "not available with --dask" in user_error(capsys, "fit", glob, "-t", "y", "--dask",
                                                     "local", "--checkpoint", "c")
    assert "no files match" in user_error(capsys, "fit", root / "nope" / "*.csv", "-t", "y")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,y\n1,2\n")))
    assert "standard input" in user_error(capsys, "fit", "-", "-t", "y", "--stream")
    assert "no epochs to checkpoint" in user_error(capsys, "fit", glob, "-t", "y", "--solver",
                                                   "exact", "--checkpoint", root / "c.json")


def test_missing_dask_extra(capsys, data, monkeypatch):
    root, *_ = data
    monkeypatch.setitem(sys.modules, "gradfit.fitting.dask", None)  # import fails
    err = user_error(capsys, "fit", root / "pq", "-t", "y", "--dask", "local")
    assert "pip install 'gradfit[dask]'" in err


# ------------------------------------------------------------------ checkpoints and Ctrl-C

# long enough that the interrupt lands mid-fit even when this machine is busy
ITER = ["--solver", "gd", "--learning-rate", "0.001", "--max-iter", "1500", "--tol", "0"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_ctrl_c_then_resume_gives_the_same_coefficients(capsys, data, tmp_path):
    root, *_ = data
    source = root / "pq" / "part0.parquet"
    ckpt = tmp_path / "run.ckpt"
    argv = ["fit", str(source), "-t", "y", *ITER, "--checkpoint", str(ckpt), "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from gradfit.cli import main; sys.exit(main())",
         *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert str(ckpt) in err and "--resume" in err and "epoch" in err
    epoch = json.loads(ckpt.read_text())["epoch"]
    assert 1 <= epoch < 1500

    # (checkpoint_every is not part of the fit: the resumed run may write fewer of them)
    resumed = fit_json(capsys, *argv[1:-1], "--resume", "--checkpoint-every", "1000")
    assert resumed["stream"]["resumed_from_epoch"] == epoch
    straight = fit_json(capsys, source, "-t", "y", *ITER, "--stream")
    assert resumed["coef"] == straight["coef"] and resumed["n_iter"] == straight["n_iter"] == 1500
    assert resumed["intercept"] == straight["intercept"]


def test_interrupted_message(monkeypatch, capsys, data, tmp_path):
    from gradfit.cli import streaming

    root, *_ = data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(streaming, "fit_files_streamed", interrupted)
    code, out, err = cli(capsys, "fit", root / "pq", "-t", "y", "--checkpoint",
                         tmp_path / "none.ckpt")
    assert code == 130 and "before the first checkpoint" in err and err.count("\n") == 1
    code, out, err = cli(capsys, "fit", root / "pq", "-t", "y")
    assert code == 130 and "--checkpoint" in err


def test_stream_progress_fields(monkeypatch):
    from gradfit.cli import output

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with output.StreamProgress(lambda: (3000, 2_000_000), delay=0.0) as bar:
        assert bar({"epoch": 2, "max_iter": 10, "objective": 1.5, "elapsed": 0.5}) is True
        fields = bar._fields({"epoch": 2, "objective": 1.5, "elapsed": 0.5})
    assert fields["volume"] == "read 3,000 rows, 2 MB"
    assert fields["speed"] == "6,000 rows/s, 4 MB/s"
    assert bar._progress is None


# ------------------------------------------------------------------ dask


def test_dask_local(capsys, data):
    pytest.importorskip("dask", reason="the dask extra is not installed")
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    root, X, y, _ = data
    rec = fit_json(capsys, root / "pq" / "*.parquet", "-t", "y", "--solver", "exact",
                   "--dask", "local", "--dask-workers", "1")
    ref = gradfit.fit(X, y, solver="exact")
    np.testing.assert_allclose(rec["coef"], ref.coef, rtol=1e-10)
    assert rec["intercept"] == pytest.approx(ref.intercept, rel=1e-10)
    assert rec["stream"]["mode"] == "dask" and rec["data"]["n_rows"] == N
    assert rec["r2"] == pytest.approx(fit_json(capsys, root / "all.csv", "-t", "y",
                                               "--solver", "exact")["r2"], rel=1e-10)
    from distributed import default_client

    with pytest.raises(ValueError):
        default_client()  # the client (and its local cluster) was closed


def test_cache_flag_reuses_the_parsed_rows(tmp_path, capsys):
    """--cache DIR: the second run reads the binary cache, and gives the same numbers."""

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    y = X @ [1.5, -2.0] + 0.5 + 0.1 * rng.normal(size=300)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,y", comments="")
    runs = []
    for _ in range(2):
        rc = main(["fit", str(path), "--target", "y", "--cache", str(tmp_path / "c"), "--json",
                   "--quiet"])
        assert rc == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["stream"]["cache"] == "built"
    assert runs[0]["coef"] == runs[1]["coef"] and runs[0]["intercept"] == runs[1]["intercept"]
    assert runs[1]["stream"]["cache"] == "reused"
