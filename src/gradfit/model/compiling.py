"""How gradfit's numba code is compiled: cached on disk, vectorised, and announced once.

numba is a core dependency: gradfit's hot loops (:mod:`gradfit.model.kernels_numba`,
:mod:`gradfit.solvers.minibatch_numba`) are compiled for the machine on first use.

- **Cached** (``cache=True``): the machine code goes to numba's on-disk cache, so a later
  process loads it (well under a second) instead of compiling again.  numba writes the cache
  beside the source (``__pycache__``), else under the user's cache folder, else under
  ``NUMBA_CACHE_DIR`` when that is set.  Where none of them is writable (a read-only
  installation and home; numba then refuses ``cache=True`` at import), :func:`jit` compiles
  without a cache, and so it does from the first failed read or write of the cache folder
  (it vanished or became unwritable after numba checked it): every process then pays the
  compile again, and the note below says so.
- **Vectorised across lanes** (:func:`entry` with ``vectorize=True``): numba leaves LLVM's SLP
  vectoriser off; gradfit's pass kernel is written as independent 4-lane groups (4 rows of
  the prediction, 4 columns of the gradient) that the SLP vectoriser turns into vector
  instructions.  It is switched on (``numba.config.SLP_VECTORIZE``) only while gradfit's own
  entry points compile.  The vectoriser never reorders floating-point operations (no
  fast-math), so the results are the same bits with or without it: only the speed differs.
- **Announced**: when a compile actually runs (a cold cache; loading from the cache is
  silent), one :class:`gradfit.exceptions.CompilationWarning` says so and roughly how long it
  takes; silence it with ``warnings.filterwarnings("ignore", category=CompilationWarning)``.

Nothing here prints or opens a file: numba does the caching.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings

from gradfit.exceptions import CompilationWarning

__all__ = ["COMPILE_SECONDS", "caching", "entry", "jit"]

COMPILE_SECONDS = "about 20-60 s on 2 cores"  # the cold compile of every kernel (make bench)
_state = {"caching": True, "noted": False}
_LOCK = threading.RLock()
_DISPATCHERS = []  # every dispatcher made by jit(): caching is switched off for all at once

try:  # numba is a core dependency; guarded so that a broken install still gives numpy
    import numba
    from numba.core import config as _config
    from numba.core import event as _event
except Exception:  # pragma: no cover - exercised in a subprocess test
    numba = None


def caching() -> bool:
    """True while numba has found a writable cache folder for gradfit's functions."""
    return _state["caching"]


def jit(**options):
    """``numba.njit(cache=True, **options)``, or without the cache where numba has no
    writable cache folder (numba raises at decoration then: "no locator available")."""

    def decorate(fn):
        dispatcher = None
        if _state["caching"]:
            try:
                dispatcher = numba.njit(cache=True, **options)(fn)
            except RuntimeError:  # no writable cache folder: compile in memory only
                _stop_caching()
        if dispatcher is None:
            dispatcher = numba.njit(cache=False, **options)(fn)
        _DISPATCHERS.append(dispatcher)
        return dispatcher

    return decorate


def _stop_caching():
    """Compile in memory from now on: the cache folder numba chose cannot be used (it
    vanished, or became unwritable, after numba checked it at import)."""
    _state["caching"] = False
    from numba.core.caching import NullCache

    for dispatcher in _DISPATCHERS:
        dispatcher._cache = NullCache()


_INSIDE = ("gradfit.", "numba", "llvmlite", "contextlib", "concurrent.", "threading")


def _outside_level() -> int:
    """The ``stacklevel`` of the first frame outside gradfit and numba (the user's line)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level if frame is not None else 2


def _ours(dispatcher) -> bool:
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module.startswith("gradfit.")


if numba is not None:

    class _CompileNote(_event.Listener):
        """Warns once per process when numba starts compiling one of gradfit's functions
        (numba raises the "numba:compile" event only on a cache miss)."""

        def on_start(self, event):
            if _state["noted"] or not _ours(event.data.get("dispatcher")):
                return
            _state["noted"] = True
            where = ("numba caches the result, so this happens once per machine"
                     if _state["caching"] else
                     "numba found no writable cache folder (set NUMBA_CACHE_DIR to one), so "
                     "every new process compiles again")
            warnings.warn(f"gradfit is compiling its numba kernels for this machine "
                          f"({COMPILE_SECONDS}); {where}", CompilationWarning,
                          stacklevel=_outside_level())

        def on_end(self, event):
            pass


@contextlib.contextmanager
def _compiling(vectorize: bool):
    """numba's SLP vectoriser on (when asked) and the compile note armed, for one compile."""
    old = _config.SLP_VECTORIZE
    if vectorize:
        _config.SLP_VECTORIZE = 1
    try:
        with _event.install_listener("numba:compile", _CompileNote()):
            yield
    finally:
        _config.SLP_VECTORIZE = old


class _Entry:
    """A compiled entry point whose new signatures compile under :func:`_compiling`.

    Calls go straight to numba's dispatcher with compiling disabled; a call whose argument
    types have no compiled version yet (numba raises "No matching definition") compiles it,
    or loads it from the cache, inside :func:`_compiling`, then runs."""

    def __init__(self, dispatcher, vectorize):
        self.dispatcher = dispatcher
        self.vectorize = vectorize
        self.ready = False  # compiling is disabled once a first signature exists
        self.__wrapped__ = dispatcher
        self.__name__ = dispatcher.__name__
        self.__doc__ = dispatcher.__doc__

    def __call__(self, *args, **kwargs):
        if self.ready:
            try:
                return self.dispatcher(*args, **kwargs)
            except TypeError as e:
                if not str(e).startswith("No matching definition"):
                    raise
        with _LOCK:
            self.dispatcher.disable_compile(False)
            try:
                with _compiling(self.vectorize):
                    try:
                        return self.dispatcher(*args, **kwargs)
                    except OSError:  # reading or writing numba's cache failed
                        if not _state["caching"]:
                            raise
                        _stop_caching()
                        return self.dispatcher(*args, **kwargs)
            finally:
                if self.dispatcher.signatures:
                    self.dispatcher.disable_compile(True)
                    self.ready = True


def entry(vectorize: bool = False, **options):
    """Decorator: :func:`jit` (``nogil=True``, ``fastmath=False`` unless given) wrapped as an
    entry point (see :class:`_Entry`); ``vectorize`` compiles it with the SLP vectoriser."""
    options = {"nogil": True, "fastmath": False, **options}

    def decorate(fn):
        return _Entry(jit(**options)(fn), vectorize)

    return decorate
