"""Charts and the report's HTML: each chart builds, renders to a non-blank PNG, and draws
the right numbers; user strings are escaped.  Fits are made by hand (a small gradient
descent loop and numpy.linalg.lstsq), independent of the core estimator."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from gradfit.charts import (
    FitView,
    build_charts,
    descent_path_chart,
    loss_curve_chart,
    write_pngs,
    write_svgs,
)
from gradfit.charts import landscape as ls
from gradfit.charts.export import render_png
from gradfit.charts.path import heatmap_frame
from gradfit.model.result import FitResult, History
from gradfit.report import report_html, slider_frame, write_report


# ------------------------------------------------------------------ hand-made fits
def _objective(X, y, s, w, b):
    with np.errstate(over="ignore", invalid="ignore"):
        r = y - X @ w - b
        return float(np.sum(s * r * r) / np.sum(s))


def descend(X, y, lr, n_iter, beta=0.0, s=None, solver="gd"):
    """Plain (beta=0) or heavy-ball gradient descent on F(w, b) from zero, with a History."""
    n, d = X.shape
    s = np.ones(n) if s is None else s
    w, b, vw, vb = np.zeros(d), 0.0, np.zeros(d), 0.0
    h = History()
    h.append(0, _objective(X, y, s, w, b), np.nan, lr, 0.0, w, b)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, n_iter + 1):
            r = y - X @ w - b
            gw, gb = -2 * (s * r) @ X / s.sum(), -2 * np.sum(s * r) / s.sum()
            vw, vb = beta * vw - lr * gw, beta * vb - lr * gb
            w, b = w + vw, b + vb
            h.append(t, _objective(X, y, s, w, b), float(np.hypot(np.linalg.norm(gw), gb)),
                     lr, t * 1e-4, w, b)
    return FitResult(coef=w, intercept=b, n_iter=n_iter, converged=False,
                     stop_reason="max_iter reached", objective=_objective(X, y, s, w, b),
                     history=h, solver=solver, learning_rate=lr)


def exact(X, y, s=None):
    """The weighted least-squares optimum from numpy.linalg.lstsq (no history)."""
    n = X.shape[0]
    s = np.ones(n) if s is None else s
    A = np.column_stack([X, np.ones(n)]) * np.sqrt(s)[:, None]
    beta = np.linalg.lstsq(A, y * np.sqrt(s), rcond=None)[0]
    w, b = beta[:-1], float(beta[-1])
    return FitResult(coef=w, intercept=b, n_iter=1, converged=True, stop_reason="closed form",
                     objective=_objective(X, y, s, w, b), solver="exact")


def one_feature_view(names=("hours studied", "exam score"), n_iter=60, **kw) -> FitView:
    """Gradient descent (zig-zag), momentum (overshoot) and the exact fit on a line."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, 50)
    y = 3.0 + 2.0 * x + rng.normal(0, 0.6, 50)
    X = x[:, None]
    L = float(np.linalg.eigvalsh(2 * np.array([[np.mean(x * x), np.mean(x)],
                                               [np.mean(x), 1.0]])).max())
    results = {"gradient descent": descend(X, y, 1.8 / L, n_iter),
               "momentum": descend(X, y, 0.5 / L, n_iter, beta=0.8, solver="momentum"),
               "exact": exact(X, y)}
    kw.setdefault("settings", {"solver": "gd, momentum", "learning rate": f"{1.8 / L:.4g}"})
    kw.setdefault("summary_rows", [("slope", f"{results['exact'].coef[0]:.6g}"),
                                   ("intercept", f"{results['exact'].intercept:.6g}")])
    return FitView(X=X, y=y, feature_names=[names[0]], target_name=names[1], results=results,
                   start=(np.zeros(1), 0.0), title="exam scores", **kw)


def multi_feature_view(n_iter=80, diverging=False) -> FitView:
    """Three weighted features, a test set, gradient descent and the exact fit (and, with
    `diverging`, a descent whose step is too long: it overflows to inf)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3)) * [1.0, 2.0, 0.5] + [0, 1, 3]
    y = X @ [1.5, -0.7, 2.0] + 0.5 + rng.normal(0, 0.3, 120)
    s = rng.uniform(0.5, 2.0, 120)
    A = np.column_stack([X, np.ones(120)])
    L = float(np.linalg.eigvalsh(2 * (A * s[:, None]).T @ A / s.sum()).max())
    results = {"gradient descent": descend(X, y, 1.0 / L, n_iter, s=s)}
    if diverging:
        results["too fast"] = descend(X, y, 2.5 / L, 1200, s=s)
    results["exact"] = exact(X, y, s)
    return FitView(X=X, y=y, feature_names=["a", "b", "c"], target_name="t", results=results,
                   sample_weight=s, X_test=X[:20] + 0.1, y_test=y[:20])


# ------------------------------------------------------------------ helpers
def _png_ok(data: bytes, min_size=(200, 150), min_colors=50, max_share=0.97):
    """Decode a PNG and check it is a real, non-blank picture."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pil = pytest.importorskip("PIL.Image", reason="pillow decodes the rendered PNGs (dev extra)")
    img = pil.open(io.BytesIO(data))
    img.load()
    assert img.size[0] >= min_size[0] and img.size[1] >= min_size[1]
    colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > min_colors, "the picture is (nearly) one colour"
    top = max(c for c, _ in colors)
    assert top < max_share * img.size[0] * img.size[1], "the picture is (nearly) blank"
    return img


def _datasets(chart) -> list[list[dict]]:
    return list(chart.to_dict()["datasets"].values())


def _dataset_with(chart, *fields) -> list[list[dict]]:
    return [rows for rows in _datasets(chart) if rows and all(f in rows[0] for f in fields)]


# ------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def one():
    return one_feature_view()


@pytest.fixture(scope="module")
def multi():
    return multi_feature_view()


def test_write_pngs_one_feature(one, tmp_path):
    paths = write_pngs(one, tmp_path)
    assert [p.name for p in paths] == ["fit.png", "loss.png", "path.png", "residuals.png"]
    for p in paths:
        img = _png_ok(p.read_bytes())
        assert img.size[0] > 700  # scale 2


def test_each_chart_renders_multi_feature(multi):
    charts = build_charts(multi)
    assert set(charts) == {"fit", "loss", "path", "residuals"}
    for chart in charts.values():
        _png_ok(render_png(chart, scale=1))


def test_write_svgs(one, tmp_path):
    paths = write_svgs(one, tmp_path)
    assert [p.suffix for p in paths] == [".svg"] * 4
    for p in paths:
        text = p.read_text()
        assert text.lstrip().startswith("<svg") and text.count("<path") > 5


def test_path_chart_holds_every_solver_path(one):
    chart = descent_path_chart(one)
    (rows,) = _dataset_with(chart, "fit", "k", "epoch", "p", "q")
    for name in ("gradient descent", "momentum"):
        h = one.results[name].history
        drawn = sorted((r["k"], r["p"], r["q"]) for r in rows if r["fit"] == name)
        assert [k for k, _, _ in drawn] == list(range(len(h)))
        np.testing.assert_allclose([p for _, p, _ in drawn], h.coef[:, 0])
        np.testing.assert_allclose([q for _, _, q in drawn], h.intercept)
    assert not any(r["fit"] == "exact" for r in rows)  # the optimum is a marker, not a path


def test_path_chart_multi_feature_uses_two_leading_coefficients(multi):
    rows = ls.path_frame(multi)
    h = multi.results["gradient descent"].history
    np.testing.assert_allclose(rows["p"], h.coef[:, 0])
    np.testing.assert_allclose(rows["q"], h.coef[:, 1])
    assert ls.axis_label(multi, 1) == "coefficient of b"


@pytest.mark.parametrize("make", [one_feature_view, multi_feature_view])
def test_contour_values_equal_the_objective(make):
    view = make()
    (rows,) = _dataset_with(descent_path_chart(view), "p", "q", "F", "excess")
    coef0, b0 = view.reference()
    s = view.weights()
    for r in rows[::37]:
        coef, b = coef0.copy(), b0
        if view.n_features == 1:
            coef[0], b = r["p"], r["q"]
        else:
            coef[0], coef[1] = r["p"], r["q"]
        resid = view.y - view.X @ coef - b
        direct = np.sum(s * resid ** 2) / np.sum(s)
        assert r["F"] == pytest.approx(direct, rel=1e-9, abs=1e-12)


def test_contour_lines_follow_their_levels(one):
    axes = ls.default_axes(one)
    ext = ls.extent(one, axes)
    p, q, F = ls.objective_grid(one, axes, num=101, ext=ext)
    fmin = one.squared_objective(*one.reference())
    levels = ls.contour_levels(F, fmin)
    lines = ls.contour_frame(p, q, F, levels)
    assert len(lines) and set(lines["level"]).issubset(set(levels))
    coef = np.empty(1)
    errs = []
    for lev, pp, qq in zip(lines["level"], lines["p"], lines["q"]):
        coef[0] = pp
        errs.append(abs(one.squared_objective(coef, qq) - lev) / (lev - fmin))
    assert np.median(errs) < 0.02


def test_grid_covers_paths_optimum_and_start(one):
    (plo, phi), (qlo, qhi) = ls.extent(one)
    pts = ls.path_frame(one)
    assert plo < pts["p"].min() and pts["p"].max() < phi
    assert qlo < pts["q"].min() and pts["q"].max() < qhi
    coef, b = one.reference()
    assert plo < coef[0] < phi and qlo < b < qhi
    assert plo < 0 < phi and qlo < 0 < qhi  # the start guess
    heat = heatmap_frame(one)
    assert heat["p"].min() == pytest.approx(plo) and heat["q"].max() == pytest.approx(qhi)


def test_loss_chart_log_scale_survives_a_zero_optimum():
    x = np.linspace(0, 1, 20)
    y = 2 * x + 1  # a perfect line: the optimum's objective is (about) zero
    X = x[:, None]
    r = descend(X, y, 0.5, 100)
    r.history.append(101, 0.0, 0.0, 0.5, 0.1, [2.0], 1.0)
    view = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"gd": r, "exact": exact(X, y)})
    chart = loss_curve_chart(view)
    spec = chart.to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    shown = [row["shown"] for rows in _dataset_with(chart, "shown") for row in rows]
    assert min(shown) > 0
    _png_ok(render_png(chart, scale=1))


def test_loss_chart_draws_the_gap_to_the_exact_optimum(one):
    chart = loss_curve_chart(one)
    fstar = one.results["exact"].objective
    rows = [r for rs in _dataset_with(chart, "fit", "objective", "shown") for r in rs]
    gd = one.results["gradient descent"].history
    drawn = [r for r in rows if r["fit"] == "gradient descent"]
    np.testing.assert_allclose([r["objective"] for r in drawn], gd.objective)
    floor = min(r["shown"] for r in rows)
    for r in drawn:
        assert r["shown"] == pytest.approx(max(r["objective"] - fstar, floor), rel=1e-9)
    assert f"F* = {fstar:.10g}" in json.dumps(chart.to_dict()["title"])
    assert chart.to_dict()["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"


def test_front_loaded_runs_get_a_log_iteration_axis():
    from gradfit.charts.loss import decades, front_loaded, one_two_five

    e = np.arange(200)
    assert front_loaded(e, 1 + 1000 * 0.3 ** e)  # all of the fall in a few steps
    assert not front_loaded(e, 10.0 ** (-e / 20))  # linear convergence: a straight line
    assert not front_loaded(np.arange(10), 0.3 ** np.arange(10))  # too short to care
    assert decades(3e-13, 5e3) == [10.0 ** k for k in range(-12, 5, 2)]  # <= 9 labels
    assert decades(50, 6000) == [10.0, 100.0, 1000.0, 10000.0]
    assert one_two_five(1000) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def test_diverging_and_exact_only_views_still_draw():
    x = np.linspace(0, 3, 30)
    X, y = x[:, None], 1.0 - 0.5 * x
    bad = descend(X, y, 3.0, 300)  # diverges to inf
    assert not np.isfinite(bad.objective)
    view = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"too fast": bad, "fine": descend(X, y, 0.2, 40)}, exact_name=None)
    for chart in build_charts(view).values():
        json.dumps(chart.to_dict(), allow_nan=False)
    (plo, phi), _ = ls.extent(view)
    assert phi - plo < 100  # the diverging tail does not blow up the contour grid
    _png_ok(render_png(descent_path_chart(view), scale=1))
    only = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"exact": exact(X, y)})
    for key, chart in build_charts(only).items():  # the loss chart: a note, no curve
        note = key == "loss"
        _png_ok(render_png(chart, scale=1), min_size=(100, 100),
                min_colors=10 if note else 50, max_share=0.995 if note else 0.97)
    assert "no iterations recorded" in json.dumps(loss_curve_chart(only).to_dict())
    assert 'name="iteration"' not in report_html(only)


def test_slider_frame_follows_each_history():
    x = np.linspace(0, 1, 20)
    X, y = x[:, None], 3 * x - 1
    long = descend(X, y, 0.05, 3000)  # thinned: epochs 0, 4, 8, ...
    short = descend(X, y, 0.5, 10)
    view = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"long": long, "short": short, "exact": exact(X, y)})
    frame, by_epoch = slider_frame(view)
    assert not by_epoch and frame["v"].max() < 400
    assert (frame["rec_epoch"] <= frame["epoch"]).all()
    sh = frame[frame["fit"] == "short"]
    assert sh["rec_epoch"].max() == 10 and sh["c0"].iloc[-1] == pytest.approx(short.coef[0])
    one = one_feature_view()
    frame, by_epoch = slider_frame(one)
    assert by_epoch and sorted(set(frame["v"])) == list(range(61))


def test_report_escapes_user_strings(tmp_path):
    evil = "<script>alert('x')</script>"
    view = one_feature_view(names=(evil, "score & <b>"), summary_rows=[(evil, evil)],
                            settings={evil: evil})
    view.title = evil
    html = write_report(view, tmp_path / "r.html").read_text()
    assert evil not in html and "score & <b>" not in html  # never raw
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    # only the report's own three <script> elements
    assert len(re.findall(r"<script\b", html, flags=re.I)) == 3
    spec = re.search(r'<script type="application/json" id="gradfit-spec">(.*?)</script>',
                     html, flags=re.S).group(1)
    assert "<" not in spec and evil in json.dumps(json.loads(spec))


def test_report_is_self_contained_and_small(one, tmp_path):
    html = write_report(one, tmp_path / "r.html").read_text()
    assert len(html) < 4_000_000
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, flags=re.I)
    assert "vegaEmbed" in html and 'id="gradfit-slider"' in html
    for word in ("Guess", "Measure the error", "Descend", "exact answer"):
        assert word in html
    for k, v in one.summary_rows:
        assert f"<th scope=\"row\">{k}</th><td class=\"num\">{v}</td>" in html
    assert "learning rate" in html
