"""Reading data tables and reading/writing model files.

- :func:`read_table` -- CSV / Parquet / stdin into a float64 :class:`Table`, with clear
  errors for bad input.
- :func:`save_model` / :func:`load_model` -- versioned JSON model files (never pickle).
"""

from gradfit.data.tables import (
    Table,
    closest_names,
    frame_to_matrix,
    read_frame,
    read_matrix,
    read_table,
)
from gradfit.io.model_file import (
    MODEL_FORMAT,
    SCHEMA_VERSION,
    LoadedModel,
    load_model,
    save_model,
    train_data_hash,
)

__all__ = [
    "MODEL_FORMAT",
    "SCHEMA_VERSION",
    "LoadedModel",
    "Table",
    "closest_names",
    "frame_to_matrix",
    "load_model",
    "read_frame",
    "read_matrix",
    "read_table",
    "save_model",
    "train_data_hash",
]
