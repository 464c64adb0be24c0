"""gradfit: linear regression by gradient descent, to understand it, trust it and scale it."""

from gradfit._version import __version__
from gradfit.api import fit
from gradfit.estimators import GDRegressor
from gradfit.exceptions import ConvergenceWarning, DivergenceError, InputError
from gradfit.io.fit_files import fit_files
from gradfit.result import FitResult, History

__all__ = ["GDRegressor", "fit", "fit_files", "FitResult", "History", "DivergenceError",
           "InputError", "ConvergenceWarning", "__version__"]
