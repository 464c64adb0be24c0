"""docs/tutorial.ipynb runs top to bottom in a fresh kernel (nbclient, no network), and its
outputs hold the tutorial's published numbers (shared/data/blog/README.md: from b = 0,
m = 0 with learning rate 1e-4, after 1000 iterations b = 0.08893651993741346,
m = 1.4777440851894448, error 112.61481011613473; starting error 5565.107834483211) and
numpy's least-squares line.  Rendered to HTML (make docs), every chart is drawn by the
inlined vega-embed."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from conftest import REPO

pytest.importorskip("nbclient", reason="nbclient (dev extra) runs the notebook")
pytest.importorskip("ipykernel", reason="ipykernel (dev extra) is the notebook's kernel")

PUBLISHED = {"b": 0.08893651993741346, "m": 1.4777440851894448, "error": 112.61481011613473}
START_ERROR = 5565.107834483211


def _render_module():
    spec = importlib.util.spec_from_file_location("render_tutorial",
                                                  REPO / "scripts" / "render_tutorial.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def render():
    return _render_module()


@pytest.fixture(scope="module")
def executed(render):
    return render.execute(setup=render.SETUP)


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o:
            out.append(str(o["data"].get("text/plain", "")))
    return "".join(out)


def _cell_with(nb, source_part: str):
    cells = [c for c in nb.cells if c.cell_type == "code" and source_part in c.source]
    assert len(cells) == 1, f"expected one cell with {source_part!r}, found {len(cells)}"
    return cells[0]


def _number(text: str, label: str) -> float:
    m = re.search(rf"^{re.escape(label)} = ([-+0-9.eE]+)$", text, flags=re.M)
    assert m, f"no '{label} = ...' line in {text!r}"
    return float(m.group(1))


def test_the_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(str(REPO / "docs" / "tutorial.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(nb.cells) >= 30 and len(code) >= 15
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_loop_reproduces_the_published_numbers(executed):
    loop = _text(_cell_with(executed, "model.fit(X, y)"))
    assert _number(loop, "b") == pytest.approx(PUBLISHED["b"], rel=1e-12)
    assert _number(loop, "m") == pytest.approx(PUBLISHED["m"], rel=1e-12)
    assert _number(loop, "error") == pytest.approx(PUBLISHED["error"], rel=1e-12)
    assert _number(loop, "R2") == pytest.approx(0.590, abs=5e-4)
    start = _text(_cell_with(executed, "start_error = error(0.0, 0.0)"))
    assert float(start.rsplit(":", 1)[1]) == pytest.approx(START_ERROR, rel=1e-12)


@pytest.mark.slow
def test_one_step_by_hand_equals_gradfits_step(executed):
    text = _text(_cell_with(executed, "b1, m1 = step(0.0, 0.0, 1e-4)"))
    (hand, lib) = re.findall(r"b = ([-0-9.e]+), m = ([-0-9.e]+), error ([-0-9.e]+)", text)
    np.testing.assert_allclose(np.array(hand, float), np.array(lib, float), rtol=1e-11)


@pytest.mark.slow
def test_the_other_cells_say_what_they_should(executed, shared_data):
    ref = np.loadtxt(shared_data / "blog" / "demo.csv", delimiter=",", skiprows=1)
    slope, icpt = np.polyfit(ref[:, 0], ref[:, 1], 1)
    auto = _text(_cell_with(executed, "auto = GDRegressor(solver=\"gd\").fit(X, y)"))
    b, m = (float(v) for v in re.search(r"automatic rate: b = ([-0-9.e]+), m = ([-0-9.e]+)",
                                        auto).groups())
    assert b == pytest.approx(icpt, rel=1e-9) and m == pytest.approx(slope, rel=1e-9)
    assert _number(auto, "R2") == pytest.approx(0.599, abs=5e-4)
    diverged = _text(_cell_with(executed, "except gradfit.DivergenceError as err"))
    assert diverged.startswith("DivergenceError: gradient descent diverged")
    assert "learning_rate='auto'" in diverged
    safe = float(re.search(r"largest stable fixed rate for these data: ([0-9.e-]+)",
                           diverged).group(1))
    x = ref[:, 0]
    L = np.linalg.eigvalsh(2 * np.array([[np.mean(x * x), x.mean()], [x.mean(), 1]])).max()
    assert safe == pytest.approx(2 / L, rel=1e-4)
    summary = _text(_cell_with(executed, "print(exact.summary())"))
    assert "R-squared:" in summary and "0.599" in summary
    table = _cell_with(executed, "table = pd.DataFrame").outputs[0]["data"]["text/plain"]
    assert "sklearn LinearRegression" in table and "sklearn SGDRegressor" in table


@pytest.mark.slow
def test_every_chart_cell_shows_a_chart_and_renders_to_html(executed, render):
    charts = [c for c in executed.cells if c.cell_type == "code"
              and any(render.is_chart(o.get("data", {}).get(render.JSON)) for o in c.outputs)]
    sources = [c.source for c in charts]
    assert len(charts) >= 8, sources
    assert any("gp.explore" in s for s in sources)
    page = render.to_html(executed)
    assert page.count('vegaEmbed("#gradfit-chart-') == len(charts)
    assert page.count("<script>") >= len(charts) + 1  # the bundle, once, plus one per chart
    assert len(page) < 5_000_000
    external = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert all("mathjax" in u for u in external), external  # no require.js, no vega CDN
