"""Where rows come from: in-memory arrays, CSV / Parquet files (streamed, cached), Dask.

Every source is a backend (``map_reduce`` and ``minibatches``); the solvers see nothing else.
"""
