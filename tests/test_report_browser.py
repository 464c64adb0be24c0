"""The HTML report in a real headless browser (Debian's chromium, driven by playwright).

The page must load from a file with no network at all, draw all four charts with no
console error, and its iteration slider must move the fitted line over the data and the
marker along the descent path together.  CI installs chromium with apt-get (.ci/run);
without it these tests skip with that reason.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess

import pytest

from gradfit.report import write_report
from test_charts import multi_feature_view, one_feature_view

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                         if os.path.exists("/usr/bin/chromium") else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CELLS = {"fit": "concat_0_concat_0_group", "path": "concat_0_concat_1_group",
         "loss": "concat_1_concat_0_group", "residuals": "concat_1_concat_1_group"}

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not found (CI installs it: apt-get install chromium, see .ci/run)")


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    one = one_feature_view(names=("hours <script>alert(1)</script>", "score"))
    import warnings

    import gradfit.plot as gp
    from gradfit import GDRegressor
    from gradfit.datasets import load_tutorial

    X, y = load_tutorial(as_frame=True, return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {"rate 1e-4": GDRegressor(solver="gd", learning_rate=1e-4).fit(X, y),
                "momentum": GDRegressor(solver="momentum", learning_rate=1e-4).fit(X, y)}
    tutorial = gp.view(fits, X, y, title="the tutorial's fits")
    return {"tutorial": write_report(tutorial, folder / "tutorial.html"),
            "one": write_report(one, folder / "one.html"),
            "multi": write_report(multi_feature_view(diverging=True), folder / "multi.html")}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (dev extra) drives the browser")
    try:
        pw = sync_api.sync_playwright().start()
    except Exception as exc:  # the wheel's bundled driver does not run here
        pytest.skip(f"playwright's driver does not start ({exc}); "
                    "test_dump_dom_renders covers the page")
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    except Exception as exc:
        pw.stop()
        pytest.skip(f"playwright cannot launch {CHROMIUM}: {exc}")
    yield b
    b.close()
    pw.stop()


class Page:
    """An opened report and everything it logged or requested."""

    def __init__(self, browser, path):
        self.page = browser.new_page(viewport={"width": 1200, "height": 1000})
        self.console, self.requests, self.failed = [], [], []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_function("document.body.getAttribute('data-rendered') !== null",
                                    timeout=20_000)

    def js(self, expr, arg=None):
        return self.page.evaluate(expr, arg)

    def moving(self, role):
        """The drawn state of the elements marked `role`: their path and position."""
        return self.js("""role => Array.from(document.querySelectorAll(
            `[aria-roledescription=${role}]`)).map(
            e => (e.getAttribute('d') || '') + '@' + (e.getAttribute('transform') || ''))""",
                       role)

    def slide(self, value):
        """Move the iteration slider as a user would, and wait for the redraw."""
        self.page.locator("#gradfit-slider input[type=range]").evaluate(
            """(el, v) => { el.value = v; el.dispatchEvent(new Event('input',
                {bubbles: true})); }""", value)
        self.page.wait_for_function(
            "v => window.gradfit.view.signal('iteration') === v", arg=value)
        self.js("() => window.gradfit.view.runAsync().then(() => true)")


@pytest.fixture(scope="module")
def pages(browser, reports):
    opened = {k: Page(browser, p) for k, p in reports.items()}
    yield opened
    for p in opened.values():
        p.page.close()


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("which", ["one", "multi", "tutorial"])
def test_loads_offline_without_errors(pages, which):
    p = pages[which]
    assert p.js("document.body.getAttribute('data-rendered')") == "yes", \
        p.js("document.getElementById('gradfit-error').textContent")
    bad = [m for m in p.console if m[0] in ("error", "pageerror", "warning")]
    assert not bad, bad
    assert not p.failed
    assert all(u == p.url or u.startswith("data:") for u in p.requests), p.requests


@pytest.mark.parametrize("which", ["one", "multi", "tutorial"])
def test_every_chart_draws_marks(pages, which):
    counts = pages[which].js("""cells => Object.fromEntries(Object.entries(cells).map(
        ([k, c]) => [k, Object.fromEntries(['symbol', 'line', 'image', 'rule', 'rect'].map(
            t => [t, document.querySelectorAll(
                `g.${c} g.mark-${t}.role-mark path, g.${c} g.mark-${t}.role-mark image, `
                + `g.${c} g.mark-${t}.role-mark line`).length]))]))""", CELLS)
    fit, path, loss, res = (counts[k] for k in ("fit", "path", "loss", "residuals"))
    if which == "tutorial":  # 100 points; the exact line, the moving lines of 2 fits
        assert fit["symbol"] >= 100 and fit["line"] >= 3
    elif which == "one":
        assert fit["symbol"] >= 50 and fit["line"] >= 3  # data, exact/start, moving lines
    else:
        assert fit["symbol"] >= 100 and fit["line"] >= 1  # moving predictions, diagonal
    assert path["image"] == 1 and path["line"] >= 5 and path["symbol"] >= 30
    assert loss["line"] >= 1 and loss["symbol"] >= 30 and loss["rule"] >= 1  # the slider
    assert res["symbol"] >= 100 and res["rule"] >= 1


def _line_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def test_slider_moves_the_fitted_line_and_the_path_marker(pages):
    p = pages["one"]
    assert p.js("window.gradfit.view.signal('iteration')") == 60
    line_end, marker_end = p.moving("moving-fit"), p.moving("path-marker")
    assert len(line_end) == 2 and len(marker_end) == 2  # gradient descent and momentum
    p.slide(0)
    line_0, marker_0 = p.moving("moving-fit"), p.moving("path-marker")
    assert line_0 != line_end and marker_0 != marker_end
    for state in line_0:  # the start: slope 0, intercept 0, a flat line
        (x0, y0), (x1, y1) = _line_points(state.split("@")[0])[:2]
        assert x1 > x0 and y0 == pytest.approx(y1)
    for state in line_end:  # fitted: the line rises (the data's slope is about 2)
        (x0, y0), (x1, y1) = _line_points(state.split("@")[0])[:2]
        assert y1 < y0 - 50  # SVG y grows downwards
    p.slide(7)
    assert p.moving("moving-fit") not in (line_0, line_end)
    assert p.moving("path-marker") not in (marker_0, marker_end)
    assert "iteration 7" in p.js("document.querySelector('g.concat_0_concat_0_group')"
                                 ".textContent")


def test_slider_moves_the_loss_marker_and_rule(pages):
    p = pages["one"]
    p.slide(60)
    marker_end, rule_end = p.moving("loss-marker"), p.moving("loss-rule")
    assert len(marker_end) == 2 and len(rule_end) >= 1  # one marker per iterative fit
    p.slide(3)
    assert p.moving("loss-marker") != marker_end and p.moving("loss-rule") != rule_end
    p.slide(60)
    assert p.moving("loss-marker") == marker_end  # and back


def test_slider_moves_predictions_with_several_features(pages):
    p = pages["multi"]
    before = p.moving("moving-fit"), p.moving("path-marker")
    p.slide(3)
    after = p.moving("moving-fit"), p.moving("path-marker")
    assert after[0] != before[0] and after[1] != before[1]


def test_screenshot_is_not_blank(pages, tmp_path):
    PIL = pytest.importorskip("PIL.Image", reason="pillow checks the screenshot")
    shot = tmp_path / "report.png"
    pages["one"].page.screenshot(path=str(shot), full_page=True)
    img = PIL.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert img.size[0] >= 1000 and img.size[1] >= 1000
    colors = img.getcolors(maxcolors=1 << 22)
    assert len(colors) > 500
    assert max(c for c, _ in colors) < 0.9 * img.size[0] * img.size[1]


def test_scatter_and_path_charts_zoom_with_the_wheel(browser, reports):
    p = Page(browser, reports["one"])
    try:
        def drawn():
            return p.js("""() => [
                document.querySelector('g.concat_0_concat_1_group g.mark-image image')
                    .getAttribute('width'),
                document.querySelector('g.concat_0_concat_0_group g.mark-symbol.role-mark path')
                    .getAttribute('transform')]""")

        before = drawn()
        for cell, changed in ((CELLS["path"], 0), (CELLS["fit"], 1)):
            target = p.page.locator(f"g.{cell} path.background").first
            target.scroll_into_view_if_needed()  # the story above may push it off screen
            box = target.bounding_box()
            p.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            p.page.mouse.wheel(0, -300)
            p.page.wait_for_function(
                "([i, old]) => document.querySelectorAll(i ? 'g.concat_0_concat_0_group "
                "g.mark-symbol.role-mark path' : 'g.concat_0_concat_1_group g.mark-image "
                "image')[0].getAttribute(i ? 'transform' : 'width') !== old",
                arg=[changed, before[changed]], timeout=5_000)
        after = drawn()
        assert after[0] != before[0] and after[1] != before[1]
        assert not [m for m in p.console if m[0] in ("error", "pageerror")]
    finally:
        p.page.close()


def test_dump_dom_renders(reports):
    """Without playwright: chromium's own --dump-dom sees the page finish drawing."""
    out = subprocess.run([CHROMIUM, *ARGS, "--virtual-time-budget=15000", "--dump-dom",
                          reports["one"].resolve().as_uri()],
                         capture_output=True, text=True, timeout=60)
    dom = out.stdout
    assert 'data-rendered="yes"' in dom, out.stderr[-2000:]
    assert dom.count('aria-roledescription="moving-fit"') == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the feature name, as text
