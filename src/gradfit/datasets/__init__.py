"""Small data sets shipped with gradfit, loaded without any network access.

:func:`load_tutorial` is the 100-point data set of the classic gradient-descent tutorial
(the one ``gradfit demo`` and ``docs/tutorial.ipynb`` use); its provenance and published
results are in ``DESCR``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_tutorial", "TUTORIAL_PUBLISHED"]

#: The tutorial's published results: batch gradient descent on the mean squared error from
#: b = 0, m = 0 with learning rate 1e-4 (see ``load_tutorial().DESCR``).
TUTORIAL_PUBLISHED = {
    "learning_rate": 1e-4, "iterations": 1000,
    "start_error": 5565.107834483211,
    "b": 0.08893651993741346, "m": 1.4777440851894448, "error": 112.61481011613473,
}


def _file(name: str):
    return resources.files(__name__).joinpath("data", name)


def load_tutorial(*, as_frame: bool = False, return_X_y: bool = False):
    """The tutorial's 100 points ``(x, y)``: one feature, one target.

    Parameters
    ----------
    as_frame : bool, default False
        True: ``data`` is a DataFrame with the column ``x``, ``target`` a Series ``y``, and
        ``frame`` the whole table (scikit-learn's convention).
    return_X_y : bool, default False
        True: return ``(data, target)`` instead of the Bunch.

    Returns
    -------
    sklearn.utils.Bunch or (data, target)
        Bunch fields: ``data`` (100, 1), ``target`` (100,), ``feature_names`` ``["x"]``,
        ``target_names`` ``["y"]``, ``frame`` (None unless `as_frame`), ``DESCR``
        (provenance and the published results), ``filename``.

    Examples
    --------
    >>> from gradfit.datasets import load_tutorial
    >>> X, y = load_tutorial(return_X_y=True)
    >>> X.shape, y.shape
    ((100, 1), (100,))
    """
    from sklearn.utils import Bunch

    path = _file("tutorial.csv")
    with resources.as_file(path) as p:
        table = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2)
    X, y = table[:, :1], table[:, 1]
    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame({"x": table[:, 0], "y": y})
        X, y = frame[["x"]], frame["y"]
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, frame=frame, feature_names=["x"], target_names=["y"],
                 DESCR=_file("README.md").read_text(encoding="utf-8"),
                 filename=str(path))
