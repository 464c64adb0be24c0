"""gradfit.data.tables: reading CSV / Parquet / stdin, and every bad-input message."""

from __future__ import annotations

import gzip
import io
import sys

import numpy as np
import pandas as pd
import pytest

from gradfit.exceptions import InputError
from gradfit.io import Table, closest_names, read_matrix, read_table


def write(path, text: str):
    path.write_text(text)
    return path


@pytest.fixture
def csv_file(tmp_path):
    return write(tmp_path / "data.csv", "x1,x2,y\n1,2,3\n4,5,6.5\n7,8,9\n")


def test_reads_csv(csv_file):
    t = read_table(csv_file, target="y")
    assert isinstance(t, Table)
    assert t.feature_names == ["x1", "x2"] and t.target_name == "y"
    assert t.X.dtype == np.float64 and t.X.shape == (3, 2) and t.X.flags.c_contiguous
    np.testing.assert_array_equal(t.y, [3, 6.5, 9])
    np.testing.assert_array_equal(t.X[:, 1], [2, 5, 8])
    assert t.n_dropped == 0 and t.n_rows == 3 and t.source == str(csv_file)


def test_features_subset_and_order(csv_file):
    t = read_table(csv_file, target="y", features=["x2", "x1"])
    assert t.feature_names == ["x2", "x1"]
    np.testing.assert_array_equal(t.X[0], [2, 1])
    assert read_table(csv_file, target="y", features="x2").feature_names == ["x2"]


def test_reference_demo_data(shared_data):
    t = read_table(shared_data / "blog" / "demo.csv", target="y")
    ref = np.loadtxt(shared_data / "blog" / "demo.csv", delimiter=",", skiprows=1)
    assert t.X.shape == (100, 1)
    np.testing.assert_array_equal(t.X[:, 0], ref[:, 0])
    np.testing.assert_array_equal(t.y, ref[:, 1])


def test_header_spaces_are_stripped(tmp_path):
    t = read_table(write(tmp_path / "s.csv", "a, b\n1, 2\n3, 4\n"), target="b")
    assert t.feature_names == ["a"]
    np.testing.assert_array_equal(t.y, [2, 4])


def test_parquet_by_extension_and_by_magic(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.125], "y": [1, 2, 3]})
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_parquet(tmp_path / "d.bin")  # no telling extension: found by "PAR1"
    for name in ("d.parquet", "d.bin"):
        t = read_table(tmp_path / name, target="y", features=["b"])
        np.testing.assert_array_equal(t.X[:, 0], frame["b"])
        np.testing.assert_array_equal(t.y, frame["y"])


def test_tsv_and_gzip(tmp_path):
    t = read_table(write(tmp_path / "d.tsv", "a\ty\n1\t2\n"), target="y")
    np.testing.assert_array_equal(t.X, [[1.0]])
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        fh.write("a,y\n1,2\nx,3\n")
    with pytest.raises(InputError, match=r"'x' in column 'a' at line 3"):
        read_table(tmp_path / "d.csv.gz", target="y")


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,y\n1,2\n3,4\n")))
    t = read_table("-", target="y")
    assert t.source == "<stdin>"
    np.testing.assert_array_equal(t.X[:, 0], [1, 3])


def test_stdin_empty(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(InputError, match="no data on standard input"):
        read_table("-", target="y")


def test_dataframe_source():
    t = read_table(pd.DataFrame({"a": [1, 2], "y": [3, 4]}), target="y")
    assert t.feature_names == ["a"] and t.source == "<DataFrame>"
    assert list(t.to_frame().columns) == ["a", "y"]


def test_bool_columns_are_zero_one(tmp_path):
    t = read_table(write(tmp_path / "b.csv", "flag,y\nTrue,1\nFalse,2\n"), target="y")
    np.testing.assert_array_equal(t.X[:, 0], [1, 0])


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: no such file"):
        read_table(tmp_path / "nope.csv", target="y")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_table(tmp_path, target="y")


def test_empty_file(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        read_table(write(tmp_path / "e.csv", ""), target="y")


def test_header_only(tmp_path):
    with pytest.raises(InputError, match="has a header but no data rows"):
        read_table(write(tmp_path / "h.csv", "a,y\n"), target="y")


def test_binary_garbage(tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\x82garbage\x00\xff")
    with pytest.raises(InputError, match="cannot"):
        read_table(path, target="y")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputError, match=r"cannot read .*c\.parquet as Parquet"):
        read_table(path, target="y")


def test_unknown_target_suggests_closest(tmp_path):
    path = write(tmp_path / "d.csv", "bmi,age,progression\n1,2,3\n")
    with pytest.raises(InputError) as err:
        read_table(path, target="progresion")
    msg = str(err.value)
    assert "target column 'progresion' not found" in msg
    assert "did you mean 'progression'?" in msg and "columns: bmi, age, progression" in msg


def test_unknown_feature_suggests_closest(tmp_path):
    path = write(tmp_path / "d.csv", "bmi,age,y\n1,2,3\n")
    with pytest.raises(InputError, match=r"feature column 'BMI' not found.*did you mean 'bmi'"):
        read_table(path, target="y", features=["BMI"])


def test_target_among_features(csv_file):
    with pytest.raises(InputError, match=r"target 'y' is also listed among the features"):
        read_table(csv_file, target="y", features=["x1", "y"])


def test_duplicate_feature(csv_file):
    with pytest.raises(InputError, match="listed more than once"):
        read_table(csv_file, target="y", features="x1,x1")


def test_only_target_column(tmp_path):
    with pytest.raises(InputError, match="no feature columns"):
        read_table(write(tmp_path / "d.csv", "y\n1\n"), target="y")


def test_non_numeric_names_column_line_and_value(tmp_path):
    # the header is line 1; the blank line 3 counts, so "abc" sits on line 5
    path = write(tmp_path / "d.csv", "x,y\n1,2\n\n3,4\n5,abc\n6,7\n")
    with pytest.raises(InputError) as err:
        read_table(path, target="y")
    msg = str(err.value)
    assert "non-numeric value 'abc' in column 'y' at line 5 of" in msg
    assert "--features" not in msg  # the target was named by the user
    assert "\n" not in msg


def test_non_numeric_line_counts_quoted_line_breaks(tmp_path):
    path = write(tmp_path / "d.csv", 'note,x,y\n"two\nlines",1,2\nok,zz,3\n')
    with pytest.raises(InputError, match=r"'zz' in column 'x' at line 4"):
        read_table(path, target="y", features=["x"])


def test_non_numeric_default_features_hint(tmp_path):
    path = write(tmp_path / "d.csv", "name,x,y\nann,1,2\n")
    with pytest.raises(InputError, match=r"'ann' in column 'name' at line 2.*--features"):
        read_table(path, target="y")


def test_non_numeric_parquet_says_row(tmp_path):
    pd.DataFrame({"x": ["1", "2", "oops"], "y": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "p.pq")
    with pytest.raises(InputError, match=r"'oops' in column 'x' at row 3"):
        read_table(tmp_path / "p.pq", target="y")


def test_infinite_value(tmp_path):
    with pytest.raises(InputError, match=r"infinite value inf in column 'x' at line 3"):
        read_table(write(tmp_path / "d.csv", "x,y\n1,2\ninf,3\n"), target="y")


def test_missing_values_message(tmp_path):
    path = write(tmp_path / "d.csv", "x,y\n1,2\n,3\n4,5\n6,\nNA,7\n8,9\n")
    with pytest.raises(InputError) as err:
        read_table(path, target="y")
    msg = str(err.value)
    assert "3 rows of" in msg and "have missing values" in msg
    assert "lines 3, 5, 6" in msg and "columns x, y" in msg and "--drop-missing" in msg


def test_missing_values_many_rows_are_abbreviated(tmp_path):
    body = "".join(f"{i},\n" for i in range(20))
    with pytest.raises(InputError, match=r"20 rows .* \(lines 2, 3, 4, 5, 6, \.\.\.; column y\)"):
        read_table(write(tmp_path / "d.csv", "x,y\n" + body), target="y")


def test_drop_missing(tmp_path):
    path = write(tmp_path / "d.csv", "x,y,unused\n1,2,\n,3,a\n4,5,b\n6,,c\n")
    t = read_table(path, target="y", features=["x"], drop_missing=True)
    assert t.n_dropped == 2 and t.n_rows == 2  # the unused column's hole does not count
    np.testing.assert_array_equal(t.X[:, 0], [1, 4])
    np.testing.assert_array_equal(t.y, [2, 5])


def test_drop_missing_everything(tmp_path):
    with pytest.raises(InputError, match="no rows left"):
        read_table(write(tmp_path / "d.csv", "x,y\n1,\n,2\n"), target="y", drop_missing=True)


def test_read_matrix_missing_columns(tmp_path):
    path = write(tmp_path / "d.csv", "bmi,age\n1,2\n")
    with pytest.raises(InputError, match=r"lacks column bmj needed by the model m\.json; did "
                                          r"you mean 'bmi'\?"):
        read_matrix(path, ["bmj"], required_by="the model m.json")
    with pytest.raises(InputError, match=r"lacks columns a, b needed"):
        read_matrix(path, ["a", "b", "age"], required_by="the model m.json")


def test_read_matrix_keeps_all_columns(tmp_path):
    path = write(tmp_path / "d.csv", "id,b,a\nr1,1,2\nr2,3,4\n")
    frame, X, kept, desc = read_matrix(path, ["a", "b"])
    assert list(frame.columns) == ["id", "b", "a"]
    np.testing.assert_array_equal(X, [[2, 1], [4, 3]])
    assert kept.all() and desc == str(path)


def test_closest_names():
    assert closest_names("Age", ["age", "page", "sex"])[0] == "age"
    assert closest_names("zzz", ["age", "sex"]) == []
