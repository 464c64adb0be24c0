"""One whole mini-batch epoch, compiled (numba).

The training loop (:mod:`gradfit.solvers.engine`) runs a mini-batch epoch in Python::

    for j, (Xb, yb, sb) in enumerate(source.epoch(rng)):      # shuffled, rows sorted
        lr = schedule(epoch - 1 + j / nb)
        g = obj.batch_grad(P, Xb, yb, sb)                      # one kernel pass
        d, state = opt.update(g, state)
        x = obj.prox(P - lr * d, lr / opt.metric(state))
        P, state = opt.after_step(x, P, state)
        avg += (opt.position(P, state) - avg) / n_avg           # Polyak averaging

With small batches the Python around each batch (indexing, a dozen numpy calls, the
optimizer's records) costs 30-50 us, hundreds of times the arithmetic.  :func:`epoch_runner`
returns a function that runs the same epoch in one compiled call: the same permutation (one
``rng.permutation(n)`` per epoch, so the generator advances as in the loop and checkpoints
resume alike), the same sorted rows per batch, the same gradient in the same summation
order as :func:`gradfit.model.kernels_numba.value_grad` (predictions in its four lanes, gradient
rows in groups of 4, left to right), the
same optimizer arithmetic (gd, heavy ball, Nesterov with a constant beta, Adam), the same
prox (none, l1, l2, elastic net with the per-coordinate weights ``c`` and Adam's metric) and
the same running average.  The learning rates come from the fit's schedule: the built-in
ones of :mod:`gradfit.solvers.schedules` are evaluated in compiled code with the same libm calls
(checked against the Python schedule at a few points of every chunk, else the Python
schedule is called per batch), any other callable per batch in Python.

So when the loop's kernel is the compiled one (``Objective.kernel is
kernels_numba.value_grad``, which ``gradfit.fit`` picks for X of at least
``api.NUMBA_MIN_CELLS`` cells), the compiled epoch gives the loop's numbers bit for bit;
with the numpy kernel (smaller X) they agree up to the summation order of BLAS.  Applies to
the in-memory backend only (``gradfit.data.memory.InMemory``), squared and huber losses, float32
or float64 X (read as stored, accumulated in float64: no copy of X is made) and batches of
at most :data:`MAX_BATCH` rows (one kernel block, so one summation order; at 1e6 x 20 the
compiled epoch took 0.18 s at batch 1 (Python loop: about 45 s), 0.10 s at 32, 0.12 s at
256 (Python: 0.18 s) and 0.14 s at 4096 (Python: 0.14 s), objective pass included).

The rows of a batch are gathered in shuffled order, so larger batches are bound by memory
latency: the rows of X and y one batch ahead are prefetched (``llvm.prefetch``).  Batch 1 is
bound by divisions (``w / sigma``, ``(gz / sigma) / den``, ``/ n_avg``: kept as divisions,
the loop's operations).  See benchmarks/NOTES.md.
"""

from __future__ import annotations

import math

import numpy as np

from gradfit.model.compiling import entry, jit

__all__ = ["MAX_BATCH", "available", "epoch_runner", "schedule_rates", "warmup"]

MAX_BATCH = 4096  # largest batch run compiled (one kernel block: the same summation order)
CHUNK_BATCHES = 1 << 16  # batches per compiled call: bounds the learning-rate buffer (512 KiB)
_LOSS_CODE = {"squared": 0, "huber": 1}
_AHEAD = 12  # rows prefetched ahead of the one being read (a row is 1-3 cache lines)
_ADAM = (0.9, 0.999, 1e-8)  # optimizers.adam()'s defaults, as gradfit.fit builds it

try:  # numba is a core dependency; guarded so that a broken install still fits
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from gradfit.model.kernels_numba import lane_dot, lane_dot4
except Exception:  # pragma: no cover - numba missing
    numba = None


def available() -> bool:
    return numba is not None


if numba is not None:

    @entry(fastmath=False)
    def _schedule_fill(kind, lr0, a, b, e, j0, nb, out):
        """out[j - j0] = schedule(e - 1 + j / nb), written as gradfit.solvers.schedules writes it:
        0 constant, 1 inverse_scaling (a = power), 2 step (a = every, b = drop),
        3 cosine (a = T)."""
        for jj in range(out.shape[0]):
            t = e - 1.0 + (j0 + jj) / nb
            if kind == 0:
                out[jj] = lr0
            elif kind == 1:
                out[jj] = lr0 / (1.0 + t) ** a
            elif kind == 2:
                out[jj] = lr0 * math.pow(b, float(math.floor(t / a)))
            else:
                out[jj] = lr0 * 0.5 * (1.0 + math.cos(math.pi * min(t, a) / a))

    @jit(fastmath=False)
    def _prox_coord(u, st, l1, l2, cj):
        """penalties.Penalty.prox on one coordinate: soft-threshold, then shrink."""
        if l1 > 0.0:
            a = abs(u) - st * l1 * cj
            if a < 0.0:
                a = 0.0
            if u > 0.0:
                u = a
            elif u < 0.0:
                u = -a
            elif u == 0.0:
                u = 0.0
            # nan stays nan
        if l2 > 0.0:
            u = u / (1.0 + st * l2 * cj * cj)
        return u

    @intrinsic
    def _prefetch(typingctx, arr, i, j):
        """Hint the CPU to fetch the cache line of arr[i, j] (llvm.prefetch: read, keep in
        all cache levels); no effect on any value."""
        if not (isinstance(arr, types.Array) and arr.ndim == 2
                and isinstance(i, types.Integer) and isinstance(j, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ii = context.cast(builder, args[1], signature.args[1], types.intp)
            jj = context.cast(builder, args[2], signature.args[2], types.intp)
            ptr = cgutils.get_item_pointer2(
                context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                cgutils.unpack_tuple(builder, ary.strides), aryty.layout, [ii, jj],
                wraparound=False, boundscheck=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(arr, i, j), codegen

    prefetch = _prefetch  # public: the CSR epoch (minibatch_sparse) prefetches its rows

    @jit(fastmath=False)
    def _prefetch_row(X, Y, i):
        """Hint the cache lines of row i of X and of Y."""
        d = X.shape[1]
        for j in range(0, d, 64 // X.itemsize):
            _prefetch(X, i, j)
        _prefetch(X, i, d - 1)
        _prefetch(Y, i, 0)

    @entry(fastmath=False)
    def _epoch_chunk(X, Y, sw, has_w, mu, sigma, c, order, B, j0, lrs, S, loss, eps,
                     opt, beta, b1, b2, aeps, tstep, P, M1, M2, XP, has_pen, l1, l2,
                     fit_icpt, average, A, n_avg, idx, acc, V, bt, XN, STEP):
        """Batches j0 .. j0 + len(lrs) - 1 of one epoch, updating in place the parameters
        P, the optimizer's state (M1: momentum's v or Adam's m; M2: Adam's v; XP:
        Nesterov's last x) and the average A, all stored transposed, (k, p), so that every
        per-coordinate loop runs over contiguous memory.  Returns (Adam's step count,
        n_avg).  Each operation is the one numpy does in the Python loop, in the same
        order, so the numbers are the same."""
        n = order.shape[0]  # the rows of the epoch (all of X's, or a RowSubset's)
        d = X.shape[1]
        k = P.shape[0]
        p = P.shape[1]
        Z = np.empty((4, d))  # four rows, centred (kernels_numba._block_rows)
        pf = min(n, j0 * B + B + _AHEAD)  # rows up to order[pf - 1] were prefetched
        for t in range(j0 * B, pf):
            _prefetch_row(X, Y, order[t])
        for jb in range(lrs.shape[0]):
            start = (j0 + jb) * B
            m = min(B, n - start)
            # the batch's rows, sorted (InMemory.minibatches: np.sort(order[start:stop]))
            if m <= 32:
                for t in range(m):
                    r = order[start + t]
                    u = t - 1
                    while u >= 0 and idx[u] > r:
                        idx[u + 1] = idx[u]
                        u -= 1
                    idx[u + 1] = r
            else:
                idx[:m] = order[start:start + m]
                idx[:m].sort()
            # Objective.raw_pass: v = w~ / sigma, b~; then kernels_numba._block_rows's sums
            for q in range(k):
                for j in range(d):
                    V[q, j] = P[q, j] / sigma[j]
                bt[q] = P[q, d] if fit_icpt else 0.0
                for j in range(d + 1):
                    acc[q, j] = 0.0
            t = 0
            while t < m:
                last = min(n, start + m + t + 4 + _AHEAD)  # a batch and a few rows ahead
                while pf < last:
                    _prefetch_row(X, Y, order[pf])
                    pf += 1
                if t + 4 > m:
                    break
                i0 = idx[t]
                i1 = idx[t + 1]
                i2 = idx[t + 2]
                i3 = idx[t + 3]
                for j in range(d):  # kernels_numba._block_rows: centred once
                    mj = mu[j]
                    Z[0, j] = X[i0, j] - mj
                    Z[1, j] = X[i1, j] - mj
                    Z[2, j] = X[i2, j] - mj
                    Z[3, j] = X[i3, j] - mj
                for q in range(k):
                    p0, p1, p2, p3 = lane_dot4(Z, V[q])
                    bq = bt[q]
                    c0 = _dloss(Y[i0, q] - (p0 + bq), sw[i0] if has_w else 1.0, loss, eps)
                    c1 = _dloss(Y[i1, q] - (p1 + bq), sw[i1] if has_w else 1.0, loss, eps)
                    c2 = _dloss(Y[i2, q] - (p2 + bq), sw[i2] if has_w else 1.0, loss, eps)
                    c3 = _dloss(Y[i3, q] - (p3 + bq), sw[i3] if has_w else 1.0, loss, eps)
                    acc[q, d] += c0
                    acc[q, d] += c1
                    acc[q, d] += c2
                    acc[q, d] += c3
                    for j in range(d):
                        acc[q, j] += c0 * Z[0, j] + c1 * Z[1, j] + c2 * Z[2, j] + c3 * Z[3, j]
                t += 4
            while t < m:
                i = idx[t]
                s = sw[i] if has_w else 1.0
                for j in range(d):
                    Z[0, j] = X[i, j] - mu[j]
                for q in range(k):
                    cq = _dloss(Y[i, q] - (lane_dot(Z, 0, V[q]) + bt[q]), s, loss, eps)
                    acc[q, d] += cq
                    for j in range(d):
                        acc[q, j] += cq * Z[0, j]
                t += 1
            # Objective.batch_grad (gz / sigma, gb) / (m S / n), then per coordinate
            # x = prox(P - lr d, lr / metric);  P, state = after_step(x, P, state);
            # avg += (position - avg) / n_avg  (position = x for every optimizer here)
            den = m * S / n
            lr = lrs[jb]
            bc1 = 1.0
            bc2 = 1.0
            if opt == 3:
                tstep += 1
                bc1 = 1.0 - math.pow(b1, float(tstep))
                bc2 = 1.0 - math.pow(b2, float(tstep))
            if average:
                n_avg += 1
            for q in range(k):
                # branch-free loops, one per case, so that each one is vectorised
                if opt == 1:
                    for j in range(d):
                        M1[q, j] = beta * M1[q, j] + (acc[q, j] / sigma[j]) / den
                        XN[q, j] = P[q, j] - lr * M1[q, j]
                elif opt == 3:
                    for j in range(d):
                        g = (acc[q, j] / sigma[j]) / den
                        M1[q, j] = b1 * M1[q, j] + (1.0 - b1) * g
                        M2[q, j] = b2 * M2[q, j] + (1.0 - b2) * g * g
                    for j in range(d):
                        STEP[q, j] = lr / (math.sqrt(M2[q, j] / bc2) + aeps)
                        XN[q, j] = P[q, j] - lr * ((M1[q, j] / bc1)
                                                   / (math.sqrt(M2[q, j] / bc2) + aeps))
                else:
                    for j in range(d):
                        XN[q, j] = P[q, j] - lr * ((acc[q, j] / sigma[j]) / den)
                if fit_icpt:
                    XN[q, d] = _direct(opt, acc[q, d] / den, q, d, P, M1, M2, STEP, lr, beta,
                                       b1, b2, bc1, bc2, aeps)
                if has_pen:
                    if opt == 3:
                        for j in range(d):
                            XN[q, j] = _prox_coord(XN[q, j], STEP[q, j], l1, l2, c[j])
                    else:
                        step = lr / (1.0 - beta) if opt == 1 else lr / 1.0
                        for j in range(d):
                            XN[q, j] = _prox_coord(XN[q, j], step, l1, l2, c[j])
                if opt == 2:
                    for r in range(p):
                        P[q, r] = XN[q, r] + beta * (XN[q, r] - XP[q, r])
                    for r in range(p):
                        XP[q, r] = XN[q, r]
                else:
                    for r in range(p):
                        P[q, r] = XN[q, r]
                if average:
                    for r in range(p):
                        A[q, r] += (XN[q, r] - A[q, r]) / n_avg
        return tstep, n_avg

    @jit(fastmath=False)
    def _direct(opt, g, q, r, P, M1, M2, STEP, lr, beta, b1, b2, bc1, bc2, aeps):
        """P[q, r] - lr * d for the gradient g of coordinate r, updating the optimizer's
        state (optimizers.py: momentum v <- beta v + g; Adam's m, v and step lr / metric)."""
        if opt == 1:
            M1[q, r] = beta * M1[q, r] + g
            return P[q, r] - lr * M1[q, r]
        if opt == 3:
            M1[q, r] = b1 * M1[q, r] + (1.0 - b1) * g
            M2[q, r] = b2 * M2[q, r] + (1.0 - b2) * g * g
            STEP[q, r] = lr / (math.sqrt(M2[q, r] / bc2) + aeps)
            return P[q, r] - lr * ((M1[q, r] / bc1) / (math.sqrt(M2[q, r] / bc2) + aeps))
        return P[q, r] - lr * g

    @jit(fastmath=False, inline="always")
    def _dloss(r, s, loss, eps):
        """s * dloss/dp for r = y - p (kernels_numba._dloss, the derivative only)."""
        if loss == 0 or abs(r) <= eps:
            return s * (-2.0 * r)
        if r > 0:
            return s * (-2.0 * eps)
        return s * (2.0 * eps)


# ---------------------------------------------------------------------------- schedules
def _schedule_spec(schedule):
    """(kind, a, b, lr0) of a :class:`gradfit.solvers.schedules.Schedule` record; None for
    any other callable (the Python schedule is used)."""
    from gradfit.solvers.schedules import Schedule

    if not isinstance(schedule, Schedule):
        return None
    return schedule.code, float(schedule.a), float(schedule.b), float(schedule.lr0)


def _rates(schedule, spec, epoch, j0, j1, nb, out):
    """out[:j1 - j0] = schedule(epoch - 1 + j / nb) for j in j0..j1-1 (bit for bit)."""
    out = out[: j1 - j0]
    if spec is not None:
        kind, a, b, lr0 = spec
        _schedule_fill(kind, lr0, a, b, float(epoch), j0, nb, out)
        probe = {0, (j1 - j0) // 2, j1 - j0 - 1}
        if all(out[jj] == schedule(epoch - 1.0 + (j0 + jj) / nb) for jj in probe):
            return out
    for jj in range(j1 - j0):
        out[jj] = schedule(epoch - 1.0 + (j0 + jj) / nb)
    return out


def schedule_rates(schedule, epoch, j0, j1, nb, out):
    """out[:j1 - j0] = schedule(epoch - 1 + j / nb) for the batches j0..j1-1 of an epoch, bit
    for bit as the loop evaluates it (the built-in schedules in compiled code, checked at a
    few points; any other callable in Python)."""
    return _rates(schedule, _schedule_spec(schedule), epoch, j0, j1, nb, out)


# ---------------------------------------------------------------------------- the runner
def _f64c(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def epoch_runner(obj, batch_size, solver, momentum, schedule, *, exact_only=True):
    """A function ``run(P, state, avg, n_avg, epoch, rng) -> (P, state, avg, n_avg, lr)``
    doing one mini-batch epoch of ``engine.train`` compiled, or None where it does not apply
    (numba missing, a backend other than InMemory/RowSubset, another loss or kernel, a batch above
    :data:`MAX_BATCH` rows or the whole data).  ``solver``/``momentum`` describe the
    optimizer as ``api._make_optimizer`` builds it for mini-batches.  With ``exact_only``
    (the default) it applies only when the loop's kernel is the compiled one, whose numbers
    it reproduces bit for bit."""
    from gradfit.model import kernels, kernels_numba
    from gradfit.model.backend import capabilities

    if numba is None or not kernels_numba.available():
        return None
    data = obj.data
    if capabilities(data).sparse:  # CSR rows: plain SGD in O(nnz) a batch
        from gradfit.solvers import minibatch_sparse

        return minibatch_sparse.epoch_runner(obj, batch_size, solver, momentum, schedule)
    if not capabilities(data).in_memory or batch_size is None:
        return None
    B = min(int(batch_size), obj.n)
    if B >= obj.n or B > MAX_BATCH or B > kernels_numba.BLOCK_ROWS:
        return None
    if obj.kernel is not kernels_numba.value_grad and (exact_only
                                                       or obj.kernel is not kernels.value_grad):
        return None
    from gradfit.solvers.registry import SOLVERS

    spec = SOLVERS.get(solver)
    if obj.loss not in _LOSS_CODE or spec is None or spec.compiled is None:
        return None
    X = data.X
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        return None
    from gradfit.solvers import optimizers

    n, d, k = obj.n, obj.d, obj.k
    rows = X.shape[0]  # all of X's rows; a RowSubset's epoch visits only its own
    Y = _f64c(data.y).reshape(rows, k)
    has_w = data.sw is not None
    sw = _f64c(data.sw).reshape(rows) if has_w else np.ones(1)
    mask = getattr(data, "mask", None)  # a row subset (early stopping's training rows)
    subset = None if mask is None else np.flatnonzero(mask)
    mu, sigma = _f64c(obj.mu), _f64c(obj.sigma)
    c = _f64c(obj.c).reshape(d)
    from gradfit.model.penalties import penalty_parts

    parts = penalty_parts(obj.penalty)
    if parts is None:  # a penalty object the compiled prox does not know
        return None
    l1, l2 = float(parts[0]), float(parts[1])
    has_pen = bool(l1 or l2)
    opt = spec.compiled  # the rule's code in _epoch_chunk (gradfit.solvers.registry)
    beta = float(momentum)
    b1, b2, aeps = _ADAM
    nb = -(-n // B)
    spec = _schedule_spec(schedule)
    p = obj.p
    ws = dict(idx=np.zeros(B, dtype=np.int64), acc=np.zeros((k, d + 1)), V=np.zeros((k, d)),
              bt=np.zeros(k), XN=np.zeros((k, p)), STEP=np.zeros((k, p)))
    lrbuf = np.empty(min(nb, CHUNK_BATCHES))
    dummy = np.zeros((k, p))  # the state arrays an optimizer does not use
    S = float(obj.S)
    icpt = bool(obj.fit_intercept)
    loss, eps = _LOSS_CODE[obj.loss], float(obj.epsilon)

    def transposed(a):  # (p, k) -> a fresh C-contiguous float64 (k, p)
        return np.array(np.asarray(a, dtype=np.float64).T, order="C")

    def back(a):  # (k, p) -> a fresh C-contiguous (p, k), as the Python loop's arrays
        return np.ascontiguousarray(a.T)

    def run(P, state, avg, n_avg, epoch, rng):
        if subset is None:
            order = rng.permutation(n)  # as InMemory.minibatches draws it
        else:  # as RowSubset.minibatches draws it
            order = subset.copy()
            rng.shuffle(order)
        PT = transposed(P)
        M1 = M2 = XP = dummy
        tstep = 0
        if opt == 1:
            M1 = transposed(state.v)
        elif opt == 2:
            XP = transposed(state.x)
        elif opt == 3:
            M1, M2, tstep = transposed(state.m), transposed(state.v), int(state.t)
        average = avg is not None
        A = transposed(avg) if average else dummy
        lr = None
        for j0 in range(0, nb, CHUNK_BATCHES):
            j1 = min(nb, j0 + CHUNK_BATCHES)
            lrs = _rates(schedule, spec, epoch, j0, j1, nb, lrbuf)
            tstep, n_avg = _epoch_chunk(
                X, Y, sw, has_w, mu, sigma, c, order, B, j0, lrs, S, loss, eps, opt, beta,
                b1, b2, aeps, tstep, PT, M1, M2, XP, has_pen, l1, l2, icpt, average, A,
                int(n_avg), **ws)
            lr = float(lrs[-1])
        if opt == 1:
            state = optimizers.MomentumState(back(M1))
        elif opt == 2:
            state = optimizers.NesterovState(back(XP), state.t)
        elif opt == 3:
            state = optimizers.AdamState(back(M1), back(M2), tstep)
        return back(PT), state, (back(A) if average else None), n_avg, lr

    return run


def warmup() -> float:
    """Compile (or load from numba's on-disk cache) the float64 and float32 epochs; return
    the seconds it took."""
    import time

    if numba is None:
        return 0.0
    from gradfit.model import kernels_numba
    from gradfit.model.backend import InMemory
    from gradfit.model.objective import Objective
    from gradfit.model.penalties import make_penalty

    t = time.perf_counter()
    for dt in (np.float64, np.float32):
        X = np.arange(12.0, dtype=dt).reshape(6, 2)
        obj = Objective(InMemory(X, np.ones((6, 1)), None), loss="squared", epsilon=1.0,
                        penalty=make_penalty(None, 0.0, 0.0), fit_intercept=True,
                        standardize=True, kernel=kernels_numba.value_grad)
        run = epoch_runner(obj, 2, "gd", 0.9, lambda t: 0.1)
        P = obj.zeros()
        run(P, (), P.copy(), 0, 1, np.random.default_rng(0))
    return time.perf_counter() - t
