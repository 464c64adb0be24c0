"""The house plan (ARCHITECTURE.md): the core never imports a face, never prints, never reads
files, never plots.  Checked on the source, so a violation fails here, not in review."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gradfit"
CORE = ["losses", "penalties", "objective", "optimizers", "schedules", "engine", "exact",
        "sources", "result", "kernels", "kernels_numba", "api", "second_order", "validation",
        "exceptions", "backends/__init__", "columns"]
FACES = ("gradfit.cli", "gradfit.charts", "gradfit.report", "gradfit.estimators",
         "gradfit.io", "gradfit.inference")
FORBIDDEN_MODULES = ("matplotlib", "altair", "rich", "pandas.io", "pyarrow", "dask")


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_face_and_no_io(module):
    path = SRC / f"{module}.py"
    if not path.exists():
        pytest.skip(f"{module} not present")
    tree = ast.parse(path.read_text())
    for name in _imports(tree):
        assert not name.startswith(FACES), f"{module} imports the face {name}"
        assert not name.startswith(FORBIDDEN_MODULES), f"{module} imports {name}"
    calls = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "print" not in calls, f"{module} prints"
    assert "open" not in calls, f"{module} opens files"
