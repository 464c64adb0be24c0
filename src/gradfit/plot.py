"""Charts of fitted models in one line, for notebooks: each function returns an Altair chart.

>>> import gradfit.plot as gp
>>> model = gradfit.GDRegressor(solver="gd").fit(X, y)
>>> gp.fitted_line(model, X, y)                      # the data and the fitted line
>>> gp.loss_curve({"gd": gd, "momentum": mom})        # several fits overlaid
>>> gp.descent_path([gd, mom], X, y, coords=("x1", "x3"))
>>> gp.explore(model, X, y).save("fit.html", inline=True)   # the linked iteration slider

`model` is a fitted :class:`gradfit.GDRegressor`, a :class:`gradfit.FitResult`, a fitted
scikit-learn linear model (``coef_`` / ``intercept_``), or several of them: a dict
``{name: model}`` (legend order) or a list (named after their solver).  Unless ``exact=False``,
the closed-form optimum of the same problem is added as the reference ("exact": a dashed
black line, the diamond at the bottom of the contours, F* of the loss gap) when none of the
models is exact.  A fitted estimator also offers the same charts as ``model.plot.NAME(X, y)``.

The charts display with Altair's active renderer: inline in Jupyter, JupyterLab and VS Code.
Their data are inlined in the spec (no file or URL).  Altair's default renderer loads the
Vega JavaScript from a CDN; offline, ``alt.renderers.enable("html", template="inline")``
inlines it (as gradfit's HTML report does).  ``chart.save("c.png")`` / ``"c.svg"`` render
offline with vl-convert; ``chart.save("c.html", inline=True)`` writes a page that needs no
network.

These functions draw with the chart builders of :mod:`gradfit.charts` and
:mod:`gradfit.report` (the same charts as ``gradfit fit --plots`` and the HTML report).
"""

from __future__ import annotations

import altair as alt

from gradfit.charts.fit import fitted_line_chart, residuals_chart
from gradfit.charts.loss import loss_curve_chart
from gradfit.charts.models import make_view
from gradfit.charts.path import descent_path_chart
from gradfit.report.interactive import report_chart

__all__ = ["fitted_line", "loss_curve", "descent_path", "residuals", "explore", "view",
           "ModelPlots"]


def view(model, X, y, *, exact: bool = True, sample_weight=None, feature_names=None,
         target_name=None, title=None, start=None):
    """The :class:`gradfit.charts.FitView` the functions below draw (for the report, or
    for :func:`gradfit.charts.write_pngs`); arguments as in :func:`fitted_line`."""
    return make_view(model, X, y, what="view", exact=exact, sample_weight=sample_weight,
                     feature_names=feature_names, target_name=target_name, title=title,
                     start=start)


def fitted_line(model, X, y, *, exact: bool = True, sample_weight=None, feature_names=None,
                target_name=None, start=None) -> alt.LayerChart:
    """The data and each model's line (one feature), or predicted against actual (several).

    Parameters
    ----------
    model : GDRegressor, FitResult, fitted scikit-learn linear model, or a dict / list of them
    X : array-like or DataFrame, shape (n, d) or (n,)
        The data the models were fitted on (column names label the axes).
    y : array-like or Series, shape (n,)
    exact : bool, default True
        Add the closed-form optimum as a dashed reference line when no model is exact.
    sample_weight : array-like of shape (n,), optional
        Drawn as point size; also weights the exact reference.
    feature_names, target_name : optional
        Axis labels (default: DataFrame columns / Series name, else x1..xd and y).
    start : (coef, intercept), optional
        A starting guess to draw dotted.

    Returns
    -------
    altair.LayerChart
    """
    return fitted_line_chart(make_view(
        model, X, y, what="fitted_line", exact=exact, sample_weight=sample_weight,
        feature_names=feature_names, target_name=target_name, start=start))


def loss_curve(model, X=None, y=None, *, exact: bool = True,
               sample_weight=None) -> alt.LayerChart:
    """The objective per iteration of each model with a history, on log scales.

    With the exact optimum F* known (an exact model among `model`, or computed from
    ``(X, y)`` when given), the gap ``F - F*`` is drawn; the iteration axis is
    symmetric-log when most of the fall happens in the first tenth of the run.

    Parameters
    ----------
    model : GDRegressor, FitResult, or a dict / list of them
    X, y : optional
        The training data: only needed for the exact optimum's F*.
    exact : bool, default True
    sample_weight : array-like, optional

    Returns
    -------
    altair.LayerChart
    """
    return loss_curve_chart(make_view(model, X, y, what="loss_curve", need_data=False,
                                      exact=exact, sample_weight=sample_weight))


def descent_path(model, X, y, *, coords=None, exact: bool = True, sample_weight=None,
                 feature_names=None, start=None) -> alt.LayerChart:
    """Each model's path over the contours of the mean squared error.

    One feature: over (slope, intercept).  Two: over the two coefficients.  More: over two
    coefficients, by default the two largest standardized ones (coefficient x the
    feature's standard deviation), or those named in `coords`; every other parameter is
    held at the optimum, and the subtitle says which parameters are shown.

    Parameters
    ----------
    model, X, y, exact, sample_weight, feature_names, start
        As in :func:`fitted_line`.
    coords : (str, str), optional
        Two feature names (``"intercept"`` for the intercept), or two indices into
        ``(coef_0, ..., coef_{d-1}, intercept)``: the x and the y axis.

    Returns
    -------
    altair.LayerChart
    """
    v = make_view(model, X, y, what="descent_path", exact=exact, sample_weight=sample_weight,
                  feature_names=feature_names, start=start)
    return descent_path_chart(v, axes=coords)


def residuals(model, X, y, *, exact: bool = True, sample_weight=None,
              feature_names=None, target_name=None) -> alt.LayerChart:
    """Residuals ``y - prediction`` against fitted values for each model (the exact
    reference is drawn only when it is the only fit).

    Parameters are as in :func:`fitted_line`.

    Returns
    -------
    altair.LayerChart
    """
    return residuals_chart(make_view(model, X, y, what="residuals", exact=exact,
                                     sample_weight=sample_weight, feature_names=feature_names,
                                     target_name=target_name))


def explore(model, X, y, *, coords=None, exact: bool = True, sample_weight=None,
            feature_names=None, target_name=None, start=None) -> alt.VConcatChart:
    """The four charts linked by an iteration slider (the HTML report's view).

    Dragging the slider moves each model's fitted line (predicted points with several
    features), its marker on the descent path and the marker on the loss curve to that
    iteration.  Parameters are as in :func:`descent_path`.

    Returns
    -------
    altair.VConcatChart
    """
    v = make_view(model, X, y, what="explore", exact=exact, sample_weight=sample_weight,
                  feature_names=feature_names, target_name=target_name, start=start)
    return report_chart(v, axes=coords)


class ModelPlots:
    """The charts of one fitted estimator: ``model.plot.fitted_line(X, y)`` and so on.

    Each method is the function of :mod:`gradfit.plot` of the same name with this model
    first; pass ``others={"name": model2, ...}`` to overlay more fits.
    """

    def __init__(self, model):
        self._model = model

    def _models(self, others):
        if not others:
            return self._model
        from gradfit.charts.models import model_name

        return {model_name(self._model): self._model, **dict(others)}

    def fitted_line(self, X, y, *, others=None, **kw):
        """See :func:`gradfit.plot.fitted_line`."""
        return fitted_line(self._models(others), X, y, **kw)

    def loss_curve(self, X=None, y=None, *, others=None, **kw):
        """See :func:`gradfit.plot.loss_curve`."""
        return loss_curve(self._models(others), X, y, **kw)

    def descent_path(self, X, y, *, others=None, **kw):
        """See :func:`gradfit.plot.descent_path`."""
        return descent_path(self._models(others), X, y, **kw)

    def residuals(self, X, y, *, others=None, **kw):
        """See :func:`gradfit.plot.residuals`."""
        return residuals(self._models(others), X, y, **kw)

    def explore(self, X, y, *, others=None, **kw):
        """See :func:`gradfit.plot.explore`."""
        return explore(self._models(others), X, y, **kw)

    def __repr__(self) -> str:
        return ("charts of this fit: .fitted_line(X, y), .loss_curve(), .descent_path(X, y), "
                ".residuals(X, y), .explore(X, y)")
