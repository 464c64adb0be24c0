"""The 0.1 module ``gradfit.inference`` (now ``gradfit.stats.inference``): its public names,
re-exported from the modules of :mod:`gradfit.stats` that now hold them.

* :mod:`gradfit.stats.sufficient` — :class:`InferenceStats`, the mergeable statistics;
* :mod:`gradfit.stats.results` — :class:`Summary`, :func:`summarize`, :func:`summary_from_stats`;
* :mod:`gradfit.stats.covariance` — ``COV_TYPES`` and the covariance estimators;
* :mod:`gradfit.stats.intervals` — :func:`prediction_intervals`.
"""

from gradfit.stats.covariance import COV_TYPES
from gradfit.stats.intervals import prediction_intervals
from gradfit.stats.results import Summary, summarize, summary_from_stats
from gradfit.stats.sufficient import AUTO_EXTENDED_LIMIT, InferenceStats

__all__ = [
    "AUTO_EXTENDED_LIMIT",
    "COV_TYPES",
    "InferenceStats",
    "Summary",
    "prediction_intervals",
    "summarize",
    "summary_from_stats",
]
