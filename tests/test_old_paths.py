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
