"""Every code block of README.md and docs/*.md runs as written (issue 11, item 4).

Python blocks run in order, one namespace per page, in a fresh folder that holds the files the
pages name (``data.csv``: the tutorial's 100 points; ``data/*.parquet`` and ``data/*.csv``,
``houses.parquet``, ``new.csv``: small tables with the columns the examples use).  Shell
blocks: every ``gradfit ...`` line runs in-process and must exit with status 0, except the
lines that need what a test machine has not (``--dask``: a cluster; ``cat ... |``: a pipe)
and the ``make`` lines.  docs/tables.md and docs/cli.md's ``console`` blocks, with their
printed output, are tests/test_docs_tables.py's.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import cli

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md"] + sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")
                               if p.name != "tables.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SHELL = ("", "bash", "sh", "shell")
NOT_HERE = {"--dask": "needs a Dask cluster", "| gradfit": "reads a pipe",
            "s3://": "needs the network"}


def blocks(page: str, kinds) -> list[str]:
    text = (REPO / page).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang in kinds]


def shell_lines(page: str) -> list[str]:
    out = []
    for block in blocks(page, SHELL):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            # a synopsis (gradfit fit DATA --target COL [options]) is no command
            synopsis = "[" in line or re.search(r"(^| )[A-Z]{3,}( |$)", line)
            if line.startswith("gradfit ") and not synopsis:
                out.append(line)
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with the files the pages name."""
    from gradfit.datasets import load_tutorial

    where = tmp_path_factory.mktemp("docs_blocks")
    X, y = load_tutorial(as_frame=True, return_X_y=True)
    pd.concat([X, y], axis=1).to_csv(where / "data.csv", index=False)
    X.iloc[:10].to_csv(where / "new.csv", index=False)
    rng = np.random.default_rng(0)
    (where / "data").mkdir()
    for i in range(3):
        n = 400
        t = pd.DataFrame({"area": rng.uniform(30, 200, n), "rooms": rng.integers(1, 7, n),
                          "age": rng.uniform(0, 80, n), "w": rng.uniform(0.5, 2, n)})
        t["weight"] = t["w"]
        t["price"] = 3 * t.area + 12 * t.rooms - 0.5 * t.age + 40 + rng.normal(0, 5, n)
        t["y"] = t["price"] / 100
        t.to_parquet(where / "data" / f"part-{i}.parquet")
        t.to_csv(where / "data" / f"part-{i}.csv", index=False)
        if i == 0:
            t[["area", "rooms", "price"]].to_parquet(where / "houses.parquet")
    # docs/tables.md's own examples write the files docs/cli.md's formula lines read
    with inside(where), contextlib.redirect_stdout(io.StringIO()):
        namespace: dict = {}
        for block in blocks("docs/tables.md", ("python",)):
            exec(compile(block, "docs/tables.md", "exec"), namespace)
    return where


@contextlib.contextmanager
def inside(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


PY_PAGES = [p for p in PAGES if blocks(p, ("python",))]


@pytest.mark.parametrize("page", PY_PAGES)
def test_python_blocks_run(page, folder, tmp_path):
    namespace: dict = {"__name__": "__docs__"}
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    with inside(work), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a page may show a fit that warns: it still runs
        try:
            for i, block in enumerate(blocks(page, ("python",))):
                code = compile(block, f"{page}[python block {i}]", "exec")
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(code, namespace)
        finally:  # a page's Dask client and cluster
            for value in namespace.values():
                if type(value).__name__ == "Client" and hasattr(value, "cluster"):
                    cluster = value.cluster
                    value.close()
                    if cluster is not None:
                        cluster.close()


SHELL_CASES = [(p, line) for p in PAGES for line in shell_lines(p)]


@pytest.mark.parametrize("page,line", SHELL_CASES)
def test_shell_lines_run(page, line, folder, capsys, tmp_path):
    for key, why in NOT_HERE.items():
        if key in line:
            pytest.skip(f"{line!r} {why}")
    argv = shlex.split(line)[1:]
    if ">" in argv:
        argv = argv[:argv.index(">")]
    work = tmp_path / "work"
    shutil.copytree(folder, work)  # each line in its own copy: no order between the tests
    with inside(work):
        if "model.json" in argv and "--save" not in argv:  # the model the page saved before
            assert cli(capsys, "fit", "data.csv", "-t", "y", "--save", "model.json")[0] == 0
        code, out, err = cli(capsys, *argv)
    assert code == 0, (line, err)
