"""Write the rows of the latest `make bench` that carry a target into README.md.

    .venv/bin/python scripts/bench_readme.py          # rewrite the block in README.md
    .venv/bin/python scripts/bench_readme.py --check  # exit 1 if README.md is stale

The block sits between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md and
comes from ``benchmarks/results/latest.json`` (what ``benchmarks/run.py`` writes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import cells, dates_note  # noqa: E402

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def block(result: dict) -> str:
    m = result["meta"]
    blas = ", ".join(f"{p['internal_api']} {p['version'].rsplit('.', 2)[0]}"
                     for p in m["threadpools"])
    lines = [START,
             f"Latest `make bench` ({m['date']}, {m['seconds']:.0f} s{dates_note(m)}): "
             f"{m['cpus']} CPUs "
             f"({m['machine']}), Python {m['python']}, numpy {m['numpy']}, numba "
             f"{m['numba']}, {blas}; the rows that carry a target (all rows: "
             "`benchmarks/results/latest.md`; what limits the misses: "
             "`benchmarks/NOTES.md`).", "",
             "| figure | size | gradfit | baseline | ratio | target | met |",
             "|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        if row["met"] is None:
            continue
        row_cells = cells(row)
        row_cells[-1] = "yes" if row["met"] else "**no**"
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row_cells) + " |")
    return "\n".join(lines + [END])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = ap.parse_args()
    result = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = head + block(result) + tail
    if args.check:
        return 0 if new == text else 1
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
