"""The cache of parsed rows (``FileBackend(cache=...)``, ``fit_files(cache=...)``).

Fits from the cache equal fits that parse the files bit for bit; a second run reuses the
cache without reading the files; a cache cut short, left half-written or made from files
that have changed since is rebuilt; a cache that cannot be written is given up with a
warning, never failing the fit.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import gradfit.data.cache as cache_mod
import gradfit.data.files as files_mod
from gradfit.data.files import FileBackend
from gradfit.data.readers import csv as csv_reader
from gradfit.data.readers import parquet as parquet_reader
from gradfit.exceptions import InputError
from gradfit.fitting.files import cache_for_fit, fit_backend, fit_files

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N = 3000
FEATURES = ["a", "b", "c", "d"]


def _table(X, y, w):
    cols = {name: X[:, j] for j, name in enumerate(FEATURES)}
    cols["y"] = y
    cols["w"] = w
    return pa.table(cols)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, 4)) * [1.0, 20.0, 0.1, 3.0] + [1.0, -5.0, 0.5, 0.0]
    y = X @ [0.7, -0.05, 12.0, 1.1] + 2.0 + 0.2 * rng.standard_normal(N)
    w = rng.uniform(0.5, 2.0, N)
    return X, y, w


@pytest.fixture()
def data(rows, tmp_path):
    """Two CSV files and a Parquet file of three row groups (rows split 1000/700/1300)."""
    X, y, w = rows
    root = tmp_path / "data"
    root.mkdir()
    pcsv.write_csv(_table(X[:1000], y[:1000], w[:1000]), root / "p0.csv")
    pcsv.write_csv(_table(X[1000:1700], y[1000:1700], w[1000:1700]), root / "p1.csv")
    pq.write_table(_table(X[1700:], y[1700:], w[1700:]), root / "p2.parquet",
                   row_group_size=500)
    return root


# small blocks (several per file) and a small shuffling buffer (rows mix through it, the
# order of the files and row groups is permuted): every path of the reader is used
READ = dict(batch_rows=256, buffer_rows=700)

FITS = [
    dict(solver="nesterov", max_iter=30),
    dict(solver="gd", batch_size=64, max_iter=3, random_state=0),
    dict(solver="adam", batch_size=5000, max_iter=3, random_state=1),  # buffer < n, one batch
    dict(solver="lbfgs", max_iter=20),
    dict(solver="exact"),
]


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a.coef), np.asarray(b.coef))
    np.testing.assert_array_equal(np.asarray(a.intercept), np.asarray(b.intercept))
    assert a.n_iter == b.n_iter
    np.testing.assert_array_equal(a.history.objective, b.history.objective)


@pytest.mark.parametrize("kw", FITS, ids=[f["solver"] + ("-mb" if "batch_size" in f else "")
                                          for f in FITS])
def test_fit_from_the_cache_is_bit_identical(data, tmp_path, kw):
    plain = fit_files(data, "y", FEATURES, weight="w", **READ, **kw)
    built = fit_files(data, "y", FEATURES, weight="w", cache=tmp_path / "c", **READ, **kw)
    reused = fit_files(data, "y", FEATURES, weight="w", cache=tmp_path / "c", **READ, **kw)
    _same(built, plain)
    _same(reused, plain)
    assert built.info["cache"]["status"] == "built"
    assert built.info["cache"]["parse_passes"] == 1  # the validating pass only
    assert reused.info["cache"]["status"] == "reused"
    assert reused.info["cache"]["parse_passes"] == 0
    assert reused.info["cache"]["cache_passes"] == plain.info["passes"] - 1
    assert reused.info["data_fingerprint"] == plain.info["data_fingerprint"]


def test_blocks_from_the_cache_are_the_parsed_blocks(data, tmp_path):
    plain = FileBackend(data, "y", weight="w", batch_rows=256)
    cached = FileBackend(data, "y", weight="w", batch_rows=256, cache=tmp_path / "c")
    assert cached.cache_status == "built"
    for rows in (None, 1000, 7):
        got = list(cached.blocks(rows))
        want = list(plain.blocks(rows))
        assert len(got) == len(want)
        for g, e in zip(got, want):
            for a, b in zip(g, e):
                np.testing.assert_array_equal(a, b)
                assert a.flags.c_contiguous
    assert (cached.n, cached.S) == (plain.n, plain.S)
    np.testing.assert_array_equal(cached.target_mean, plain.target_mean)
    assert cached.parse_passes == 1 and cached.cache_passes == 3


def test_second_run_reads_no_file(data, tmp_path, monkeypatch):
    first = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    want = first.map_reduce(lambda X, Y, s: (X.sum(axis=0), (Y[:, 0] * s).sum()))

    def refuse(*args, **kwargs):
        raise AssertionError("a file was parsed although the cache is valid")

    monkeypatch.setattr(files_mod, "scan_file", refuse)
    monkeypatch.setattr(files_mod, "read_file", refuse)
    monkeypatch.setattr(csv_reader, "record_batches", refuse)
    monkeypatch.setattr(parquet_reader, "record_batches", refuse)
    again = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    assert again.cache_status == "reused" and again.passes == 0
    got = again.map_reduce(lambda X, Y, s: (X.sum(axis=0), (Y[:, 0] * s).sum()))
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    res = fit_files(data, "y", weight="w", cache=tmp_path / "c", solver="nesterov",
                    max_iter=5)
    assert res.info["cache"] == {"folder": str(again.cache_folder), "status": "reused",
                                 "parse_passes": 0, "cache_passes": res.info["passes"]}
    assert again.fingerprint() == first.fingerprint()


def test_truncated_cache_file_is_rebuilt(data, tmp_path):
    kw = dict(solver="nesterov", max_iter=10)
    plain = fit_files(data, "y", weight="w", **kw)
    fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    fb.close()
    xfile = fb.cache_folder / "X.f64"
    with open(xfile, "r+b") as fh:
        fh.truncate(xfile.stat().st_size - 8 * 4 * 10)
    res = fit_files(data, "y", weight="w", cache=tmp_path / "c", **kw)
    assert res.info["cache"]["status"] == "built"
    _same(res, plain)
    # damaged in place (same size, other bytes at the start): rebuilt as well
    with open(xfile, "r+b") as fh:
        fh.write(b"\0" * 64)
    again = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    assert again.cache_status == "built"


def test_half_written_cache_is_rebuilt(data, tmp_path):
    """A process killed while writing leaves a temporary folder (or, from older layouts,
    a folder without its manifest): neither is used, and the leftovers are removed."""
    kw = dict(solver="lbfgs", max_iter=10)
    plain = fit_files(data, "y", weight="w", **kw)
    fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    fb.close()
    (fb.cache_folder / "manifest.json").unlink()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    leftover = fb.cache_folder.parent / f"{fb.cache_folder.name}.tmp-{dead.stdout.strip()}-x"
    leftover.mkdir()
    (leftover / "X.f64").write_bytes(b"\0" * 80)
    res = fit_files(data, "y", weight="w", cache=tmp_path / "c", **kw)
    assert res.info["cache"]["status"] == "built"
    _same(res, plain)
    assert not leftover.exists()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [fb.cache_folder.name]


def test_a_killed_writer_leaves_no_usable_cache(data, tmp_path):
    """SIGKILL while the cache is being written: the next run rebuilds it."""
    code = (
        "import sys, time\n"
        "import gradfit.data.cache as c, gradfit.data.files as f\n"
        "orig = c.CacheWriter.__call__\n"
        "def slow(self, X, Y, s):\n"
        "    orig(self, X, Y, s)\n"
        "    print('wrote', flush=True); time.sleep(60)\n"
        "c.CacheWriter.__call__ = slow\n"
        f"f.FileBackend({str(data)!r}, 'y', weight='w', cache={str(tmp_path / 'c')!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "wrote"
    finally:
        proc.kill()
        proc.wait()
    fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    assert fb.cache_status == "built"
    assert [p.name for p in (tmp_path / "c").iterdir()] == [fb.cache_folder.name]


def test_changed_source_file_invalidates_the_cache(data, rows, tmp_path):
    kw = dict(solver="nesterov", max_iter=10)
    fit_files(data, "y", weight="w", cache=tmp_path / "c", **kw)
    X, y, w = rows
    time.sleep(0.01)
    pcsv.write_csv(_table(X[:1000] * 2, y[:1000], w[:1000]), data / "p0.csv")
    plain = fit_files(data, "y", weight="w", **kw)
    res = fit_files(data, "y", weight="w", cache=tmp_path / "c", **kw)
    assert res.info["cache"]["status"] == "built"
    _same(res, plain)
    assert len(list((tmp_path / "c").iterdir())) == 1  # the stale cache was replaced


def test_other_columns_or_options_use_another_cache(data, tmp_path):
    a = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    b = FileBackend(data, "y", ["a", "b"], cache=tmp_path / "c")
    c = FileBackend(data, "y", weight="w", batch_rows=100, cache=tmp_path / "c")
    assert a.cache_folder != b.cache_folder
    assert c.cache_folder == a.cache_folder and c.cache_status == "reused"
    assert b.d == 2 and b.cache_status == "built"


def test_source_changed_during_a_cached_fit_is_refused(data, tmp_path):
    fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    with open(data / "p1.csv", "a") as fh:
        fh.write("1,2,3,4,5,1\n")
    with pytest.raises(InputError, match="changed during the fit"):
        fb.map_reduce(lambda X, Y, s: (X.sum(axis=0),))


def test_cache_cut_short_during_a_fit_is_an_error(data, tmp_path):
    fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    with open(fb.cache_folder / "Y.f64", "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(InputError, match="shorter than when it was written"):
        fb.map_reduce(lambda X, Y, s: (X.sum(axis=0),))


def test_cache_written_by_the_first_pass_of_a_fit(data, tmp_path):
    """``fit_backend(cache=...)`` on a backend built without one: its first full pass
    writes the cache, later passes read it; a pass left unfinished writes nothing."""
    kw = dict(solver="lbfgs", max_iter=15)
    plain = fit_files(data, "y", weight="w", **READ, **kw)
    fb = FileBackend(data, "y", weight="w", **READ)
    fb.use_cache(tmp_path / "c")
    assert fb.cache_status == "pending"
    gen = fb.blocks(100)
    next(gen)
    gen.close()  # abandoned: no cache, no leftovers
    assert fb.cache_status == "pending" and not any((tmp_path / "c").iterdir())
    fb2 = FileBackend(data, "y", weight="w", **READ)
    res = fit_backend(fb2, cache=tmp_path / "c", **kw)
    _same(res, plain)
    assert fb2.cache_status == "built" and fb2.parse_passes == 2  # scan + first pass
    fb3 = FileBackend(data, "y", weight="w", **READ)
    res3 = fit_backend(fb3, cache=tmp_path / "c", **kw)
    _same(res3, plain)
    assert fb3.cache_status == "reused" and fb3.parse_passes == 1


def test_skipped_and_dropped_rows_are_cached_as_parsed(tmp_path):
    """A value that is not a number after several blocks makes the scan read the file again
    in text mode: what was written to the cache before is rolled back."""
    lines = ["a,b,y"] + [f"{i},{i % 7},{2 * i + 1}" for i in range(3000)]
    lines[2500] = "1,oops,3"
    lines[100] = "1,,3"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    kw = dict(skip_bad_rows=True, drop_missing=True, block_size=4096, batch_rows=300)
    plain = FileBackend(tmp_path / "bad.csv", "y", **kw)
    cached = FileBackend(tmp_path / "bad.csv", "y", cache=tmp_path / "c", **kw)
    reused = FileBackend(tmp_path / "bad.csv", "y", cache=tmp_path / "c", **kw)
    assert (cached.cache_status, reused.cache_status) == ("built", "reused")
    assert plain.files[0].text_mode and reused.files[0].text_mode
    assert (reused.n, reused.n_skipped, reused.n_dropped) == (2998, 1, 1)
    assert reused.skipped_examples == plain.skipped_examples
    for fb in (cached, reused):
        for g, e in zip(fb.blocks(), plain.blocks()):
            np.testing.assert_array_equal(g[0], e[0])
            np.testing.assert_array_equal(g[1], e[1])


def test_auto(data, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADFIT_CACHE_DIR", str(tmp_path / "auto"))
    assert cache_for_fit("auto", solver="exact") is None
    assert cache_for_fit("auto", solver="nesterov", max_iter=1, standardize=False) is None
    assert cache_for_fit("auto", solver="lbfgs") == "auto"
    assert cache_for_fit("none", solver="lbfgs") == "none"
    assert cache_for_fit(tmp_path, solver="exact") == tmp_path
    res = fit_files(data, "y", weight="w", cache="auto", solver="exact")
    assert "cache" not in res.info
    res = fit_files(data, "y", weight="w", cache="auto", solver="nesterov", max_iter=5)
    assert res.info["cache"]["status"] == "built"
    assert res.info["cache"]["folder"].startswith(str(tmp_path / "auto"))
    # Parquet only: no cache
    only_pq = FileBackend(data / "p2.parquet", "y", weight="w", cache="auto")
    assert only_pq.cache_status is None and only_pq.cache_folder is None
    assert FileBackend(data, "y", cache="none").cache_folder is None


def test_unwritable_cache_is_given_up_with_a_warning(data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="going on without it"):
        res = fit_files(data, "y", weight="w", cache=blocker / "c", solver="nesterov",
                        max_iter=5)
    plain = fit_files(data, "y", weight="w", solver="nesterov", max_iter=5)
    _same(res, plain)
    assert res.info["cache"]["status"] is None


def test_full_disk_while_writing_is_given_up(data, tmp_path, monkeypatch):
    calls = []

    def full(self, X, Y, s):
        calls.append(1)
        if len(calls) > 1:
            self._fail(OSError(28, "No space left on device"))

    monkeypatch.setattr(cache_mod.CacheWriter, "__call__", full)
    with pytest.warns(RuntimeWarning, match="No space left"):
        fb = FileBackend(data, "y", weight="w", cache=tmp_path / "c")
    assert fb.cache_status is None and fb._cache is None
    assert not any((tmp_path / "c").iterdir())
    assert fb.map_reduce(lambda X, Y, s: (len(X),))[0] == N
