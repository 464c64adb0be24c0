"""Where rows come from: in-memory arrays, CSV / Parquet files (streamed, cached), Dask.

Every source is a backend (``map_reduce`` and ``minibatches``); the solvers see nothing else.
"""


def as_backend(X, y=None, sample_weight=None, **options):
    """Any supported source of rows as a backend; see :mod:`gradfit.data.convert`."""
    from gradfit.data.convert import as_backend as convert

    return convert(X, y, sample_weight, **options)
