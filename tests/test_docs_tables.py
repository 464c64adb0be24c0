"""The examples of docs/tables.md and docs/cli.md run as written.

docs/tables.md's ``python`` blocks run first, in order, in a fresh folder (they write the
example files); then every ``console`` block of both pages: each ``$ gradfit ...`` line runs
in-process, and the lines shown after it must be what it printed (stdout, then stderr;
spaces around a line aside), line for line, where a line ``...`` stands for any number of
lines.  A command whose output shows ``gradfit: error:`` must exit with status 2, the others
with 0.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from cli_helpers import cli

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("tables.md", "cli.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(page: str, kind: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == kind]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """(command line, expected lines) of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line.strip())
    return out


def matches(expected: list[str], got: list[str]) -> bool:
    """``got`` is ``expected`` with each ``...`` line standing for any lines."""
    pattern = "".join(".*?" if e == "..." else re.escape(e + "\n") for e in expected)
    return re.fullmatch(pattern, "".join(g + "\n" for g in got), re.S) is not None


EXAMPLES = [(page, i, cmd, want) for page in PAGES
            for i, block in enumerate(blocks(page, "console"))
            for cmd, want in commands(block)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    where = tmp_path_factory.mktemp("docs")
    before = os.getcwd()
    os.chdir(where)
    try:
        namespace: dict = {}
        for code in blocks("tables.md", "python"):
            exec(compile(code, "docs/tables.md", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(before)
    return where


def test_the_pages_have_examples():
    assert len(EXAMPLES) >= 8 and {p for p, *_ in EXAMPLES} == set(PAGES)


@pytest.mark.parametrize("page, block, command, expected", EXAMPLES,
                         ids=[f"{p}:{c}" for p, _, c, _ in EXAMPLES])
def test_documented_command(capsys, monkeypatch, folder, page, block, command, expected):
    monkeypatch.chdir(folder)
    argv = shlex.split(command)
    assert argv[0] == "gradfit", command
    code, out, err = cli(capsys, *argv[1:])
    got = [line.strip() for line in (out + err).splitlines()]
    assert code == (2 if any("gradfit: error:" in e for e in expected) else 0), err
    assert matches(expected, got), "\n".join(["printed:"] + got + ["expected:"] + expected)
