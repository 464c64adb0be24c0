"""The import paths of gradfit 0.1 still work for one release: each old name is the module at
its new place (the same object), with a DeprecationWarning naming the new path."""

import importlib
import sys

import pytest

from gradfit._aliases import OLD_PATHS


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_path_is_the_new_module(old, monkeypatch):
    new = importlib.import_module(OLD_PATHS[old])
    for name in [m for m in sys.modules if m == old or m.startswith(old + ".")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.warns(DeprecationWarning, match=OLD_PATHS[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    if hasattr(module, "__path__"):  # an old package: its attributes are the new module's
        assert all(getattr(module, n) is getattr(new, n) for n in dir(new) if n[0] != "_")
    else:
        assert module is new


def test_old_names_resolve_through_the_old_package(monkeypatch):
    for name in ("gradfit.backends", "gradfit.backends.files"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.warns(DeprecationWarning, match="gradfit.data.files"):
        files = importlib.import_module("gradfit.backends.files")
    from gradfit.data.files import FileBackend

    assert files.FileBackend is FileBackend


# The public names of the 0.1 modules whose code was split or moved since: each old path
# still offers every one of them.
OLD_NAMES = {
    "gradfit.io.streaming": [
        "COMPRESSED_SUFFIXES", "CSV_RANGE_BYTES", "CSV_SUFFIXES", "PARQUET_GROUP_BYTES", "SHOW",
        "ColumnPlan", "FileState", "ReadOptions", "check_unchanged", "expand_paths",
        "file_kind", "read_ahead", "read_column_names", "read_file", "scan_file"],
    "gradfit.io.tables": [
        "PARQUET_MAGIC", "PARQUET_SUFFIXES", "Table", "closest_names", "frame_to_matrix",
        "read_frame", "read_magic", "read_matrix", "read_table"],
    "gradfit.backends.files": [
        "BUFFER_BYTES", "CACHE_READ_ROWS", "CACHE_VERSION", "FileBackend", "auto_cache_folder"],
}


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_old_path_keeps_its_public_names(old, monkeypatch):
    for name in [m for m in sys.modules if m == old or m.startswith(old + ".")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.warns(DeprecationWarning):
        module = importlib.import_module(old)
    missing = [n for n in OLD_NAMES[old] if not hasattr(module, n)]
    assert not missing, f"{old} lost {missing}"
