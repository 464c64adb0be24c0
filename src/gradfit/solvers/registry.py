"""The solvers, one record each: the single source of truth for what a solver can do.

Validation, the CLI's choices, ``partial_fit``'s availability, checkpoint support, the
automatic rate and the compiled mini-batch epoch all read this table; a new update rule is one
function in ``gradfit.solvers.optimizers`` plus one :func:`register_solver` line here.

kind
    "first_order" (the one training loop, ``gradfit.solvers.engine``), "lbfgs", "cg"
    (``gradfit.solvers.second_order``), "closed_form" (``gradfit.solvers.exact``) or
    "working_set" (``gradfit.solvers.working_set``: in-memory data, full batches).
make_optimizer
    ``(params, minibatch) -> Optimizer`` for first-order solvers.
incremental
    ``partial_fit`` can run it (one epoch per chunk).
checkpointable
    Its loop state can be saved and resumed (the first-order loop's).
smooth_only / squared_only
    It needs a smooth penalty (no L1) / the squared loss.
auto_rate
    How ``learning_rate="auto"`` is set: "lipschitz" (1/L, or 1/L(B) for mini-batches) or
    "spread" (``spread_share`` x the targets' standard deviation, for the per-coordinate
    normalised rules whose steps are about lr whatever the gradient's scale); None where no
    rate is used.
schedule
    What ``schedule="auto"`` means for it: "auto" (constant on full batches, decaying on
    mini-batches), or a schedule name (AdaGrad decays its steps itself: "constant").
reaches_optimum
    With its automatic settings it converges to the optimum on full batches (RMSProp's
    constant-rate steps keep an orbit of about the rate's size around it, and report so).
compiled
    Its code in the compiled mini-batch epoch (``gradfit.solvers.minibatch_numba``), or None
    (the Python epoch runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradfit.solvers import optimizers

__all__ = ["SolverSpec", "SOLVERS", "register_solver", "get_solver", "names", "resolve"]


@dataclass(frozen=True)
class SolverSpec:
    name: str
    kind: str
    summary: str
    make_optimizer: Callable | None = None
    incremental: bool = False
    checkpointable: bool = False
    smooth_only: bool = False
    squared_only: bool = False
    auto_rate: str | None = None
    spread_share: float = 0.05
    schedule: str = "auto"
    reaches_optimum: bool = True
    compiled: int | None = None

    @property
    def first_order(self) -> bool:
        return self.kind == "first_order"


SOLVERS: dict[str, SolverSpec] = {}


def register_solver(spec: SolverSpec) -> SolverSpec:
    """Add (or replace) a solver in the table."""
    if spec.kind not in ("first_order", "lbfgs", "cg", "closed_form", "working_set"):
        raise ValueError(f"unknown solver kind {spec.kind!r}")
    if spec.first_order and spec.make_optimizer is None:
        raise ValueError(f"first-order solver {spec.name!r} needs make_optimizer")
    SOLVERS[spec.name] = spec
    return spec


def get_solver(name) -> SolverSpec:
    try:
        return SOLVERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"solver={name!r} is not known; use one of {names()}") from None


def resolve(solver) -> SolverSpec:
    """The record of ``solver``: a registered name, a SolverSpec, or an
    :class:`~gradfit.solvers.optimizers.Optimizer` (an update rule of your own, run by the
    training loop with the 1/L rate)."""
    if isinstance(solver, SolverSpec):
        return solver
    if isinstance(solver, optimizers.Optimizer):
        return SolverSpec(solver.name, "first_order", f"the update rule {solver.name!r}",
                          lambda p, mb, _opt=solver: _opt, incremental=True, checkpointable=True,
                          auto_rate="lipschitz")
    return get_solver(solver)


def names(predicate=None) -> tuple[str, ...]:
    """Solver names, in registration order, optionally those where ``predicate(spec)``."""
    return tuple(n for n, s in SOLVERS.items() if predicate is None or predicate(s))


def _first_order(name, summary, make, *, compiled=None, auto_rate="lipschitz",
                 reaches_optimum=True, schedule="auto", spread_share=0.05):
    return register_solver(SolverSpec(name, "first_order", summary, make, incremental=True,
                                      checkpointable=True, auto_rate=auto_rate,
                                      spread_share=spread_share, schedule=schedule,
                                      reaches_optimum=reaches_optimum, compiled=compiled))


_first_order("gd", "plain (proximal) gradient descent", lambda p, mb: optimizers.gd(),
             compiled=0)
_first_order("momentum", "heavy-ball momentum", lambda p, mb: optimizers.momentum(p.momentum),
             compiled=1)
_first_order("nesterov", "accelerated gradient: FISTA with adaptive restart (full batch), "
             "Nesterov momentum (mini-batches)",
             lambda p, mb: optimizers.nesterov(p.momentum if mb else None), compiled=2)
_first_order("adam", "Adam, with its prox in Adam's own metric",
             lambda p, mb: optimizers.adam(), compiled=3, auto_rate="spread")
register_solver(SolverSpec("lbfgs", "lbfgs", "scipy's L-BFGS-B (smooth penalties)",
                           smooth_only=True))
register_solver(SolverSpec("cg", "cg", "conjugate gradients on the normal equations",
                           smooth_only=True, squared_only=True))
register_solver(SolverSpec("exact", "closed_form", "closed-form least squares / ridge",
                           smooth_only=True, squared_only=True))
_first_order("rmsprop", "RMSProp, with its prox in its own metric",
             lambda p, mb: optimizers.rmsprop(), auto_rate="spread", reaches_optimum=False,
             schedule="inverse_scaling")
_first_order("adagrad", "AdaGrad, with its prox in its own metric",
             lambda p, mb: optimizers.adagrad(), auto_rate="spread", schedule="constant",
             spread_share=0.2)
register_solver(SolverSpec("cd", "working_set", "coordinate descent on working sets with "
                           "gap-safe screening (in memory; what nesterov runs for l1 and "
                           "elasticnet there)", squared_only=True))
