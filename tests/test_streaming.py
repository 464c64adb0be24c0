"""Out-of-core fitting: CSV and Parquet files read in blocks give the in-memory answers.

Every solver on files is checked against ``gradfit.fit`` on the same rows in memory, for one
file and for several (CSV and Parquet), and for odd block sizes; memory stays bounded by the
block and the shuffling buffer; bad input fails with a message naming the file, the line and
the column.  Also: ``partial_fit_step`` (incremental fitting).
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import gradfit
from gradfit.data.files import FileBackend
from gradfit.exceptions import InputError
from gradfit.fitting.files import fit_files
from gradfit.fitting.partial import partial_fit_step

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N = 400
FEATURES = ["a", "b", "c"]


def _table(X, y, w=None):
    cols = {name: X[:, j] for j, name in enumerate(FEATURES)}
    cols["y"] = y
    if w is not None:
        cols["w"] = w
    return pa.table(cols)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((N, 3)) * [1.0, 30.0, 0.05] + [2.0, -50.0, 1.0]
    y = X @ [1.5, -0.02, 40.0] + 3.0 + 0.3 * rng.standard_normal(N)
    w = rng.uniform(0.5, 2.0, N)
    return X, y, w


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    """The same rows as one CSV, one Parquet (row groups of 64), three CSVs (a glob) and three
    Parquet files (a folder), split unevenly (150, 1, 249 rows)."""
    root = tmp_path_factory.mktemp("stream")
    X, y, w = data
    pcsv.write_csv(_table(X, y, w), root / "one.csv")
    pq.write_table(_table(X, y, w), root / "one.parquet", row_group_size=64)
    (root / "csvs").mkdir()
    (root / "pq").mkdir()
    for i, rows in enumerate([slice(0, 150), slice(150, 151), slice(151, N)]):
        part = _table(X[rows], y[rows], w[rows])
        pcsv.write_csv(part, root / "csvs" / f"part{i}.csv")
        pq.write_table(part, root / "pq" / f"part{i}.parquet", row_group_size=100)
    return {"csv": root / "one.csv", "parquet": root / "one.parquet",
            "csv_many": str(root / "csvs" / "*.csv"), "parquet_many": root / "pq"}


def _close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a.coef), np.asarray(b.coef), rtol=rtol, atol=0)
    np.testing.assert_allclose(a.intercept, b.intercept, rtol=rtol, atol=1e-12)


# --------------------------------------------------------------------------- solvers

SOLVERS = [
    ("gd", {}),
    ("nesterov", {}),
    ("momentum", {"max_iter": 60}),
    ("adam", {"max_iter": 60}),
    ("lbfgs", {}),
    ("cg", {}),
    ("gd", {"penalty": "l1", "alpha": 0.05}),
    ("nesterov", {"penalty": "l2", "alpha": 0.01, "learning_rate": "backtracking",
                  "max_iter": 40}),
    ("gd", {"batch_size": 32, "max_iter": 6, "random_state": 0}),
    ("adam", {"batch_size": 50, "max_iter": 6, "random_state": 1}),
]


@pytest.mark.parametrize("source", ["csv", "parquet_many"])
@pytest.mark.parametrize("solver, extra", SOLVERS,
                         ids=[f"{s}-{'-'.join(map(str, e.values()))}" for s, e in SOLVERS])
def test_streamed_fit_equals_in_memory(files, data, source, solver, extra):
    X, y, w = data
    streamed = fit_files(files[source], "y", FEATURES, weight="w", solver=solver, **extra)
    memory = gradfit.fit(X, y, w, solver=solver, **extra)
    # same arithmetic in the same order (blocks of 8192 rows are the kernel's blocks)
    _close(streamed, memory, rtol=1e-10)
    assert streamed.n_iter == memory.n_iter
    assert streamed.info["n_rows"] == N


@pytest.mark.parametrize("source", ["csv", "parquet", "parquet_many"])
@pytest.mark.parametrize("features", [FEATURES, ["c", "a", "b"]])  # in place / reordered
def test_compiled_kernel_reads_the_columns_in_place(files, data, source, features,
                                                    monkeypatch):
    """Files big enough for the compiled kernel (here: any size) hand it the decoded
    columns without a copy (Columns), and the fit equals the in-memory one with the same
    kernel."""
    from gradfit.fitting import driver
    from gradfit.model import kernels_numba
    from gradfit.model.columns import Columns

    if not kernels_numba.available():
        pytest.skip("numba is not installed (the compiled kernel is optional)")
    monkeypatch.setattr(driver, "NUMBA_MIN_CELLS", 0)
    X, y, w = data
    order = [FEATURES.index(f) for f in features]
    fb = FileBackend(files[source], "y", features, weight="w", batch_rows=64)
    kinds = {type(Xb) for Xb, _, _ in fb.blocks(any_layout=True)}
    # a block that spans two row groups or files is one row-major copy
    assert kinds == ({Columns, np.ndarray} if source == "parquet_many" else {Columns})
    assert all(type(Xb) is np.ndarray and Xb.flags.c_contiguous for Xb, _, _ in fb.blocks())
    kw = dict(solver="nesterov", max_iter=50, tol=0)
    streamed = fit_files(files[source], "y", features, weight="w", batch_rows=64, **kw)
    memory = gradfit.fit(X[:, order], y, w, **kw)
    assert streamed.n_iter == memory.n_iter == 50
    _close(streamed, memory, rtol=1e-10)


@pytest.mark.parametrize("source", ["csv", "parquet", "csv_many", "parquet_many"])
def test_exact_in_a_few_passes(files, data, source):
    """The in-memory closed form, from files: the same answer to the last digits, in the
    validating scan + one pass of statistics + one per refinement step."""
    X, y, w = data
    streamed = fit_files(files[source], "y", FEATURES, weight="w", solver="exact")
    memory = gradfit.fit(X, y, w, solver="exact")
    _close(streamed, memory, rtol=1e-13)
    assert streamed.info["passes"] == 2 + streamed.info["refinement_steps"] <= 4
    assert streamed.objective == pytest.approx(memory.objective, rel=1e-9)


def test_exact_ridge_without_intercept(files, data):
    X, y, w = data
    kw = dict(solver="exact", penalty="l2", alpha=0.3, fit_intercept=False)
    _close(fit_files(files["parquet"], "y", FEATURES, **kw), gradfit.fit(X, y, **kw), 1e-10)


def test_one_file_and_many_files_are_bit_identical(files):
    kw = dict(solver="nesterov", max_iter=50)
    runs = [fit_files(files[s], "y", FEATURES, weight="w", **kw)
            for s in ("csv", "parquet", "csv_many", "parquet_many")]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.coef, runs[0].coef)
        assert other.intercept == runs[0].intercept


def test_fixed_random_state_is_bit_identical(files):
    kw = dict(solver="adam", batch_size=16, max_iter=4, random_state=7, batch_rows=7,
              buffer_rows=60)
    a = fit_files(files["parquet_many"], "y", FEATURES, **kw)
    b = fit_files(files["parquet_many"], "y", FEATURES, **kw)
    np.testing.assert_array_equal(a.coef, b.coef)
    np.testing.assert_array_equal(a.history.objective, b.history.objective)


@pytest.mark.parametrize("batch_rows", [1, 7, 10**6])
@pytest.mark.parametrize("source", ["csv", "parquet_many"])
def test_odd_batch_sizes(files, data, source, batch_rows):
    X, y, w = data
    streamed = fit_files(files[source], "y", FEATURES, weight="w", solver="lbfgs",
                         batch_rows=batch_rows)
    _close(streamed, gradfit.fit(X, y, w, solver="lbfgs"), rtol=1e-8)
    exact = fit_files(files[source], "y", FEATURES, weight="w", solver="exact",
                      batch_rows=batch_rows)
    _close(exact, gradfit.fit(X, y, w, solver="exact"), rtol=1e-10)


@pytest.mark.parametrize("any_layout", [False, True])
def test_big_row_groups_are_read_in_slices(files, data, monkeypatch, any_layout):
    """Row groups over the decoding budget are read a slice at a time (pyarrow's scanner):
    the same rows, in order, as one read of each row group."""
    from gradfit.data.readers import parquet

    whole = list(FileBackend(files["parquet_many"], "y", FEATURES, weight="w").blocks(
        any_layout=any_layout))
    monkeypatch.setattr(parquet, "PARQUET_GROUP_BYTES", 37 * 5 * 8)  # 37-row slices
    fb = FileBackend(files["parquet_many"], "y", FEATURES, weight="w")
    sliced = list(fb.blocks(any_layout=any_layout))
    for got, want in zip(sliced, whole, strict=True):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    X, y, w = data
    _close(fit_files(files["parquet_many"], "y", FEATURES, weight="w", solver="exact"),
           gradfit.fit(X, y, w, solver="exact"), 1e-10)


def _all_blocks(fb):
    return [np.concatenate(part) for part in zip(*[(X, Y) for X, Y, _ in fb.blocks(1000)])]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("last_newline", [True, False])
def test_csv_ranges_parsed_at_once_give_the_same_rows(tmp_path, data, monkeypatch, ending,
                                                      last_newline):
    """A CSV file cut into many small ranges (parsed by several threads) gives exactly the
    rows of one range; the ranges cover the file and start at line starts."""
    from gradfit.data.readers import csv

    X, y, w = data
    lines = ["a,b,c,y,w"] + [",".join(repr(float(v)) for v in row) for row in np.c_[X, y, w]]
    path = tmp_path / "d.csv"
    path.write_bytes((ending.join(lines) + (ending if last_newline else "")).encode())
    whole = _all_blocks(FileBackend(path, "y", FEATURES))
    reordered = list(FileBackend(path, "y", ["c", "a"], weight="w").blocks(1000))
    monkeypatch.setattr(csv, "CSV_RANGE_BYTES", 997)
    for got, want in zip(FileBackend(path, "y", ["c", "a"], weight="w").blocks(1000),
                         reordered, strict=True):  # features reordered, a weight column
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    fb = FileBackend(path, "y", FEATURES)
    ranges = csv.csv_ranges(fb.files[0])
    raw = path.read_bytes()
    assert len(ranges) > 20 and ranges[0][0] == 0 and ranges[-1][1] == len(raw)
    assert all(a[1] == b[0] and raw[b[0] - 1:b[0]] == b"\n" for a, b in zip(ranges, ranges[1:]))
    for got, want in zip(_all_blocks(fb), whole):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(whole[0], X)  # repr() round-trips: the exact numbers
    _close(fit_files(path, "y", FEATURES, solver="exact"), gradfit.fit(X, y, solver="exact"),
           1e-10)


def test_compressed_csv_gives_the_rows_of_the_plain_file(tmp_path, data, monkeypatch):
    """A .csv.gz file is read by pyarrow's reader (the parallel ranges cut the plain bytes
    of a file): the same blocks as the plain file."""
    import gzip

    from gradfit.data.readers import csv

    X, y, _ = data
    text = "a,b,c,y\n" + "".join(",".join(repr(float(v)) for v in row) + "\n"
                                 for row in np.c_[X, y])
    (tmp_path / "d.csv").write_text(text)
    with gzip.open(tmp_path / "d.csv.gz", "wt") as fh:
        fh.write(text)
    monkeypatch.setattr(csv, "CSV_RANGE_BYTES", 997)
    for got, want in zip(_all_blocks(FileBackend(tmp_path / "d.csv.gz", "y")),
                         _all_blocks(FileBackend(tmp_path / "d.csv", "y")), strict=True):
        np.testing.assert_array_equal(got, want)


def test_in_order_yields_in_order_and_raises_at_the_failing_item():
    import time

    from gradfit.data.readers.ahead import in_order

    def work(i):
        time.sleep(0.002 * (i % 3))
        if i == 7:
            raise ValueError("item 7")
        return i * i

    got = []
    with pytest.raises(ValueError, match="item 7"):
        for value in in_order(work, range(20), workers=3, ahead=4):
            got.append(value)
    assert got == [i * i for i in range(7)]
    assert list(in_order(work, range(5), workers=2, ahead=3)) == [0, 1, 4, 9, 16]


def test_blocks_and_minibatches_cover_every_row_once(files, data):
    X = data[0]
    fb = FileBackend(files["csv_many"], "y", FEATURES, batch_rows=7, buffer_rows=50)
    blocks = list(fb.blocks())
    assert [len(b[0]) for b in blocks] == [7] * (N // 7) + [N % 7]
    assert all(b[0].flags.c_contiguous and b[0].dtype == np.float64 for b in blocks)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), X)
    batches = list(fb.minibatches(16, np.random.default_rng(0)))
    assert [len(b[0]) for b in batches] == [16] * (N // 16) + ([N % 16] if N % 16 else [])
    seen = np.concatenate([b[0] for b in batches])
    assert not np.array_equal(seen, X)  # shuffled ...
    np.testing.assert_array_equal(np.sort(seen, axis=0), np.sort(X, axis=0))  # ... every row


def test_minibatches_equal_in_memory_when_the_buffer_holds_the_data(files, data):
    X, y, w = data
    kw = dict(solver="momentum", batch_size=20, max_iter=5, random_state=3)
    streamed = fit_files(files["parquet_many"], "y", FEATURES, weight="w", **kw)
    _close(streamed, gradfit.fit(X, y, w, **kw), rtol=1e-10)


def test_small_buffer_sgd_gets_close(files, data):
    X, y, w = data
    res = fit_files(files["csv_many"], "y", FEATURES, solver="gd", batch_size=8, max_iter=25,
                    random_state=0, batch_rows=16, buffer_rows=40)
    exact = gradfit.fit(X, y, solver="exact")
    np.testing.assert_allclose(res.coef, exact.coef, rtol=0.05)


def test_several_targets_and_default_features(tmp_path, data):
    X, y, _ = data
    Y = np.column_stack([y, -2.0 * y + X[:, 0]])
    table = _table(X, Y[:, 0]).append_column("y2", pa.array(Y[:, 1]))
    pq.write_table(table, tmp_path / "t.parquet")
    res = fit_files(tmp_path / "t.parquet", ["y", "y2"], solver="exact")
    assert res.coef.shape == (3, 2) and res.info["feature_names"] == FEATURES
    _close(res, gradfit.fit(X, Y, solver="exact"), rtol=1e-10)


def test_memory_stays_bounded(tmp_path):
    """A file 16x the block budget: peak numpy memory a few batches, half the data's size."""
    n, d = 131_072, 4
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ np.arange(1.0, d + 1) + rng.standard_normal(n)
    cols = {f"x{j}": X[:, j] for j in range(d)}
    pq.write_table(pa.table({**cols, "y": y}), tmp_path / "big.parquet", row_group_size=8192)
    data_bytes = X.nbytes + y.nbytes
    del X, y, cols

    def fits():
        exact = fit_files(tmp_path / "big.parquet", "y", solver="exact", batch_rows=8192)
        gd = fit_files(tmp_path / "big.parquet", "y", solver="gd", max_iter=2, batch_rows=8192)
        sgd = fit_files(tmp_path / "big.parquet", "y", solver="gd", batch_size=4096,
                        max_iter=1, batch_rows=8192, buffer_rows=16384)
        return exact, gd, sgd

    fits()  # once untraced: the modules a fit imports (numba's ~15 MB) are not the data's
    tracemalloc.start()
    try:
        exact, gd, sgd = fits()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a batch is 8192 x 5 float64 (1/16 of the data); the reader holds one ahead, the
    # consumer one row-major block and the solver its own work arrays: a few batches at most
    batch_bytes = data_bytes // 16
    assert peak < 8 * batch_bytes, (peak, data_bytes)
    np.testing.assert_allclose(exact.coef, np.arange(1.0, d + 1), atol=0.02)
    assert np.all(np.isfinite(gd.coef)) and np.all(np.isfinite(sgd.coef))


# --------------------------------------------------------------------------- bad input


def _write(path, text):
    path.write_text(text)
    return path


GOOD = "a,b,c,y\n" + "".join(f"{i},{i % 7},{i % 3},{2 * i + 1}\n" for i in range(30))


def test_non_numeric_value_names_file_line_and_column(tmp_path):
    f = _write(tmp_path / "d.csv", "a,b,c,y\n1,2,3,4\n5,6,7,8\n1,x,3,4\n9,9,9,9\n")
    with pytest.raises(InputError, match=r"value 'x' in column 'b' at line 4 of .*d\.csv"):
        FileBackend(f, "y")
    fb = FileBackend(f, "y", skip_bad_rows=True)
    assert (fb.n, fb.n_skipped) == (3, 1) and "line 4" in fb.skipped_examples[0]


def test_skipped_rows_fit_like_the_good_rows(tmp_path, data):
    X, y, _ = data
    lines = [",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y])]
    lines[10] = "1.0,oops,2.0,3.0"
    lines[20] = "1.0,2.0"
    lines[30] = "1.0,2.0,3.0,inf"
    _write(tmp_path / "d.csv", "a,b,c,y\n" + "\n".join(lines) + "\n")
    res = fit_files(tmp_path / "d.csv", "y", solver="exact", skip_bad_rows=True)
    keep = np.setdiff1d(np.arange(N), [10, 20, 30])
    _close(res, gradfit.fit(X[keep], y[keep], solver="exact"), rtol=1e-10)
    assert res.info["skipped_rows"] == 3
    assert sorted(e.split(" of ")[0] for e in res.info["skipped_examples"]) == [
        "line 12", "line 22", "line 32"]


def test_wrong_number_of_fields(tmp_path):
    f = _write(tmp_path / "d.csv", "a,b,c,y\n1,2,3,4\n5,6,7\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"line 3 of .*d\.csv has 3 fields but the header has 4 "
                                         r"\(no value for column 'y'\)"):
        FileBackend(f, "y")
    assert FileBackend(f, "y", skip_bad_rows=True).n_skipped == 1


def test_missing_values(tmp_path):
    f = _write(tmp_path / "d.csv", "a,b,c,y\n1,2,3,4\n,6,7,8\n1,2,3,\n9,9,9,9\n")
    with pytest.raises(InputError, match=r"2 row\(s\) have a missing value .* line 3 of .*d\.csv "
                                         r"\(column 'a'\); line 4 of .*\(column 'y'\)"):
        FileBackend(f, "y")
    fb = FileBackend(f, "y", drop_missing=True)
    assert (fb.n, fb.n_dropped) == (2, 2)


def test_infinite_value_and_negative_weight(tmp_path):
    f = _write(tmp_path / "d.csv", "a,b,c,y\n1,2,3,4\n5,inf,7,8\n")
    with pytest.raises(InputError, match=r"infinite value inf in column 'b' at line 3"):
        FileBackend(f, "y")
    f = _write(tmp_path / "w.csv", "a,b,y,w\n1,2,3,1\n5,6,7,-1\n")
    with pytest.raises(InputError, match=r"negative weight -1.0 in column 'w' at line 3"):
        FileBackend(f, "y", weight="w")


def test_header_differs_between_files(tmp_path):
    _write(tmp_path / "a.csv", GOOD)
    _write(tmp_path / "b.csv", GOOD.replace("a,b,c,y", "a,c,b,y"))
    with pytest.raises(InputError, match=r"header of .*b\.csv differs from that of .*a\.csv: "
                                         r"column 2 is 'c' there but 'b'"):
        FileBackend(tmp_path, "y")


def test_column_type_changes_between_files(tmp_path):
    _write(tmp_path / "a.csv", GOOD)
    _write(tmp_path / "b.csv", GOOD.replace("\n5,", "\nfive,"))
    with pytest.raises(InputError, match=r"'five' in column 'a' at line 7 of .*b\.csv is not a "
                                         r"number \(the column's type changes there"):
        FileBackend(str(tmp_path / "*.csv"), "y")
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [1.0, 2.0]}), tmp_path / "p1.parquet")
    pq.write_table(pa.table({"a": ["1", "2"], "y": [1.0, 2.0]}), tmp_path / "p2.parquet")
    with pytest.raises(InputError, match=r"column 'a' of .*p2\.parquet has type string"):
        FileBackend([tmp_path / "p1.parquet", tmp_path / "p2.parquet"], "y")


def test_unknown_columns_and_paths(tmp_path):
    f = _write(tmp_path / "d.csv", GOOD)
    with pytest.raises(InputError, match=r"target column 'yy' not found .*did you mean 'y'"):
        FileBackend(f, "yy")
    with pytest.raises(InputError, match=r"feature column 'q' not found"):
        FileBackend(f, "y", ["a", "q"])
    with pytest.raises(InputError, match=r"no files match"):
        FileBackend(str(tmp_path / "nothing*.csv"), "y")
    with pytest.raises(InputError, match=r"no such file"):
        FileBackend(tmp_path / "absent.csv", "y")


@pytest.mark.parametrize("fault", ["vanish", "truncate"])
def test_file_changing_during_the_fit(tmp_path, fault):
    f = _write(tmp_path / "d.csv", GOOD)

    def callback(info):
        if info["epoch"] == 2:
            f.unlink() if fault == "vanish" else _write(f, GOOD[:60])

    what = "vanished during the fit" if fault == "vanish" else "changed during the fit"
    with pytest.raises(InputError, match=rf"d\.csv {what}"):
        fit_files(f, "y", solver="gd", standardize=True, max_iter=10, callback=callback)


@pytest.mark.parametrize("any_layout", [False, True])
def test_parquet_cut_short_in_the_middle_of_a_pass(tmp_path, any_layout):
    """A Parquet file truncated while a pass reads it: a clear error, not a crash (a memory
    map of the file would end the process with SIGBUS here).  Small row groups, so that
    the reader (which decodes one ahead) is not done with the file when it is cut; should
    it be done all the same, the next pass sees the cut."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100_000, 3))
    f = tmp_path / "p.parquet"
    pq.write_table(_table(X, X.sum(axis=1)), f, row_group_size=500, compression="none")
    fb = FileBackend(f, "y", batch_rows=500)
    blocks = fb.blocks(any_layout=any_layout)
    next(blocks)
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size // 3)
    with pytest.raises(InputError, match=r"p\.parquet (changed during the fit|now gives)|"
                                         r"cannot read .*p\.parquet"):
        for _ in blocks:
            pass
        for _ in fb.blocks(any_layout=any_layout):
            pass


def test_early_stopping_is_refused(files):
    with pytest.raises(ValueError, match="early_stopping is not available"):
        fit_files(files["csv"], "y", FEATURES, early_stopping=True)


# --------------------------------------------------------------------------- partial fit


@pytest.mark.parametrize("params", [
    dict(solver="gd", batch_size=32),
    dict(solver="adam", batch_size=50),
    dict(solver="nesterov", batch_size=20, penalty="l1", alpha=0.01),
    dict(solver="momentum", batch_size=40, average=False),
])
def test_partial_fit_repeated_equals_fit(data, params):
    """E calls on the same rows are E mini-batch epochs of ``fit``: bit for bit."""
    X, y, w = data
    params = dict(params, random_state=3, tol=0.0, n_iter_no_change=100, max_iter=5)
    state = None
    for _ in range(5):
        state = partial_fit_step(state, X, y, w, params)
    res = gradfit.fit(X, y, w, **params)
    assert res.n_iter == 5
    np.testing.assert_array_equal(state.coef, res.coef)
    assert state.intercept == res.intercept
    assert (state.n_calls, state.n_seen) == (5, 5 * N)


def test_default_partial_fit_improves_with_every_pass():
    """Issue 11: the default partial_fit on 100-row chunks of the diabetes data used to get
    worse with more passes (R^2 0.516 -> 0.494).  Chunks are batches of a stream: a decaying
    rate and the running average bring it ever closer to the least-squares fit."""
    from sklearn.datasets import load_diabetes

    from gradfit import GDRegressor

    X, y = load_diabetes(return_X_y=True)
    best = GDRegressor(solver="exact").fit(X, y).score(X, y)
    model, scores = GDRegressor(random_state=0), []
    for _ in range(20):
        for start in range(0, len(X), 100):
            model.partial_fit(X[start:start + 100], y[start:start + 100])
        scores.append(model.score(X, y))
    assert all(b >= a - 1e-4 for a, b in zip(scores[1:], scores[2:])), scores
    assert best - 0.01 < scores[-1] <= best


def test_partial_fit_on_chunks_converges(data):
    X, y, _ = data
    state = None
    for _ in range(15):
        for rows in np.array_split(np.arange(N), 4):
            state = partial_fit_step(state, X[rows], y[rows], None,
                                     dict(solver="gd", batch_size=16, random_state=0))
    exact = gradfit.fit(X, y, solver="exact")
    np.testing.assert_allclose(state.coef, exact.coef, rtol=0.02)
    assert state.mu.shape == (3,)  # standardization frozen from the first chunk


def test_partial_fit_refuses_a_different_chunk_and_batch_solvers(data):
    X, y, _ = data
    state = partial_fit_step(None, X, y, None, dict(solver="gd", batch_size=10))
    with pytest.raises(InputError, match="this chunk has 2 features"):
        partial_fit_step(state, X[:, :2], y, None, {})
    with pytest.raises(ValueError, match="incremental solver"):
        partial_fit_step(None, X, y, None, dict(solver="lbfgs"))


def test_partial_fit_can_start_from_given_coefficients(data):
    X, y, _ = data
    exact = gradfit.fit(X, y, solver="exact")
    state = partial_fit_step(None, X, y, None, dict(solver="gd", learning_rate=1e-6),
                             coef_init=exact.coef, intercept_init=exact.intercept)
    np.testing.assert_allclose(state.coef, exact.coef, rtol=1e-6)


def test_file_backend_counts_passes(files):
    fb = FileBackend(files["parquet"], "y", FEATURES)
    assert fb.passes == 1
    fb.map_reduce(lambda X, Y, s: (X.sum(axis=0),))
    assert fb.passes == 2
    assert fb.fingerprint()["files"][0]["rows"] == N
    assert os.fspath(files["parquet"]).endswith("one.parquet")
