"""Arrays in memory as a backend: :class:`InMemory` (the whole arrays, one block) and
:class:`RowSubset` (some of their rows, without a copy).  They implement the protocol of
``gradfit.model.backend`` (where they are defined, beside it: the reference backend that the
closed form and the compiled epoch also use); this module is their public place in the data
package, with the files' and Dask's backends.
"""

from gradfit.model.backend import InMemory, RowSubset, add

__all__ = ["InMemory", "RowSubset", "add"]
