"""gradfit: linear regression by gradient descent, to understand it, trust it and scale it.

The public names load on first use (PEP 562), so ``import gradfit`` stays fast: scikit-learn,
pandas and the compiled kernels are imported only when a name that needs them is touched.
"""

from __future__ import annotations

import importlib

from gradfit import _aliases
from gradfit._version import __version__
from gradfit.exceptions import DivergenceError, InputError

_aliases.install()

_LAZY = {
    "GDRegressor": "gradfit.estimators",
    "fit": "gradfit.fitting.api",
    "fit_files": "gradfit.fitting.files",
    "lasso_path": "gradfit.fitting.path",
    "FitResult": "gradfit.model.result",
    "History": "gradfit.model.result",
    "ConvergenceWarning": "gradfit.exceptions",
    "as_backend": "gradfit.data",
    "evaluate": "gradfit.fitting.evaluation",
}

__all__ = ["GDRegressor", "fit", "fit_files", "as_backend", "lasso_path", "evaluate",
           "FitResult", "History", "DivergenceError", "InputError", "ConvergenceWarning",
           "__version__"]


_SUBMODULES = ("plot", "datasets")  # gradfit.plot and gradfit.datasets without an import


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"gradfit.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gradfit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
