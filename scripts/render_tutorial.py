"""Execute docs/tutorial.ipynb and render it to one self-contained HTML page (``make docs``).

    .venv/bin/python scripts/render_tutorial.py [--out docs/tutorial.html]

The notebook runs with nbclient in a fresh kernel (no network).  For the page, the kernel
displays Altair charts as their Vega-Lite JSON (Altair's "json" renderer, set in a setup
cell that is dropped again before export); each chart becomes a ``<div>`` drawn by vega-embed,
and the Vega / Vega-Lite / vega-embed JavaScript (vl-convert's bundle, as in gradfit's HTML
report) is inlined once.  The page needs no network; the iteration slider of
``gradfit.plot.explore`` works in it.  The one remaining external script is MathJax (from
its CDN): offline, the formulas stay readable TeX source.  The page is about 3.3 MB (the
charts' inlined data, the JavaScript 0.9 MB, nbconvert's styles), so ``make docs``
generates it rather than committing it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
SETUP = "import altair as _alt\n_alt.renderers.enable('json')  # render_tutorial.py"
JSON = "application/json"


def execute(path=NOTEBOOK, setup: str | None = None, timeout: int = 600):
    """The notebook at `path`, executed top to bottom in a fresh python3 kernel (the one of
    this interpreter); `setup` runs first as an extra cell, removed from the result."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    if setup:
        nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    env_path = os.environ.get("PATH", "")
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + env_path  # the kernel runs this interpreter
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        os.environ["PATH"] = env_path
    if setup:
        nb.cells.pop(0)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.get("execution_count"):
                cell.execution_count = cell.execution_count - 1
                for out in cell.get("outputs", []):
                    if "execution_count" in out:
                        out["execution_count"] = cell.execution_count
    return nb


def is_chart(spec) -> bool:
    """Whether an ``application/json`` output is a Vega-Lite spec."""
    return isinstance(spec, dict) and "vega-lite" in str(spec.get("$schema", ""))


def _embed_charts(nb) -> int:
    """Turn each Vega-Lite output into HTML drawn by vega-embed; the first one carries the
    JavaScript bundle.  Returns the number of charts."""
    import vl_convert as vlc

    from gradfit.charts.export import vl_version

    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            spec = data.get(JSON)
            if not is_chart(spec):
                continue
            text = json.dumps(spec).replace("</", "<\\/")
            head = ""
            if count == 0:
                head = "<script>" + vlc.javascript_bundle(vl_version=vl_version()) + "</script>"
            div = f"gradfit-chart-{count}"
            out["data"] = {"text/html": (
                f'{head}<div id="{div}"></div><script>vegaEmbed("#{div}", {text}, '
                '{renderer: "svg", actions: false}).catch(e => { document.getElementById('
                f'"{div}").textContent = "chart failed: " + e; console.error(e); }});</script>')}
            count += 1
    return count


def to_html(nb) -> str:
    """The executed notebook as one HTML page (nbconvert's lab template)."""
    from nbconvert import HTMLExporter

    _embed_charts(nb)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    # require.js (from a CDN) would make the bundle register as an AMD module instead of
    # defining vegaEmbed; the page has no widget that needs it
    return re.sub(r'<script src="[^"]*require(\.min)?\.js"></script>\s*', "", body)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / "docs" / "tutorial.html"))
    args = p.parse_args(argv)
    nb = execute(setup=SETUP)
    html = to_html(nb)
    Path(args.out).write_text(html, encoding="utf-8")
    print(f"{args.out}: {len(html) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
