"""The import paths of gradfit 0.1, kept for one release.

gradfit 0.2 moved its modules into subpackages that show the flow (``model``, ``data``,
``solvers``, ``fitting``, ``stats``).  ``import gradfit.engine`` and the like still work: the
finder below answers each old name with the module at its new place (the same module object)
and warns once with a DeprecationWarning that names the new path.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings

OLD_PATHS = {
    "gradfit.api": "gradfit.fitting.api",
    "gradfit.backends": "gradfit.data.memory",
    "gradfit.backends.dask": "gradfit.data.dask",
    "gradfit.backends.files": "gradfit.data.files",
    "gradfit.checkpoint": "gradfit.fitting.checkpoint",
    "gradfit.columns": "gradfit.model.columns",
    "gradfit.dask_fit": "gradfit.fitting.dask",
    "gradfit.engine": "gradfit.solvers.engine",
    "gradfit.exact": "gradfit.solvers.exact",
    "gradfit.inference": "gradfit.stats.inference",
    "gradfit.io.fit_files": "gradfit.fitting.files",
    "gradfit.io.streaming": "gradfit.data.readers",
    "gradfit.io.tables": "gradfit.data.tables",
    "gradfit.kernels": "gradfit.model.kernels",
    "gradfit.kernels_numba": "gradfit.model.kernels_numba",
    "gradfit.losses": "gradfit.model.losses",
    "gradfit.minibatch_numba": "gradfit.solvers.minibatch_numba",
    "gradfit.objective": "gradfit.model.objective",
    "gradfit.optimizers": "gradfit.solvers.optimizers",
    "gradfit.partial": "gradfit.fitting.partial",
    "gradfit.penalties": "gradfit.model.penalties",
    "gradfit.result": "gradfit.model.result",
    "gradfit.schedules": "gradfit.solvers.schedules",
    "gradfit.second_order": "gradfit.solvers.second_order",
    "gradfit.sources": "gradfit.solvers.sources",
    "gradfit.validation": "gradfit.data.validation",
}


class _AliasLoader:
    """Loads an old name as the module at its new place.  An old package name that had
    submodules (``gradfit.backends``) stays a small package whose attributes are the new
    module's, so ``gradfit.backends.files`` still resolves."""

    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        return None  # a plain module; exec_module swaps it for the new one

    def exec_module(self, module):
        target = importlib.import_module(self.new)
        prefix = module.__name__ + "."
        if any(old.startswith(prefix) for old in OLD_PATHS):
            module.__path__ = []
            module.__getattr__ = lambda name: getattr(target, name)
            module.__doc__ = target.__doc__
        else:
            sys.modules[module.__name__] = target


class OldPathFinder:
    """Resolve the 0.1 module paths to the 0.2 modules."""

    def find_spec(self, fullname, path=None, target=None):
        new = OLD_PATHS.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}; the old path goes in gradfit 0.3",
                      DeprecationWarning, stacklevel=2)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, OldPathFinder) for f in sys.meta_path):
        sys.meta_path.append(OldPathFinder())
