"""The column rules of real tables, decided in one place (``ColumnPlan.from_header``) for
tables read whole and files streamed alike: an unnamed index column, duplicate headers,
the separator, several targets, --drop.  Every case checks the exact message, in memory and
streamed, through the library and the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gradfit
from cli_helpers import cli, user_error
from gradfit.data.files import FileBackend
from gradfit.exceptions import InputError
from gradfit.io import read_table

RNG = np.random.default_rng(5)
N = 60
X = np.c_[RNG.uniform(0, 10, N), RNG.normal(size=N)]
Y = X @ [2.0, -1.5] + 3.0 + RNG.normal(0, 0.1, N)
FRAME = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": Y})


def read(path, mode, **kw):
    """(feature names, X, y, notes) read whole or streamed."""
    if mode == "memory":
        t = read_table(path, target="y", **kw)
        return t.feature_names, t.X, t.y, list(t.notes)
    fb = FileBackend(path, "y", kw.pop("features", None), **kw)
    Xs, Ys = zip(*[(np.asarray(Xb), Yb) for Xb, Yb, _ in fb.blocks()])
    return fb.feature_names, np.concatenate(Xs), np.concatenate(Ys)[:, 0], fb.notes


def raises(mode, path, message, **kw):
    with pytest.raises(InputError) as err:
        read(path, mode, **kw)
    assert str(err.value) == message


MODES = ["memory", "stream"]


# ------------------------------------------------------------------ the index column


@pytest.mark.parametrize("mode", MODES)
def test_the_index_pandas_writes_is_dropped_with_a_note(tmp_path, mode):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path)  # index=True: an unnamed first column 0, 1, 2, ...
    assert path.read_text().startswith(",a,b,y\n0,")
    names, Xr, yr, notes = read(path, mode)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(yr, Y)
    assert notes == [f"dropped the first column of {path}: it has no name and counts the rows "
                     "0, 1, 2, ... (an index, as pandas' to_csv() writes it); name it in the "
                     "header to fit it as a feature"]


@pytest.mark.parametrize("mode", MODES)
def test_an_index_read_and_written_again_is_dropped_too(tmp_path, mode):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path)
    pd.read_csv(path).to_csv(path, index=False)  # the header now says 'Unnamed: 0'
    assert path.read_text().startswith("Unnamed: 0,a,b,y\n")
    names, Xr, _, notes = read(path, mode)
    assert names == ["a", "b"] and len(notes) == 1
    np.testing.assert_array_equal(Xr, X)


@pytest.mark.parametrize("mode", MODES)
def test_an_unnamed_column_that_is_not_an_index_is_an_error(tmp_path, mode):
    path = tmp_path / "d.csv"
    FRAME.set_axis(np.arange(N) + 1).to_csv(path)  # counts from 1: not pandas' index
    raises(mode, path, f"the first column of {path} has no name ('Unnamed: 0') and does not "
           "count the rows 0, 1, 2, ... like an index: name it in the header, pick the "
           "features with --features, or leave it out with --drop 'Unnamed: 0'")
    names, *_ = read(path, mode, drop="Unnamed: 0")  # the ways out the message names
    assert names == ["a", "b"]
    names, *_ = read(path, mode, features=["b", "Unnamed: 0"])
    assert names == ["b", "Unnamed: 0"]


@pytest.mark.parametrize("mode", MODES)
def test_an_unnamed_column_inside_the_header_is_an_error(tmp_path, mode):
    path = tmp_path / "d.csv"
    path.write_text("a,,y\n1,5,2\n2,6,3\n3,7,5\n")
    raises(mode, path, f"column 2 of {path} has no name ('Unnamed: 1'): name it in the "
           "header, pick the features with --features, or leave it out with --drop "
           "'Unnamed: 1'")


def test_a_parquet_file_with_the_index_column(tmp_path):
    path = tmp_path / "d.parquet"
    FRAME.reset_index().rename(columns={"index": "Unnamed: 0"}).to_parquet(path)
    for mode in MODES:
        names, Xr, _, notes = read(path, mode)
        assert names == ["a", "b"] and len(notes) == 1
        np.testing.assert_array_equal(Xr, X)


# ------------------------------------------------------------------ duplicate headers


@pytest.mark.parametrize("mode", MODES)
def test_duplicate_headers_name_both_positions(tmp_path, mode):
    path = tmp_path / "d.csv"
    path.write_text("x,b,x,y\n1,2,3,4\n5,6,7,8\n")
    raises(mode, path, f"{path} has two columns named 'x' (columns 1 and 3): rename one of "
           "them in the header")
    raises(mode, path, f"{path} has two columns named 'x' (columns 1 and 3): rename one of "
           "them in the header", features=["b"])  # even when not used: the header is wrong


def test_duplicate_columns_of_a_data_frame():
    frame = pd.DataFrame([[1, 2, 3]], columns=["x", "x", "y"])
    with pytest.raises(InputError) as err:
        read_table(frame, target="y")
    assert str(err.value) == ("<DataFrame> has two columns named 'x' (columns 1 and 2): "
                              "rename one of them in the header")


# ------------------------------------------------------------------ separators


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_are_found_in_the_header(tmp_path, mode, sep):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, sep=sep, index=False, float_format="%.17g")
    names, Xr, yr, _ = read(path, mode)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(yr, Y)


@pytest.mark.parametrize("mode", MODES)
def test_a_given_separator_wins(tmp_path, mode):
    path = tmp_path / "d.csv"
    FRAME.to_csv(path, sep="|", index=False, float_format="%.17g")
    raises(mode, path, f"target column 'y' not found in {path} (columns: a|b|y)")
    names, Xr, _, _ = read(path, mode, sep="|")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(Xr, X)


def test_separator_sniffing():
    from gradfit.data.readers.header import sniff_separator

    assert sniff_separator(b"a;b;c\n1,5;2;3\n") == ";"
    assert sniff_separator(b"a\tb\n") == "\t"
    assert sniff_separator(b'"x;y",b,c\n') == ","  # inside quotes: not a separator
    assert sniff_separator(b"single\n") == ","
    assert sniff_separator(b"a;b,c\n") == ","  # a tie keeps the comma


# ------------------------------------------------------------------ --drop


@pytest.mark.parametrize("mode", MODES)
def test_drop(tmp_path, mode):
    path = tmp_path / "d.csv"
    FRAME.assign(id=[f"r{i}" for i in range(N)]).to_csv(path, index=False,
                                                       float_format="%.17g")
    names, Xr, _, _ = read(path, mode, drop="id")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(Xr, X)
    raises(mode, path, f"column 'ID' given to --drop not found in {path}; did you mean 'id'? "
           "(columns: a, b, y, id)", drop=["ID"])
    raises(mode, path, "column 'y' is given to --drop but it is the target; leave it out of "
           "--drop", drop="y,id")
    raises(mode, path, "column 'a' is both listed among the features and given to --drop; "
           "leave it out of one of them", drop="a", features="a,b")


# ------------------------------------------------------------------ the command line


@pytest.fixture
def index_csv(tmp_path):
    path = tmp_path / "body.csv"
    pd.DataFrame({"Height": X[:, 0], "Weight": X[:, 1], "Waist": Y}).to_csv(path)
    return path


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_cli_index_note_and_the_fit_without_it(capsys, index_csv, stream):
    code, out, err = cli(capsys, "fit", index_csv, "-t", "Waist", "--solver", "exact",
                         "--json", *stream)
    assert code == 0
    assert err == (f"gradfit: note: dropped the first column of {index_csv}: it has no name "
                   "and counts the rows 0, 1, 2, ... (an index, as pandas' to_csv() writes "
                   "it); name it in the header to fit it as a feature\n")
    rec = json.loads(out)
    assert rec["feature_names"] == ["Height", "Weight"]
    ref = np.linalg.lstsq(np.c_[X, np.ones(N)], Y, rcond=None)[0]
    np.testing.assert_allclose(rec["coef"], ref[:2], rtol=1e-10)
    code, _, err = cli(capsys, "fit", index_csv, "-t", "Waist", "--quiet", *stream)
    assert code == 0 and err == ""


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_cli_several_targets_are_an_error(capsys, index_csv, stream):
    err = user_error(capsys, "fit", index_csv, "-t", "Weight", "-t", "Waist", *stream)
    assert err == ("gradfit: error: -t is given twice ('Weight' and 'Waist'): gradfit fit "
                   "fits one target at a time; run it once per target (in Python, "
                   "gradfit.fit(X, Y) fits several at once)\n")
    err = user_error(capsys, "compare", index_csv, "--target", "Weight", "-t", "Waist")
    assert err.startswith("gradfit: error: -t is given twice ('Weight' and 'Waist'): "
                          "gradfit compare fits one target at a time")


def test_several_targets_in_python_fit_all_of_them():
    res = gradfit.fit(X, np.c_[Y, 2 * Y], solver="exact")
    np.testing.assert_allclose(res.coef[:, 1], 2 * res.coef[:, 0], rtol=1e-10)


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_cli_duplicate_header_and_sep(capsys, tmp_path, stream):
    path = tmp_path / "d.csv"
    path.write_text("x;x;y\n1;2;3\n2;3;5\n4;1;2\n")
    err = user_error(capsys, "fit", path, "-t", "y", *stream)
    assert err == (f"gradfit: error: {path} has two columns named 'x' (columns 1 and 2): "
                   "rename one of them in the header\n")
    err = user_error(capsys, "fit", path, "-t", "y", "--sep", ",", *stream)
    assert err == (f"gradfit: error: target column 'y' not found in {path} (columns: "
                   "x;x;y)\n")
    err = user_error(capsys, "fit", path, "-t", "y", "--sep", "ab", *stream)
    assert err == ("gradfit: error: argument --sep: expected one character such as ';' or "
                   "'|', or 'tab', got 'ab' (see 'gradfit fit --help')\n")


def test_cli_sep_names_and_predict(capsys, tmp_path):
    path = tmp_path / "d.txt"
    FRAME.to_csv(path, sep="\t", index=False, float_format="%.17g")
    model = tmp_path / "m.json"
    for sep in ("tab", "\\t", "\t"):
        code, out, err = cli(capsys, "fit", path, "-t", "y", "--sep", sep, "--solver", "exact",
                             "--save", model, "--json")
        assert code == 0, err
    assert json.loads(out)["feature_names"] == ["a", "b"]
    code, out, err = cli(capsys, "predict", model, path, "--sep", "tab", "--prediction-only")
    assert code == 0, err
    pred = pd.read_csv(pd.io.common.StringIO(out))["predicted_y"].to_numpy()
    ref = np.linalg.lstsq(np.c_[X, np.ones(N)], Y, rcond=None)[0]
    np.testing.assert_allclose(pred, np.c_[X, np.ones(N)] @ ref, rtol=1e-10)


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_cli_drop(capsys, tmp_path, stream):
    path = tmp_path / "d.csv"
    FRAME.assign(id=[f"r{i}" for i in range(N)]).to_csv(path, index=False,
                                                       float_format="%.17g")
    err = user_error(capsys, "fit", path, "-t", "y", *stream)
    assert "'r0' in column 'id'" in err  # a text column picked by default
    code, out, err = cli(capsys, "fit", path, "-t", "y", "--drop", "id", "--json", *stream)
    assert code == 0, err
    assert json.loads(out)["feature_names"] == ["a", "b"]
    err = user_error(capsys, "fit", path, "-t", "y", "--drop", "idd", *stream)
    assert err == (f"gradfit: error: column 'idd' given to --drop not found in {path}; did "
                   "you mean 'id'? (columns: a, b, y, id)\n")


def test_cli_dask_refuses_the_reading_rules(capsys, index_csv):
    err = user_error(capsys, "fit", index_csv, "-t", "Waist", "--dask", "local", "--sep", ";")
    assert err == ("gradfit: error: --sep is not available with --dask (the cluster reads "
                   "the files with dask.dataframe); leave it out, or fit without --dask\n")
