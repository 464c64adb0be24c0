"""L1 and elastic net on in-memory data: working sets with gap-safe screening, each working
set solved by coordinate-descent epochs (``gradfit.solvers.cd_kernels``).

The problem is gradfit's objective with the squared loss,

    F(w, b) = sum_i s_i (y_i - x_i w - b)^2 / S + l1 ||w||_1 + l2/2 ||w||^2,

l1 = alpha l1_ratio, l2 = alpha (1 - l1_ratio), S = sum_i s_i.  The intercept is optimal at
b = ybar - xbar w (weighted means), so with the rows centred and scaled by sqrt(s_i),

    X~ = sqrt(s) (X - xbar),   y~ = sqrt(s) (y - ybar)      (no centring without intercept),

it is  F = 2 P / S  with  P(w) = 1/2 ||y~ - X~ w||^2 + lam1 ||w||_1 + lam2/2 ||w||^2,
lam1 = l1 S / 2, lam2 = l2 S / 2: the form of the duality-gap literature.  Coefficients are
in the caller's units throughout: coordinate descent minimises exactly along each
coordinate, so its iterates do not depend on the columns' scales (``standardize`` changes
nothing here, not even the path).

The outer loop (Massias, Gramfort & Salmon's celer; Bertrand et al.'s skglm):

1. c = X~' r, the correlation of every feature with the residual (one pass over X);
2. the duality gap at w (``cd_kernels.enet_gap``) bounds P(w) - P*: stop when it is at most
   ``tol`` x P(w) (a numeric ``tol``), or, with ``tol="auto"``, when no feature outside the
   working set violates its optimality condition |c_j| <= lam1 and the working set's
   coordinate descent has converged to the rounding floor (the certificate then measures the
   coefficients' distance to the optimum);
3. gap-safe screening: a feature with |kappa c_j| + ||x~_j|| sqrt(2 gap) < lam1 is zero at
   the optimum (Fercoq, Gramfort & Salmon 2015) and leaves the candidates;
4. the working set grows by the violators of largest (|c_j| - lam1) / ||x~_j|| (at least
   doubling), and coordinate descent solves the problem restricted to it on its Gram matrix
   (the columns are gathered once, when they enter).

Two ways to get c: "residual" (a single fit: r from the working set's columns, then one pass
X' r per outer iteration) and "gram" (a path, or when the d x d Gram statistics are known:
the columns X~' x~_j of every feature that ever entered are kept, so c = X~'y~ - C w costs no
pass; along a path the same columns serve every alpha).

The certificate (:func:`certify`): the duality gap (a rigorous bound on the objective's
distance to the optimum), and the Newton step on the support (where F is smooth),
H_S delta_S = the optimality residual, with H_S = X~_S'X~_S + lam2 I, for the distance of
every coefficient to the optimum, plus the step the residual's rounding error would cause; a
zero coefficient is off by about its violation over its curvature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dsyrk

from gradfit.model.kernels import blas_all_threads
from gradfit.solvers import cd_kernels
from gradfit.solvers.certificate import UNRELIABLE_RCOND, coefficient_digits, normwise_error

__all__ = ["Columns", "WorkingSet", "Outcome", "solve", "certify", "FIRST_SIZE"]

FIRST_SIZE = 10
"""Features in the first working set (then at least doubling, as celer and skglm do)."""
BIG_PRODUCT_COLUMNS = 32
"""X~' B with B of at least this many columns runs on all BLAS threads."""
GRAM_BLOCK_VALUES = 1 << 22
"""Values per block of :meth:`Columns.full_gram` (a centred copy of 32 MiB at a time, at
least 1024 rows): fewer, larger syrk calls and fewer d x d additions."""
AUTO_STEP_TOL = 1e-14
"""tol="auto": coordinate descent runs until its largest relative step is this small (or
stops improving: the rounding floor)."""
AUTO_VIOLATION = 1e-10
"""tol="auto": a feature outside the working set with |c_j| > (1 + this) lam1 is added."""
PATIENCE = 20
"""Epochs without a new smallest relative step that end coordinate descent (rounding)."""
CHECK_EVERY = 1
"""Epochs between two duality-gap checks of a working set (numeric tol)."""
INNER_SHARE = 0.3
"""A working set is solved to this share of the final relative gap (numeric tol)."""
MAX_OUTER = 100
CHUNK = 50
"""Coordinate-descent epochs between two tries of the Newton step on the support."""
SINGLE_MIN_M = 512
"""From this many features (a Gram block of 2 MiB, beyond L2) a working set keeps a float32
copy of Q that coordinate descent's first epochs read (half the bytes; the stop is decided
by float64 epochs on an exact Qw: see ``cd_kernels.gram_cd``)."""
_NO_Q32 = np.zeros((0, 0), dtype=np.float32)
NEWTON_MAX = 2000
"""Largest support the Newton step is tried on (its Cholesky costs |S|^3 / 3)."""


class Columns:
    """The centred, weighted design X~ = sqrt(s) (X - mu), seen by blocks of columns,
    without copying X.

    Parameters
    ----------
    X : ndarray (n, d), float64, any memory layout
    sw : ndarray (n,) or None
    mu : ndarray (d,)
        The centring (weighted column means; zeros without an intercept).
    S : float
        The sum of the weights.
    gram : ndarray (d, d) or None
        X~'X~ when known (from the Gram statistics): columns then cost no pass.  Kept
        exactly symmetric (averaged with its transpose once if it is not), so that a
        working set's block of it needs no averaging.
    norms2 : ndarray (d,) or None
        ||x~_j||^2 (the Gram diagonal); from one pass when not given.
    """

    def __init__(self, X, sw, mu, S, gram=None, norms2=None):
        self.X = X
        self.n, self.d = X.shape
        self.root = None if sw is None else np.sqrt(np.asarray(sw, dtype=float))
        self.mu = np.asarray(mu, dtype=float)
        self.S = float(S)
        if gram is not None and not np.array_equal(gram, gram.T):
            gram = 0.5 * (gram + gram.T)
        self.gram = gram
        if norms2 is None:
            norms2 = np.diag(gram).copy() if gram is not None else self._norms2()
        self.norms2 = np.maximum(np.asarray(norms2, dtype=float), 0.0)
        self.passes = 0
        self.crossed = 0  # features crossed one batch at a time so far
        self.gram_after = None  # cross(): form the whole Gram once this many were crossed

    def _norms2(self):
        out = np.zeros(self.d)
        for B in self._centred_rows(4096):
            out += np.einsum("ij,ij->j", B, B)
        return out

    def _centred_rows(self, rows):
        """X~ in blocks of ``rows`` rows: each a fresh centred (and weighted) copy."""
        for start in range(0, self.n, rows):
            B = self.X[start:start + rows] - self.mu
            if self.root is not None:
                B *= self.root[start:start + rows, None]
            yield B

    def target(self, y, ybar):
        """y~ = sqrt(s) (y - ybar) for one output."""
        yt = np.asarray(y, dtype=float) - ybar
        return yt if self.root is None else yt * self.root

    def block(self, idx, out=None):
        """X~[:, idx] as an (n, m) column-major array (written into ``out`` if given)."""
        idx = np.asarray(idx, dtype=np.intp)
        B = np.subtract(self.X[:, idx], self.mu[idx], out=out)
        if self.root is not None:
            B *= self.root[:, None]
        return B

    def xt(self, v):
        """X~' v for v of shape (n,) or (n, m): one pass over X (BLAS; a matrix product of
        at least :data:`BIG_PRODUCT_COLUMNS` columns on all BLAS threads)."""
        u = v if self.root is None else (v * self.root if v.ndim == 1 else
                                         v * self.root[:, None])
        self.passes += 1
        if u.ndim == 2 and u.shape[1] >= BIG_PRODUCT_COLUMNS:  # a matrix product: BLAS's
            with blas_all_threads():  # threads pay off (not on the tall-skinny X' r)
                prod = (u.T @ self.X).T
        else:  # (u' X)': OpenBLAS streams X faster this way round than X' u (10 columns of
            prod = (u.T @ self.X).T  # 5000 x 2000: 7 ms against 11-19 ms)
        return prod - np.multiply.outer(self.mu, u.sum(axis=0))

    def full_gram(self):
        """Compute and keep X~'X~ (d, d) in one pass over X: row blocks centred (and
        weighted), their products accumulated in place by BLAS's syrk (upper triangle,
        ``G += B'B``) on all its threads, mirrored once at the end (exactly symmetric);
        every later :meth:`cross` is then a lookup.  Half the multiplications of crossing
        every feature one batch at a time."""
        G = np.zeros((self.d, self.d), order="F")
        with blas_all_threads():
            for B in self._centred_rows(max(1024, GRAM_BLOCK_VALUES // max(self.d, 1))):
                # B (rows, d) row-major is B' column-major: syrk's G += (B')(B')'
                G = dsyrk(1.0, B.T, beta=1.0, c=G, trans=0, lower=0, overwrite_c=1)
        cd_kernels.mirror_upper(G)  # the lower triangle from the upper one
        self.passes += 1
        self.gram = G.T  # symmetric: its transpose is the same matrix, row-major
        return self.gram

    def forms_gram(self, k):
        """True when crossing k more features forms the whole Gram instead (``gram_after``)."""
        return self.gram_after is not None and self.crossed + k >= self.gram_after

    def cross(self, idx):
        """X~' X~[:, idx], (d, m): from the Gram matrix when known, else one pass.  With
        ``gram_after`` set, the batch that would bring the features crossed to that many
        forms the whole Gram instead (:meth:`full_gram`; a path that grows dense)."""
        if self.gram is None and self.forms_gram(len(idx)):
            self.full_gram()
        if self.gram is not None:
            return self.gram[:, idx]
        self.crossed += len(idx)
        return self.xt(self.block(idx, out=np.empty((self.n, len(idx)), order="F")))


class WorkingSet:
    """One output's working set: its features, coefficients, Gram block and, by mode, its
    columns ("residual") or the cross products of every feature with them ("gram").

    Parameters
    ----------
    cols : Columns
    yt : ndarray (n,)
        y~ for this output.
    mode : {"residual", "gram"}
    c0 : ndarray (d,) or None
        X~' y~ (one pass when not given).
    yty : float or None
        y~'y~.
    """

    def __init__(self, cols: Columns, yt, mode="residual", c0=None, yty=None):
        self.cols, self.yt, self.mode = cols, yt, mode
        self.yty = float(yt @ yt) if yty is None else float(yty)
        self.c0 = cols.xt(yt) if c0 is None else np.asarray(c0, dtype=float)
        self.idx = np.zeros(0, dtype=np.intp)
        self.inside = np.zeros(cols.d, dtype=bool)
        self.w = np.zeros(0)
        self.Q = np.zeros((0, 0))
        self.Q32 = _NO_Q32  # Q in float32 for the first epochs (cd_kernels.gram_cd), or none
        self.g = None  # Q g_w, from the last coordinate-descent solve (or None)
        self.g_w = None
        self.q = np.zeros(0)  # X~_W' y~
        self.buf = None  # (n, capacity) columns of the working set ("residual")
        self.C = None  # (d, capacity) cross products ("gram")
        self.from_gram = False  # Q is a block of cols.gram, whose rows replace C

    @property
    def m(self) -> int:
        return len(self.idx)

    def full_w(self):
        out = np.zeros(self.cols.d)
        out[self.idx] = self.w
        return out

    def add(self, new):
        """Add the features ``new`` (not yet inside) with zero coefficients."""
        new = np.asarray(new, dtype=np.intp)
        if new.size == 0:
            return
        m0, m1 = self.m, self.m + len(new)
        if self.mode == "gram":
            idx = np.concatenate([self.idx, new])
            cols = self.cols
            if cols.gram is None and not cols.forms_gram(len(new)):  # a batch: C keeps
                self.C = _grow(self.C, (cols.d, m1), axis=1)  # the cross products
                self.C[:, m0:m1] = cols.cross(new)
                Q = self.C[idx, :m1]
                Q = 0.5 * (Q + Q.T)
            else:  # the Gram (formed now if need be), exactly symmetric: its block as it
                G = cols.gram if cols.gram is not None else cols.full_gram()  # is, and its
                fresh = not self.from_gram  # rows serve the correlations (no C)
                self.from_gram, self.C = True, None
                if fresh or m0 == 0:
                    Q = G.take(idx, axis=0).take(idx, axis=1)
                else:  # the old block as it is, the new rows and columns from the Gram
                    Q = np.empty((m1, m1))  # (idx: the old features, then the new ones)
                    Q[:m0, :m0] = self.Q
                    Q[m0:, :] = G.take(new, axis=0).take(idx, axis=1)
                    Q[:m0, m0:] = Q[m0:, :m0].T
        else:
            self.buf = _grow(self.buf, (self.cols.n, m1), axis=1)
            B = self.buf[:, m0:m1]
            self.cols.block(new, out=B)
            Q = np.empty((m1, m1))
            Q[:m0, :m0] = self.Q
            cross = self.buf[:, :m1].T @ B
            Q[:, m0:m1] = cross
            Q[m0:m1, :] = cross.T
            idx = np.concatenate([self.idx, new])
        self.Q = np.ascontiguousarray(Q)
        self.q = (self.c0[idx] if self.mode == "gram" else
                  np.concatenate([self.q, self.buf[:, m0:m1].T @ self.yt]))
        self.idx = idx
        self.inside[new] = True
        self.w = np.concatenate([self.w, np.zeros(len(new))])
        # a column that is constant (zero after centring) keeps a zero coefficient
        flat = np.diag(self.Q) <= 1e-26 * self.cols.S * np.maximum(self.cols.mu[idx] ** 2,
                                                                     1e-300)
        if flat.any():
            self.Q[np.flatnonzero(flat), np.flatnonzero(flat)] = 0.0
        if self.g is not None:  # the new features' rows of Q g_w (their g_w entries: 0)
            self.g = np.concatenate([self.g, self.Q[m0:, :m0] @ self.g_w])
            self.g_w = np.concatenate([self.g_w, np.zeros(m1 - m0)])
        self.Q32 = _NO_Q32
        if m1 >= SINGLE_MIN_M:  # beyond the caches: the first epochs read a float32 copy
            Q32 = self.Q.astype(np.float32)
            if np.isfinite(Q32).all():
                self.Q32 = Q32

    def correlations(self):
        """(c = X~' r for every feature, r'r) at the current w."""
        m = self.m
        if not np.any(self.w):
            return self.c0.copy(), self.yty
        if self.mode == "gram":
            w = self.w
            G = self.cols.gram
            out = self.cols.d - m
            if self.from_gram and self.g is not None and 3 * out < m and \
                    np.array_equal(self.g_w, w):  # most features inside: their Qw is known
                c = self.c0.copy()  # from the solve; the others' rows of the Gram (copied
                c[self.idx] -= self.g  # and read: cheaper than all the support's rows)
                out = np.flatnonzero(~self.inside)
                if out.size:
                    c[out] -= G.take(out, axis=0) @ self.full_w()
                return c, self.yty - 2.0 * float(self.q @ w) + float(w @ self.g)
            if self.from_gram:  # X~'X~_W w = sum of w_j x the Gram's row of feature j
                Cw = cd_kernels.gram_rows(G, self.idx, w)
            else:
                Cw = self.C[:, :m] @ w  # X~'X~_W w for every feature: one (d, m) product
            # w'Qw from its working-set rows (Q is C[idx, :m] symmetrised): no (m, m) product
            rr = self.yty - 2.0 * float(self.q @ w) + float(w @ Cw[self.idx])
            return self.c0 - Cw, rr
        r = self.yt - self.buf[:, :m] @ self.w if m else self.yt.copy()
        return self.cols.xt(r), float(r @ r)

    def residual(self):
        """r = y~ - X~ w, from the columns of the support (exact, whatever the mode)."""
        sup = np.flatnonzero(self.w)
        if not sup.size:
            return self.yt.copy(), None, sup
        if self.mode == "residual":
            B = self.buf[:, sup]
        else:
            B = self.cols.block(self.idx[sup], out=np.empty((self.cols.n, sup.size), order="F"))
        return self.yt - B @ self.w[sup], B, sup


def _grow(buf, shape, axis):
    """``buf`` with room for ``shape`` (doubling the capacity along ``axis``), column-major."""
    if buf is not None and buf.shape[axis] >= shape[axis]:
        return buf
    cap = max(shape[axis], 2 * (0 if buf is None else buf.shape[axis]), 16)
    new_shape = list(shape)
    new_shape[axis] = cap
    out = np.zeros(new_shape, order="F")
    if buf is not None:
        out[:, : buf.shape[1]] = buf
    return out


@dataclass
class Outcome:
    """One solve: the coefficients, how it ended and what it measured."""

    w: np.ndarray
    converged: bool
    reason: str
    epochs: int
    outer: int
    primal: float
    gap: float
    kkt: float
    kkt0: float
    c: np.ndarray
    screened: int
    info: dict = field(default_factory=dict)


def _violation(c, w, lam1, lam2):
    """Distance of each c_j - lam2 w_j to lam1 times the subdifferential of |w_j|."""
    a = c - lam2 * w
    return np.where(w != 0, np.abs(a - lam1 * np.sign(w)), np.maximum(np.abs(a) - lam1, 0.0))


def solve(ws: WorkingSet, lam1: float, lam2: float, tol, max_epochs: int, on_outer=None,
          first_size: int = FIRST_SIZE) -> Outcome:
    """Minimise P on all features from the working set's current state (its coefficients are
    the warm start); see the module docstring.  ``tol``: the relative duality gap to reach,
    or "auto"; without any penalty there is no duality gap and a numeric ``tol`` bounds the
    relative coordinate step instead.  ``on_outer(state dict) -> False`` stops the solve."""
    auto = isinstance(tol, str) or (lam1 == 0.0 and lam2 == 0.0)
    gap_tol = math.inf if auto else float(tol)
    step_tol = AUTO_STEP_TOL if isinstance(tol, str) else float(tol)
    cols = ws.cols
    norms = np.sqrt(cols.norms2 + lam2)
    epochs, outer, screened = 0, 0, np.zeros(cols.d, dtype=bool)
    c, rr = ws.correlations()
    kkt0 = None
    status, final = "converged", False  # final: the last inner solve aimed at the target
    while True:
        w = ws.full_w()
        primal, gap, kappa = cd_kernels.enet_gap(rr, c, w, lam1, lam2)
        viol = _violation(c, w, lam1, lam2)
        kkt = float(np.sqrt((viol * viol).sum()))
        kkt0 = kkt if kkt0 is None else kkt0
        if on_outer is not None and on_outer(dict(outer=outer, epochs=epochs, primal=primal,
                                                  gap=gap, kkt=kkt, w=w)) is False:
            return _outcome(ws, False, "stopped by the callback", epochs, outer, primal, gap,
                            kkt, kkt0, c, screened)
        if lam1 > 0 and math.isfinite(gap):
            screened |= (w == 0) & (kappa * np.abs(c) + norms * math.sqrt(2.0 * gap) < lam1)
        out = ~ws.inside & ~screened
        bound = (1.0 + AUTO_VIOLATION) * lam1 if auto else lam1
        cand = np.flatnonzero(out & (np.abs(c) > bound))
        done_gap = not auto and gap <= gap_tol * primal
        if done_gap or (auto and final and not cand.size and status != "max_epochs"):
            what = (f"duality gap {gap / max(primal, 1e-300):.2g} x the objective, at most "
                    f"tol={gap_tol:g}" if done_gap else
                    "every feature outside the working set satisfies its optimality condition "
                    "and the working set is solved to the rounding floor")
            return _outcome(ws, True, what, epochs, outer, primal, gap, kkt, kkt0, c, screened)
        if epochs >= max_epochs or outer >= MAX_OUTER:
            return _outcome(ws, False, f"reached max_iter={max_epochs} coordinate-descent "
                            f"epochs (duality gap {gap / max(primal, 1e-300):.2g} x the "
                            "objective)", epochs, outer, primal, gap, kkt, kkt0, c, screened)
        if not cand.size and final and status == "stalled":
            rel = gap / max(primal, 1e-300)
            return _outcome(ws, False, f"the duality gap stalled at {rel:.2g} x the objective "
                            f"(the rounding floor), above tol={gap_tol:g}", epochs, outer,
                            primal, gap, kkt, kkt0, c, screened)
        if cand.size:  # the features closest to (or past) their bound, violators first:
            # gathering a batch costs about the same for 1 column as for dozens
            pool = np.flatnonzero(out)
            score = (np.abs(c[pool]) - lam1) / np.maximum(norms[pool], 1e-300)  # a 0 column
            grow = max(first_size, ws.m, int(np.count_nonzero(ws.w)))
            take = pool if pool.size <= grow else pool[np.argpartition(-score, grow - 1)[:grow]]
            ws.add(np.sort(take))
        outer += 1
        # each working set is solved to the final target: its epochs cost O(m^2), far less
        # than the pass over X that the next outer iteration needs
        inner_gap = math.inf if auto else INNER_SHARE * gap_tol
        inner_step = step_tol if auto else math.inf
        e, status = _inner(ws, lam1, lam2, inner_gap, inner_step, max_epochs - epochs)
        epochs += e
        final = True
        c, rr = ws.correlations()


def _inner(ws: WorkingSet, lam1, lam2, gap_tol, step_tol, budget):
    """Solve the working set's subproblem: coordinate-descent epochs in chunks of
    :data:`CHUNK`; after a chunk that has not met the target, one Newton step on the support
    (:func:`newton_polish`), which solves the subproblem exactly once the signs are right.
    Returns (epochs, status)."""
    epochs = 0
    while True:
        has_g = ws.g is not None  # Qw at ws.g_w from the last solve: only the move costs
        g = ws.g if has_g else np.empty(ws.m)
        e, code, _, _, _ = cd_kernels.gram_cd(
            ws.Q, ws.Q32, ws.q, ws.w, g, ws.g_w if has_g else g, has_g, lam1, lam2, ws.yty,
            min(CHUNK, budget - epochs), gap_tol, step_tol, PATIENCE, CHECK_EVERY)
        ws.g, ws.g_w = g, ws.w.copy()
        epochs += e
        status = cd_kernels.STATUS[code]
        if status == "converged":
            return epochs, status
        if newton_polish(ws, lam1, lam2):
            return epochs, "converged"
        if status == "stalled" or epochs >= budget:
            return epochs, status


def newton_polish(ws: WorkingSet, lam1, lam2) -> bool:
    """The exact minimiser of the subproblem when coordinate descent has found its support
    and signs: on the support S with signs z, P is the quadratic
    1/2 w'(Q_SS + lam2 I)w - (q_S - lam1 z)'w, minimised by one Newton step.  Kept (True)
    only if no coefficient changes sign and every zero of the working set then satisfies
    |c_j| <= lam1; else w is left as it was (False)."""
    w = ws.w
    S = np.flatnonzero(w)
    if not S.size or S.size > NEWTON_MAX:
        return False
    Q, q = ws.Q, ws.q
    H = Q[np.ix_(S, S)] + lam2 * np.eye(S.size)
    z = np.sign(w[S])
    try:
        new = cho_solve(cho_factor(H), q[S] - lam1 * z)
    except np.linalg.LinAlgError:
        return False
    if not np.all(np.isfinite(new)) or np.any(np.sign(new) != z):
        return False
    trial = np.zeros_like(w)
    trial[S] = new
    c = q - Q @ trial
    off = np.ones(len(w), dtype=bool)
    off[S] = False
    if np.any(np.abs(c[off]) > lam1 * (1.0 + 1e-12)):
        return False
    ws.w[:] = trial
    return True


def _outcome(ws, converged, reason, epochs, outer, primal, gap, kkt, kkt0, c, screened):
    return Outcome(ws.full_w(), converged, reason, epochs, outer, primal, gap, kkt, kkt0, c,
                   int(screened.sum()),
                   info={"working_set": ws.m, "support": int(np.count_nonzero(ws.w))})


def certify(ws: WorkingSet, lam1: float, lam2: float, fit_intercept: bool, ybar: float,
            c=None):
    """The certificate at the working set's coefficients, from the exact residual: a dict with
    the duality gap and the Newton-step distance of every coefficient to the optimum (in the
    caller's units).  ``c``: the correlations X~'r at these coefficients when they were
    computed from the exact residual (the "residual" mode's last ones), else one pass."""
    cols = ws.cols
    r, B, sup = ws.residual()
    if c is None or ws.mode != "residual":
        c = cols.xt(r)
    w = ws.full_w()
    rr = float(r @ r)
    primal, gap, _ = cd_kernels.enet_gap(rr, c, w, lam1, lam2)
    err = np.zeros(cols.d)
    out = {"method": "duality-gap", "duality_gap": 2.0 * gap / cols.S,
           "objective_gap_rel": gap / max(primal, 1e-300), "support": int(sup.size)}
    off = w == 0
    excess = np.maximum(np.abs(c) - lam1, 0.0)
    curv = cols.norms2[off] + lam2  # 0: a column of zeros (constant, centred): any value
    err[off] = np.where(curv > 0, excess[off] / np.where(curv > 0, curv, 1.0), 0.0)
    if sup.size:
        S_idx = ws.idx[sup]
        H = B.T @ B + lam2 * np.eye(sup.size)
        ws_ = w[S_idx]
        resid = -c[S_idx] + lam2 * ws_ + lam1 * np.sign(ws_)
        evals, V = np.linalg.eigh(H)
        if evals.max() <= 0 or evals.min() <= evals.max() * UNRELIABLE_RCOND:
            out.update(method="ill-conditioned", digits=0, coef_rel_error=None,
                       note="the support's curvature is too ill-conditioned in double "
                            "precision to bound the coefficients' distance to the optimum")
            return out
        Hinv = (V / evals) @ V.T
        # the rounding floor: each residual is exact to about eps a_i (as in certificate.py)
        fitted = B @ ws_
        a = np.abs(r) + np.abs(ws.yt) + np.abs(fitted)
        Ba = B * a[:, None]
        M = (4.0 * np.finfo(float).eps) ** 2 * (Ba.T @ Ba)
        floor = np.sqrt(np.maximum(((Hinv @ M) * Hinv).sum(axis=1), 0.0))
        err[S_idx] = np.abs(Hinv @ resid) + floor
    mu = cols.mu
    spread = np.sqrt(cols.norms2 / cols.S)
    ib = abs(ybar) if fit_intercept else 0.0
    intercept = ybar - mu @ w if fit_intercept else 0.0
    dbt = 4.0 * np.finfo(float).eps * ib  # the centred intercept: the mean, to rounding
    db = float(np.abs(mu) @ err) + dbt if fit_intercept else 0.0
    per, digits, icpt_digits = coefficient_digits(w[:, None], np.array([intercept]),
                                                  err[:, None], np.array([db]), spread,
                                                  fit_intercept, np.array([ib]))
    rel = normwise_error(w[:, None], err[:, None], spread, fit_intercept, np.array([ib]),
                         np.array([dbt]))
    out.update(coef_error=err, intercept_error=db if fit_intercept else None,
               coef_rel_error=rel, digits=digits, coef_digits=per[:, 0],
               intercept_digits=int(icpt_digits[0]) if fit_intercept else None)
    return out

