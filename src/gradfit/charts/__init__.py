"""Charts of a fit (Altair), rendered offline to PNG / SVG by vl-convert.

Build a :class:`FitView` from the data and the :class:`~gradfit.FitResult` objects, then
call :func:`build_charts` or one chart function, or write files with :func:`write_pngs`
and :func:`write_svgs`.
"""

from gradfit.charts.export import build_charts, write_pngs, write_svgs
from gradfit.charts.fit import fitted_line_chart, residuals_chart
from gradfit.charts.loss import loss_curve_chart
from gradfit.charts.path import descent_path_chart
from gradfit.charts.view import FitView

__all__ = ["FitView", "fitted_line_chart", "loss_curve_chart", "descent_path_chart",
           "residuals_chart", "build_charts", "write_pngs", "write_svgs"]
