"""The gradfit command line, end to end (in-process via main(), plus one real subprocess)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import cli, user_error
from gradfit.io import read_table


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A two-feature CSV with an id column, and its arrays."""
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                          "size": rng.uniform(10, 90, n), "rooms": rng.integers(1, 6, n)})
    frame["price"] = 3.0 * frame["size"] + 12.0 * frame["rooms"] + 40 + rng.normal(0, 5, n)
    path = tmp_path_factory.mktemp("cli") / "houses.csv"
    frame.to_csv(path, index=False)
    table = read_table(path, target="price", features=["size", "rooms"])  # C-ordered
    return path, table.X, table.y


def estimator(X, y, **params):
    import gradfit

    return gradfit.GDRegressor(**params).fit(X, y)


def decode_png(path: Path):
    from PIL import Image

    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels.std() > 5 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not blank


# ------------------------------------------------------------------ fit


def test_fit_json_equals_estimator(capsys, data):
    path, X, y = data
    code, out, err = cli(capsys, "fit", path, "--target", "price", "--features", "size,rooms",
                         "--json")
    assert code == 0 and err == ""
    rec = json.loads(out)
    est = estimator(X, y)
    assert rec["command"] == "fit" and rec["feature_names"] == ["size", "rooms"]
    assert rec["coef"] == est.coef_.tolist()
    assert rec["intercept"] == float(est.intercept_)
    assert rec["objective"] == est.objective_
    assert rec["r2"] == est.score(X, y)
    assert rec["n_iter"] == est.n_iter_ and rec["converged"] == est.converged_
    assert rec["stop_reason"] == est.stop_reason_
    assert rec["data"] == {"source": str(path), "target": "price", "features": ["size", "rooms"],
                           "n_rows": 120, "n_dropped": 0}
    assert rec["params"] == {k: v for k, v in est.get_params().items()} and rec["time_s"] >= 0
    assert rec["solver"] == est.get_params()["solver"]
    assert rec["files"] == {"model": None, "report": None, "plots": []}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_options_reach_the_estimator(capsys, data):
    path, X, y = data
    code, out, _ = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--solver",
                       "momentum", "--learning-rate", "0.05", "--max-iter", "40", "--momentum",
                       "0.5", "--penalty", "l2", "--alpha", "0.01", "--tol", "1e-9",
                       "--random-state", "3", "--standardize", "on", "--json")
    assert code == 0
    rec = json.loads(out)
    params = dict(solver="momentum", learning_rate=0.05, max_iter=40, momentum=0.5,
                  penalty="l2", alpha=0.01, tol=1e-9, random_state=3, standardize=True)
    est = estimator(X, y, **params)
    for k, v in params.items():
        assert rec["params"][k] == v
    assert rec["coef"] == est.coef_.tolist() and rec["objective"] == est.objective_
    assert rec["n_iter"] == est.n_iter_


def test_fit_flags(capsys, data):
    path, X, y = data
    code, out, _ = cli(capsys, "fit", path, "-t", "price", "-f", "size", "--no-intercept",
                       "--no-standardize", "--solver", "exact", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["intercept"] == 0.0
    assert rec["params"]["fit_intercept"] is False and rec["params"]["standardize"] is False
    np.testing.assert_allclose(rec["coef"], [X[:, 0] @ y / (X[:, 0] @ X[:, 0])], rtol=1e-12)


def test_fit_table(capsys, data):
    path, X, y = data
    code, out, err = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms")
    assert code == 0 and err == ""
    est = estimator(X, y)
    for text in ("size", "rooms", "(intercept)", "objective", "R²", "iterations", "converged",
                 "stopped because", "time", f"{est.coef_[0]:.10g}", f"{est.objective_:.10g}"):
        assert text in out, text


def test_fit_drop_missing(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2.1\n2,\n3,6.2\n,1\n4,7.9\n")
    code, out, _ = cli(capsys, "fit", path, "-t", "y", "--drop-missing", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["data"]["n_rows"] == 3 and rec["data"]["n_dropped"] == 2


def test_fit_summary(capsys, data):
    path, *_ = data
    code, out, _ = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--summary")
    assert code == 0 and "OLS Regression Results" in out and "std err" in out
    code, out, _ = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--summary",
                       "--json")
    rec = json.loads(out)
    names = [c["name"] for c in rec["summary"]["coefficients"]]
    assert code == 0 and names == ["intercept", "size", "rooms"]


def test_fit_quiet_prints_only_the_result(capsys, data, tmp_path):
    path, *_ = data
    code, out, err = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--quiet",
                         "--save", tmp_path / "m.json")
    assert code == 0 and err == "" and "coefficient" in out


def test_fit_stdin(capsys, monkeypatch, data):
    path, X, y = data
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    code, out, _ = cli(capsys, "fit", "-", "-t", "price", "-f", "size,rooms", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["data"]["source"] == "<stdin>"
    assert rec["coef"] == estimator(X, y).coef_.tolist()


def test_fit_report_and_plots(capsys, data, tmp_path):
    path, *_ = data
    report, plots = tmp_path / "out" / "report.html", tmp_path / "charts"
    code, out, err = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--report",
                         report, "--plots", plots, "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["files"]["report"] == str(report) and report.stat().st_size > 1000
    html = report.read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert "Statistical summary" in html and "Prob (F-statistic)" in html  # the inference
    pngs = [Path(p) for p in rec["files"]["plots"]]
    assert pngs and all(p.parent == plots and p.suffix == ".png" for p in pngs)
    for png in pngs:
        decode_png(png)


# ------------------------------------------------------------------ predict


def test_save_then_predict_matches_estimator(capsys, data, tmp_path):
    path, X, y = data
    model = tmp_path / "model.json"
    code, _, err = cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--save", model)
    assert code == 0 and "saved the model" in err
    saved = json.loads(model.read_text())
    assert saved["format"] == "gradfit-model" and saved["feature_names"] == ["size", "rooms"]
    code, out, err = cli(capsys, "predict", model, path)
    assert code == 0 and err == ""
    result = pd.read_csv(io.StringIO(out))
    assert list(result.columns) == ["id", "size", "rooms", "price", "predicted_price"]
    expected = estimator(X, y).predict(X)
    np.testing.assert_allclose(result["predicted_price"], expected, rtol=0, atol=1e-12)
    assert result["id"].tolist()[:2] == ["r0", "r1"]


def test_predict_reordered_columns_to_parquet(capsys, data, tmp_path):
    path, X, y = data
    model = tmp_path / "model.json"
    assert cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--save", model)[0] == 0
    new = tmp_path / "new.csv"
    pd.DataFrame({"rooms": X[:5, 1], "other": 1, "size": X[:5, 0]}).to_csv(new, index=False)
    out_path = tmp_path / "pred.parquet"
    code, out, _ = cli(capsys, "predict", model, new, "-o", out_path, "--prediction-only",
                       "--column", "p")
    assert code == 0 and out == ""
    result = pd.read_parquet(out_path)
    assert list(result.columns) == ["p"]
    np.testing.assert_allclose(result["p"], estimator(X, y).predict(X[:5]), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ compare, demo


def test_compare(capsys, data):
    path, X, y = data
    code, out, err = cli(capsys, "compare", path, "-t", "price", "-f", "size,rooms", "--json")
    assert code == 0, err
    rows = {r["method"]: r for r in json.loads(out)["rows"]}
    from gradfit.solvers.registry import SOLVERS

    assert set(rows) == set(SOLVERS) | {"sklearn-linear", "sklearn-sgd"}
    assert rows["exact"]["gap"] == 0 and rows["exact"]["param_gap"] == 0
    assert abs(rows["sklearn-linear"]["gap"]) < 1e-9 * rows["exact"]["objective"]
    assert rows["sklearn-linear"]["param_gap"] < 1e-9
    for r in rows.values():
        assert r["time_s"] >= 0 and r["objective"] >= rows["exact"]["objective"] * (1 - 1e-12)
    assert rows["gd"]["n_iter"] == estimator(X, y, solver="gd").n_iter_
    code, out, _ = cli(capsys, "compare", path, "-t", "price", "-f", "size,rooms",
                       "--methods", "gd,exact,sklearn-sgd")
    assert code == 0 and "gap to exact" in out and "sklearn-sgd" in out and "adam" not in out


def _demo_files_ok(out_dir, rec):
    assert (out_dir / "report.html").stat().st_size > 1000
    assert "Statistical summary" in (out_dir / "report.html").read_text(encoding="utf-8")
    pngs = sorted(out_dir.glob("*.png"))
    assert pngs and [str(p) for p in pngs] == sorted(rec["files"]["plots"])
    for png in pngs:
        decode_png(png)


def test_demo_runs_the_tutorial_by_default(capsys, tmp_path, shared_data):
    out_dir = tmp_path / "demo"
    code, out, err = cli(capsys, "demo", "--out", out_dir, "--json")
    assert code == 0, err
    rec = json.loads(out)
    rows = {r["method"]: r for r in rec["rows"]}
    assert rec["data"] == {"name": "tutorial", "feature": "x", "target": "y", "n_train": 100,
                           "n_test": 0}
    assert list(rows) == ["starting guess", "gradient descent (rate 1e-4)",
                          "gradient descent (auto rate)", "momentum (rate 1e-4)", "exact"]
    # the tutorial's published numbers (shared/data/blog/README.md)
    start, loop = rows["starting guess"], rows["gradient descent (rate 1e-4)"]
    assert start["train_mse"] == pytest.approx(5565.107834483211, rel=1e-12)
    assert loop["intercept"] == pytest.approx(0.08893651993741346, rel=1e-12)
    assert loop["slope"] == pytest.approx(1.4777440851894448, rel=1e-12)
    assert loop["train_mse"] == pytest.approx(112.61481011613473, rel=1e-12)
    assert loop["n_iter"] == 1000 and loop["test_r2"] is None
    ref = np.loadtxt(shared_data / "blog" / "demo.csv", delimiter=",", skiprows=1)
    slope, icpt = np.polyfit(ref[:, 0], ref[:, 1], 1)
    for name in ("exact", "gradient descent (auto rate)"):
        assert rows[name]["slope"] == pytest.approx(slope, rel=1e-9)
        assert rows[name]["intercept"] == pytest.approx(icpt, rel=1e-9)
    assert rows["exact"]["train_mse"] == pytest.approx(110.257383466213, rel=1e-12)
    assert loop["train_r2"] == pytest.approx(0.590, abs=5e-4)
    _demo_files_ok(out_dir, rec)


def test_demo_diabetes(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    code, out, err = cli(capsys, "demo", "--data", "diabetes", "--out", out_dir, "--json")
    assert code == 0, err
    rec = json.loads(out)
    rows = {r["method"]: r for r in rec["rows"]}
    assert list(rows) == ["starting guess", "gradient descent", "momentum", "exact"]
    assert rec["data"] == {"name": "diabetes", "feature": "bmi",
                           "target": "disease progression", "n_train": 353, "n_test": 89}
    exact = rows["exact"]
    assert rows["starting guess"]["train_mse"] > 5 * exact["train_mse"]
    for name in ("gradient descent", "momentum"):
        assert rows[name]["converged"] and rows[name]["n_iter"] > 5
        assert abs(rows[name]["slope"] - exact["slope"]) < 1e-6 * abs(exact["slope"])
        assert abs(rows[name]["train_mse"] - exact["train_mse"]) < 1e-9 * exact["train_mse"]
    from sklearn.linear_model import LinearRegression

    from gradfit.cli.cmd_demo import load_demo_data

    X, X_test, y, y_test = load_demo_data("diabetes")
    lr = LinearRegression().fit(X, y)
    assert exact["slope"] == pytest.approx(lr.coef_[0], rel=1e-10)
    assert exact["test_r2"] == pytest.approx(lr.score(X_test, y_test), rel=1e-10)
    _demo_files_ok(out_dir, rec)


def test_demo_rejects_an_unknown_data_set(capsys):
    code, out, err = cli(capsys, "demo", "--data", "iris")
    assert code == 2 and "invalid choice: 'iris'" in err and "tutorial" in err


# ------------------------------------------------------------------ help, version, progress


def test_version_and_help(capsys):
    from gradfit import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"gradfit {__version__}"
    for command in ("fit", "predict", "compare", "demo"):
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0 and "examples:" in out and f"gradfit {command}" in out
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and all(c in out for c in ("fit", "predict", "compare", "demo"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_progress_callback(monkeypatch, data):
    from gradfit.cli import output
    from gradfit.cli.fitting import fit_estimator

    _, X, y = data
    seen = []
    est, seconds = fit_estimator(X, y, {"solver": "gd", "learning_rate": 1e-4,
                                        "standardize": False, "max_iter": 20},
                                 callback=lambda info: seen.append(info) or True)
    assert len(seen) == est.n_iter_ == 20
    assert {"epoch", "max_iter", "objective", "lr", "elapsed"} <= set(seen[-1])
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with output.FitProgress(delay=0.0) as bar:
        for info in seen:
            assert bar(info) is True
        assert bar._progress is not None
    assert bar._progress is None
    quiet = output.FitProgress(delay=60.0)
    assert quiet(seen[0]) is True and quiet._progress is None


# ------------------------------------------------------------------ user errors


def test_error_missing_file(capsys, tmp_path):
    err = user_error(capsys, "fit", tmp_path / "absent.csv", "-t", "y")
    assert "absent.csv: no such file" in err


def test_error_empty_file(capsys, tmp_path):
    (tmp_path / "e.csv").write_text("")
    assert "is empty" in user_error(capsys, "fit", tmp_path / "e.csv", "-t", "y")


def test_error_unknown_column(capsys, data):
    path, *_ = data
    err = user_error(capsys, "fit", path, "-t", "prize")
    assert "target column 'prize' not found" in err and "did you mean 'price'" in err
    err = user_error(capsys, "fit", path, "-t", "price", "-f", "size,room")
    assert "feature column 'room' not found" in err and "did you mean 'rooms'?" in err


def test_error_target_among_features(capsys, data):
    path, *_ = data
    err = user_error(capsys, "fit", path, "-t", "price", "-f", "size,price")
    assert "target 'price' is also listed among the features" in err


def test_error_non_numeric(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n2,3\n3,four\n")
    err = user_error(capsys, "fit", path, "-t", "y")
    assert "non-numeric value 'four' in column 'y' at line 4" in err


def test_error_non_numeric_default_features(capsys, data):
    path, *_ = data  # the id column is text: say so and point at --features
    err = user_error(capsys, "fit", path, "-t", "price")
    assert "'r0' in column 'id' at line 2" in err and "--features" in err


def test_error_missing_values(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n1,2\n,3\n3,\n4,5\n")
    err = user_error(capsys, "fit", path, "-t", "y")
    assert "2 rows of" in err and "lines 3, 4" in err and "--drop-missing" in err


def test_error_not_a_model(capsys, data, tmp_path):
    path, *_ = data
    bad = tmp_path / "m.json"
    bad.write_text('{"coef": [1, 2]}')
    err = user_error(capsys, "predict", bad, path)
    assert f"{bad} is not a gradfit model file" in err
    err = user_error(capsys, "predict", path, path)  # a CSV given as the model
    assert "is not a gradfit model file" in err


def test_error_model_columns_do_not_match(capsys, data, tmp_path):
    path, *_ = data
    model = tmp_path / "m.json"
    assert cli(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--save", model)[0] == 0
    other = tmp_path / "other.csv"
    other.write_text("Size,bedrooms\n1,2\n")
    err = user_error(capsys, "predict", model, other)
    assert "lacks columns size, rooms needed by the model" in err


def test_error_bad_option_value_from_core(capsys, data):
    path, *_ = data
    err = user_error(capsys, "fit", path, "-t", "price", "-f", "size", "--max-iter", "0")
    assert "--max-iter must be > 0" in err  # the flag, not the keyword (cli_words)
    err = user_error(capsys, "fit", path, "-t", "price", "-f", "size", "--momentum", "1.5")
    assert "momentum" in err


def test_error_bad_option_syntax(capsys, data):
    path, *_ = data
    err = user_error(capsys, "fit", path, "-t", "price", "--solver", "newton")
    assert "invalid choice: 'newton'" in err and "gradfit fit --help" in err
    err = user_error(capsys, "fit", path, "-t", "price", "--max-iter", "many")
    assert "--max-iter" in err and "'many'" in err
    err = user_error(capsys, "fit", path, "-t", "price", "--learning-rate", "fast")
    assert "'auto' or 'backtracking'" in err
    assert "required" in user_error(capsys, "fit", path)
    assert "required" in user_error(capsys)


def test_error_divergence(capsys, data):
    path, *_ = data
    err = user_error(capsys, "fit", path, "-t", "price", "-f", "size,rooms", "--no-standardize",
                     "--learning-rate", "10")
    assert "diverged" in err and "--learning-rate auto" in err and "below" in err


# ------------------------------------------------------------------ the installed script


def test_console_script_subprocess(data, tmp_path):
    script = Path(sys.executable).parent / "gradfit"
    if not script.exists():
        pytest.skip(f"console script not installed at {script}")
    path, X, y = data
    done = subprocess.run([str(script), "fit", str(path), "-t", "price", "-f", "size,rooms",
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # another process: equal to rounding (bit-equality across processes is the core's
    # business; in-process the JSON numbers are compared exactly above)
    np.testing.assert_allclose(json.loads(done.stdout)["coef"], estimator(X, y).coef_,
                               rtol=1e-12, atol=0)
    bad = subprocess.run([str(script), "fit", str(tmp_path / "nope.csv"), "-t", "y"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().startswith("gradfit: error:") and "Traceback" not in bad.stderr
