"""The compiled pass kernel (kernels_numba) against a plain numpy reference, against the
numpy kernel (kernels), and against itself under other thread counts and layouts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gradfit.model import kernels_numba as kn
from gradfit.model.columns import Columns

pytestmark = pytest.mark.skipif(not kn.available(), reason="numba is not installed")

B = kn.BLOCK_ROWS
D = 7
EPS = 1.0
RTOL = 1e-12
# below one block, one row, not a multiple of the 4-row tile, several blocks with a tail
SIZES = [1, 6, B - 1, 2 * B + 7]


@pytest.fixture(autouse=True)
def parallel_from_two_blocks(monkeypatch):
    """Run every multi-block case on numba's threads, however small."""
    monkeypatch.setattr(kn, "PARALLEL_MIN_CELLS", 0)


def reference(X, y, sw, mu, v, b, loss, eps):
    """The contract written the obvious way, in float64."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    Z = X - mu
    r = y.reshape(n, -1) - (Z @ v + b)
    if loss == "squared":
        val, dl = r**2, -2 * r
    else:
        small = np.abs(r) <= eps
        val = np.where(small, r**2, 2 * eps * np.abs(r) - eps**2)
        dl = np.where(small, -2 * r, -2 * eps * np.sign(r))
    s = np.ones(n) if sw is None else sw
    return (s[:, None] * val).sum(0), Z.T @ (s[:, None] * dl), (s[:, None] * dl).sum(0)


def problem(n, k, dtype=np.float64, weights=False, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, D)) * 2 + 3).astype(dtype)
    mu = rng.standard_normal(D) + 3  # not X's mean: no component of gz is near zero
    v = rng.standard_normal((D, k))
    b = rng.standard_normal(k)
    y = rng.standard_normal((n, k)) * 3  # residuals well beyond EPS for huber
    sw = rng.uniform(0.1, 2.0, n) if weights else None
    return X, y, sw, mu, v, b


def assert_close(got, want, rtol=RTOL):
    for name, g, w in zip(("loss_sum", "gz", "gb"), got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (name, g.shape, w.shape)
        err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), np.finfo(float).tiny)
        assert err <= rtol, f"{name}: relative error {err:.2e}"


def assert_same_bits(got, want):
    for g, w in zip(got, want):
        assert np.array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("loss", ["squared", "huber"])
@pytest.mark.parametrize("weights", [False, True])
def test_matches_reference(dtype, k, loss, weights):
    for n in SIZES:
        X, y, sw, mu, v, b = problem(n, k, dtype, weights, seed=n)
        got = kn.value_grad(X, y, sw, mu, v, b, loss, EPS)
        assert_close(got, reference(X, y, sw, mu, v, b, loss, EPS))


def test_shapes_and_1d_inputs():
    X, y, sw, mu, v, b = problem(10, 1)
    loss_sum, gz, gb = kn.value_grad(X, y[:, 0], sw, mu, v[:, 0], b, "squared", EPS)
    assert loss_sum.shape == (1,) and gz.shape == (D, 1) and gb.shape == (1,)
    assert_close((loss_sum, gz, gb), reference(X, y, sw, mu, v, b, "squared", EPS))


@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_bit_identical_across_thread_counts(loss):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    X, y, sw, mu, v, b = problem(5 * B + 3, 2, weights=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kn.value_grad(X, y, sw, mu, v, b, loss, EPS)
        numba.set_num_threads(2)
        two = kn.value_grad(X, y, sw, mu, v, b, loss, EPS)
    finally:
        numba.set_num_threads(before)
    assert_same_bits(one, two)


def test_serial_and_parallel_give_the_same_bits(monkeypatch):
    X, y, sw, mu, v, b = problem(3 * B + 1, 2, weights=True)
    par = kn.value_grad(X, y, sw, mu, v, b, "huber", EPS)
    monkeypatch.setattr(kn, "PARALLEL_MIN_CELLS", 1 << 62)
    assert_same_bits(kn.value_grad(X, y, sw, mu, v, b, "huber", EPS), par)


@pytest.mark.parametrize("n", [5, 2 * B + 5])
def test_layouts_give_the_same_bits(n):
    X, y, sw, mu, v, b = problem(n, 2, weights=True)
    c = kn.value_grad(X, y, sw, mu, v, b, "huber", EPS)
    assert_same_bits(kn.value_grad(np.asfortranarray(X), y, sw, mu, v, b, "huber", EPS), c)
    if n < B:  # a strided view (numba's 'A' layout)
        wide = np.zeros((n, 2 * D))
        wide[:, ::2] = X
        assert_same_bits(kn.value_grad(wide[:, ::2], y, sw, mu, v, b, "huber", EPS), c)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("k, loss, weights", [(1, "squared", False), (3, "huber", True)])
def test_columns_held_apart_give_the_same_bits(n, k, loss, weights):
    """X as Columns (a list of arrays, read-only as pyarrow's; or a 2-D (d, n) array), as a
    row slice of such (rows r0: of longer columns), and as a row slice of a column-major
    array: the same bits as row-major X, serial and parallel."""
    X, y, sw, mu, v, b = problem(n, k, weights=weights)
    want = kn.value_grad(X, y, sw, mu, v, b, loss, EPS)
    columns = [X[:, j].copy() for j in range(D)]
    for col in columns:
        col.flags.writeable = False
    pad = 13
    longer = [np.concatenate([np.full(pad, 1e300), X[:, j]]) for j in range(D)]
    column_major = np.asfortranarray(np.vstack([np.full((pad, D), 1e300), X]))
    for X2 in (Columns(columns), Columns(np.ascontiguousarray(X.T)), Columns(longer)[pad:],
               column_major[pad:]):
        assert_same_bits(kn.value_grad(X2, y, sw, mu, v, b, loss, EPS), want)


def test_columns_object():
    """Row slices share the buffers; np.asarray gives the row-major matrix."""
    X = np.arange(24.0).reshape(8, 3)
    cols = Columns([X[:, j].copy() for j in range(3)])
    assert cols.shape == (8, 3) and len(cols) == 8 and cols.ndim == 2
    part = cols[2:7][1:3]
    assert part.shape == (2, 3) and part.columns is cols.columns
    got = np.asarray(part)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, X[3:5])
    np.testing.assert_array_equal(np.asarray(cols[5:]), X[5:])
    np.testing.assert_array_equal(cols[[0, 7]], X[[0, 7]])  # other indexing: via the matrix
    assert cols[6:2].shape == (0, 3)
    assert part.numba_columns() is cols.numba_columns()  # built once, shared


def test_y_none_and_mu_none():
    X, y, sw, mu, v, b = problem(B + 9, 1)
    got = kn.value_grad(X, None, None, None, v, b, "squared", EPS)
    want = reference(X, np.zeros((X.shape[0], 1)), None, np.zeros(D), v, b, "squared", EPS)
    assert_close(got, want)


def test_bad_loss():
    X, y, sw, mu, v, b = problem(4, 1)
    with pytest.raises(ValueError, match="loss"):
        kn.value_grad(X, y, sw, mu, v, b, "absolute", EPS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["squared", "huber"])
@pytest.mark.parametrize("k", [1, 3])
def test_matches_numpy_kernel(dtype, loss, k):
    kernels = pytest.importorskip("gradfit.model.kernels")
    for n in (1, 2 * B + 7, 3 * kernels.BLOCK_ROWS + 11):
        X, y, sw, mu, v, b = problem(n, k, dtype, weights=True, seed=n)
        got = kn.value_grad(X, y, sw, mu, v, b, loss, EPS)
        assert_close(got, kernels.value_grad(X, y, sw, mu, v, b, loss, EPS))
        X, y, sw, mu, v, b = problem(n, k, dtype, weights=False, seed=n + 1)
        got = kn.value_grad(X, None, None, mu, v, b, loss, EPS)
        assert_close(got, kernels.value_grad(X, None, None, mu, v, b, loss, EPS))


def test_falls_back_to_numpy_without_numba():
    pytest.importorskip("gradfit.model.kernels")
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np\n"
        "from gradfit import kernels, kernels_numba as kn\n"
        "assert not kn.available()\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.standard_normal((50, 3)); y = rng.standard_normal((50, 1))\n"
        "args = (X, y, None, np.ones(3), np.ones((3, 1)), np.zeros(1), 'huber', 1.0)\n"
        "for g, w in zip(kn.value_grad(*args), kernels.value_grad(*args)):\n"
        "    assert np.array_equal(g, w)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_float32_gives_the_bits_of_its_float64_copy(n, loss):
    """float32 X is widened exactly on load and everything after is the float64 kernel's
    arithmetic: the float32 data and its float64 copy give the same bits, in every layout."""
    X, y, sw, mu, v, b = problem(n, 2, np.float32, weights=True, seed=n + 3)
    X64 = X.astype(np.float64)
    want = kn.value_grad(X64, y, sw, mu, v, b, loss, EPS)
    for X2 in (X, np.asfortranarray(X)):
        assert_same_bits(kn.value_grad(X2, y, sw, mu, v, b, loss, EPS), want)
    if n < B:
        wide = np.zeros((n, 2 * D), dtype=np.float32)
        wide[:, ::2] = X
        assert_same_bits(kn.value_grad(wide[:, ::2], y, sw, mu, v, b, loss, EPS), want)


def test_uneven_ranges_of_blocks_on_threads_give_the_same_bits(monkeypatch):
    """The blocks are handed to the threads in ranges (a few per thread); any cut gives the
    serial pass's bits, since every block sums into its own slot and the slots are added by
    the fixed pairwise tree."""
    X, y, sw, mu, v, b = problem(7 * B + 5, 1, weights=True)
    monkeypatch.setattr(kn, "PARALLEL_MIN_CELLS", 1 << 62)
    serial = kn.value_grad(X, y, sw, mu, v, b, "huber", EPS)
    monkeypatch.setattr(kn, "PARALLEL_MIN_CELLS", 0)
    monkeypatch.setattr(kn, "threads_for", lambda n, d: 3)  # 8 blocks in 9 cuts (1 empty)
    assert_same_bits(kn.value_grad(X, y, sw, mu, v, b, "huber", EPS), serial)
    monkeypatch.setattr(kn, "threads_for", lambda n, d: 2)
    assert_same_bits(kn.value_grad(X, y, sw, mu, v, b, "huber", EPS), serial)


def _fit_module():
    from gradfit.fitting import api

    return sys.modules[api.kernel_for.__module__]


@pytest.mark.parametrize("solver", ["gd", "nesterov", "lbfgs"])
def test_float32_fit_reaches_the_float32_datas_least_squares_answer(monkeypatch, solver):
    """Full-batch descent on float32 X (compiled kernel, read as float32) reaches the
    least-squares answer of the float32 data as a float64 fit does: the exact solution of
    those values (lstsq on their float64 copy) to the same digits."""
    import warnings

    import gradfit

    monkeypatch.setattr(_fit_module(), "NUMBA_MIN_CELLS", 0)
    rng = np.random.default_rng(11)
    X64 = rng.standard_normal((3000, 6)) * np.logspace(-1, 1, 6) + 5.0
    X = X64.astype(np.float32)
    y = X64 @ rng.standard_normal(6) + 2.0 + 0.1 * rng.standard_normal(3000)
    exact = np.linalg.lstsq(np.column_stack([X.astype(np.float64), np.ones(3000)]), y,
                            rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f32 = gradfit.fit(X, y, solver=solver, max_iter=20000)
        f64 = gradfit.fit(X.astype(np.float64), y, solver=solver, max_iter=20000)
    for res in (f32, f64):
        got = np.append(res.coef, res.intercept)
        assert np.max(np.abs(got - exact)) / np.max(np.abs(exact)) < 1e-8, (solver, got, exact)
    np.testing.assert_allclose(f32.coef, f64.coef, rtol=1e-10)


@pytest.mark.parametrize("d", [20, 5])
@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_vectorised_float32_kernel_against_the_scalar_and_numpy_kernels(d, loss):
    """float32 X runs the SLP-vectorised row kernel, its float64 copy the scalar one: the same
    bits (the vectoriser never reorders), equal to the numpy kernel to rounding, and the same
    bits on every run and thread count (d = 20: the four-lane groups; d = 5: a group and a
    column left over)."""
    import numba

    from gradfit.model import kernels

    rng = np.random.default_rng(d)
    n = 3 * B + 5
    X = (rng.standard_normal((n, d)) * 2 + 3).astype(np.float32)
    mu = rng.standard_normal(d) + 3
    v = rng.standard_normal((d, 2))
    b = rng.standard_normal(2)
    y = rng.standard_normal((n, 2)) * 3
    sw = rng.uniform(0.1, 2.0, n)
    want = kn.value_grad(X.astype(np.float64), y, sw, mu, v, b, loss, EPS)
    assert_close(want, kernels.value_grad(X, y, sw, mu, v, b, loss, EPS))
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            for _ in range(2):
                assert_same_bits(kn.value_grad(X, y, sw, mu, v, b, loss, EPS), want)
    finally:
        numba.set_num_threads(before)


def _documented_order(X, y, sw, mu, v, b, loss, eps):
    """The module docstring's summation order written out in Python floats (IEEE doubles,
    left to right): four lanes per prediction, gradient rows in groups of four."""
    n, d = X.shape
    k = v.shape[1]
    d4 = d - d % 4
    loss_sum, gz, gb = np.zeros(k), np.zeros((d, k)), np.zeros(k)
    Z = [[float(X[i, j]) - float(mu[j]) for j in range(d)] for i in range(n)]
    for q in range(k):
        c = []
        ls = gbq = 0.0
        for i in range(n):
            lanes = [0.0, 0.0, 0.0, 0.0]
            for j in range(d4):
                lanes[j % 4] += Z[i][j] * float(v[j, q])
            p = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
            for j in range(d4, d):
                p += Z[i][j] * float(v[j, q])
            r = float(y[i, q]) - (p + float(b[q]))
            s = float(sw[i])
            if loss == "squared" or abs(r) <= eps:
                lq, cq = s * (r * r), s * (-2.0 * r)
            elif r > 0:
                lq, cq = s * (2.0 * eps * r - eps * eps), s * (-2.0 * eps)
            else:
                lq, cq = s * (-2.0 * eps * r - eps * eps), s * (2.0 * eps)
            ls += lq
            gbq += cq
            c.append(cq)
        for j in range(d):
            g = 0.0
            i = 0
            while i + 4 <= n:
                g += (c[i] * Z[i][j] + c[i + 1] * Z[i + 1][j] + c[i + 2] * Z[i + 2][j]
                      + c[i + 3] * Z[i + 3][j])
                i += 4
            for t in range(i, n):
                g += c[t] * Z[t][j]
            gz[j, q] = g
        loss_sum[q], gb[q] = ls, gbq
    return loss_sum, gz, gb


@pytest.mark.parametrize("d", [1, 3, 7, 20])
@pytest.mark.parametrize("loss", ["squared", "huber"])
def test_the_documented_summation_order_gives_the_kernels_bits(d, loss):
    """The fixed order the module docstring promises (and bit-identical refits rest on) is
    the one the kernels compute: the Python transcription gives their bits, row-major,
    column-major and as Columns (11 rows: two groups of four and three left over)."""
    rng = np.random.default_rng(d)
    n = 11
    X = rng.standard_normal((n, d)) * 2 + 3
    mu, v, b = rng.standard_normal(d) + 3, rng.standard_normal((d, 2)), rng.standard_normal(2)
    y, sw = rng.standard_normal((n, 2)) * 3, rng.uniform(0.1, 2.0, n)
    want = _documented_order(X, y, sw, mu, v, b, loss, EPS)
    for X2 in (X, np.asfortranarray(X), Columns([X[:, j].copy() for j in range(d)])):
        assert_same_bits(kn.value_grad(X2, y, sw, mu, v, b, loss, EPS), want)
