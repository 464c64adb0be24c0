"""The training loop's state: one typed record, owned by the engine.

:func:`gradfit.solvers.engine.train` keeps everything it carries from one epoch to the next in
a :class:`LoopState`; the checkpoint hook receives it after each epoch, and a loop resumed from
it (``LoopConfig.resume_state``) ends exactly where the uninterrupted run would have.
``gradfit.fitting.checkpoint`` writes and reads it (numbers, arrays and None by kind, so a
field added here is saved without touching the checkpoint code).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

import numpy as np

from gradfit.exceptions import InputError
from gradfit.model.result import History

__all__ = ["LoopState"]


@dataclass
class LoopState:
    """The training loop's state at the end of an epoch.

    Attributes
    ----------
    epoch : int
        Epochs completed.
    P : ndarray (p, k)
        Parameters in the solver's coordinates (where the last gradient was taken).
    state : NamedTuple or tuple, or dict
        The optimizer's state; after loading a checkpoint a dict ``{"type", "fields"}``
        until :meth:`bind` rebuilds the NamedTuple for an optimizer.
    f, g : float, ndarray
        The objective and the gradient of its smooth part at ``P`` (full batch) or at the
        reported point (mini-batches).
    f_start, G0 : float
        The objective and the gradient mapping's norm at the start.
    lr, step_ref : float
        The last rate, and the step the gradient mapping is measured with.
    history : History
    avg : ndarray or None
        Running Polyak-Ruppert average; ``n_avg`` its count.
    best_val, best_P : float, ndarray or None
        Early stopping: the best held-out loss and its parameters.
    no_change : int
        Epochs without improvement (of whatever the stopping rule watches).
    best_f : float
        Mini-batches: the best objective seen.
    best_G, best_iter_P, best_epoch : float, ndarray or None, int
        Full batch: the smallest gradient-mapping norm seen, the parameters where it was
        measured and the epoch: what a stalled fit returns.
    target_epoch : int
        The first epoch at which the certified accuracy target was met (-1: not yet).
    checked_G : float
        The gradient norm when the certified distance was last estimated.
    info : dict
        Counters (line-search trials, restarts).
    rng_state : dict
        ``np.random.Generator.bit_generator.state`` (filled in when the state is handed out).
    elapsed : float
        Seconds since the start (likewise).
    extra : dict
        Variables of a checkpoint that this version of the loop does not know.
    """

    epoch: int
    P: np.ndarray
    state: object
    f: float
    g: np.ndarray
    f_start: float
    lr: float
    step_ref: float
    G0: float
    history: History
    avg: np.ndarray | None = None
    n_avg: int = 0
    best_val: float = np.inf
    best_P: np.ndarray | None = None
    no_change: int = 0
    best_f: float = np.inf
    best_G: float = np.inf
    best_iter_P: np.ndarray | None = None
    best_epoch: int = 0
    target_epoch: int = -1
    checked_G: float = np.inf
    info: dict = field(default_factory=dict)
    rng_state: dict | None = None
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)

    STRUCTURED = ("state", "history", "info", "rng_state", "extra")

    @classmethod
    def from_dict(cls, values: dict) -> LoopState:
        """A state from a dict of its fields; unknown keys go to ``extra``."""
        names = {f.name for f in fields(cls)} - {"extra"}
        missing = {f.name for f in fields(cls) if f.default is MISSING
                   and f.default_factory is MISSING} - set(values)
        if missing:
            raise ValueError(f"the loop's state lacks {sorted(missing)}")
        return cls(**{k: v for k, v in values.items() if k in names},
                   extra={k: v for k, v in values.items() if k not in names})

    def to_dict(self) -> dict:
        """The fields (and extras) as one dict: the inverse of :meth:`from_dict`."""
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"},
                **self.extra}

    from_engine = from_dict  # the names of gradfit 0.1's checkpoint.LoopState
    to_engine = to_dict

    def plain(self) -> dict:
        """Every variable but the structured ones (numbers, arrays and None)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in self.STRUCTURED}, **self.extra}

    def bind(self, optimizer) -> LoopState:
        """Rebuild the optimizer's NamedTuple state (after loading) for ``optimizer``.

        Raises
        ------
        InputError
            When the state is that of another update rule.
        """
        if not isinstance(self.state, dict):
            return self
        template = optimizer.init(self.P)
        name = type(template).__name__
        saved = self.state
        want = list(getattr(template, "_fields", ()))
        if saved["type"] != name or sorted(saved["fields"]) != sorted(want):
            raise InputError(f"the checkpoint holds the state of another optimizer "
                             f"({saved['type']}, not {name}): resume with the same solver")
        self.state = type(template)(**saved["fields"]) if want else template
        return self
