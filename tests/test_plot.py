"""gradfit.plot: one-line charts of fitted models.  The drawn numbers are checked against
numpy (lstsq, the models' own coefficients), the specs for their marks and encodings, and
the saved files by decoding them."""

from __future__ import annotations

import io
import re
import warnings

import altair as alt
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, SGDRegressor

import gradfit
import gradfit.plot as gp
from gradfit import GDRegressor
from gradfit.exceptions import InputError
from gradfit.model.result import FitResult
from test_charts import _png_ok

TUTORIAL = dict(solver="gd", learning_rate=1e-4, max_iter=1000, standardize=False)


@pytest.fixture(scope="module")
def blog(shared_data):
    df = pd.read_csv(shared_data / "blog" / "demo.csv")
    return df[["x"]], df["y"]


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GDRegressor(**params).fit(X, y)


@pytest.fixture(scope="module")
def fits(blog):
    X, y = blog
    return {"gd": _fit(X, y, **TUTORIAL),
            "momentum": _fit(X, y, **{**TUTORIAL, "solver": "momentum", "momentum": 0.5}),
            "auto": _fit(X, y, solver="gd")}


def _lstsq(X, y):
    A = np.column_stack([np.asarray(X, float), np.ones(len(y))])
    beta = np.linalg.lstsq(A, np.asarray(y, float), rcond=None)[0]
    return beta[:-1], beta[-1]


def _rows(chart, *fields):
    out = []
    for rows in chart.to_dict()["datasets"].values():
        if rows and all(f in rows[0] for f in fields):
            out += rows
    return out


def _layers(spec):
    """Every unit spec (mark + encoding) under a layered / concatenated spec."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key, []):
            yield from _layers(sub)


def _marks(chart) -> list[str]:
    return [s["mark"]["type"] if isinstance(s["mark"], dict) else s["mark"]
            for s in _layers(chart.to_dict())]


# ------------------------------------------------------------------ the charts
def test_fitted_line_draws_each_model_and_the_exact_optimum(blog, fits):
    X, y = blog
    chart = gp.fitted_line(fits, X, y)
    assert isinstance(chart, alt.LayerChart)
    assert {"point", "line"} <= set(_marks(chart))
    lines = _rows(chart, "fit", "x", "yhat")
    assert {r["fit"] for r in lines} == {"gd", "momentum", "auto", "exact"}
    w, b = _lstsq(X, y)
    for r in lines:
        if r["fit"] == "exact":
            assert r["yhat"] == pytest.approx(w[0] * r["x"] + b, rel=1e-10)
        else:
            m = fits[r["fit"]]
            assert r["yhat"] == pytest.approx(m.coef_[0] * r["x"] + m.intercept_, rel=1e-12)
    assert {r["x"] for r in lines} == {X["x"].min(), X["x"].max()}
    pts = _rows(chart, "row", "x", "y")
    np.testing.assert_array_equal([p["y"] for p in pts], y.to_numpy())
    spec = chart.to_dict()
    assert "y against x" in str(spec["title"])  # names from the DataFrame and the Series


def test_fitted_line_of_the_tutorial_reproduces_the_published_line(blog):
    X, y = blog
    m = _fit(X, y, **TUTORIAL)
    (lo, hi) = sorted(r["x"] for r in _rows(gp.fitted_line(m, X, y, exact=False), "yhat"))
    rows = {r["x"]: r for r in _rows(gp.fitted_line(m, X, y, exact=False), "yhat")}
    assert rows[lo]["slope"] == pytest.approx(1.4777440851894448, rel=1e-12)
    assert rows[lo]["intercept"] == pytest.approx(0.08893651993741346, rel=1e-12)
    assert rows[lo]["objective"] == pytest.approx(112.61481011613473, rel=1e-12)


def test_identical_fits_get_distinct_dashes_and_shapes(blog):
    X, y = blog
    a, b = _fit(X, y, **TUTORIAL), _fit(X, y, **TUTORIAL)
    chart = gp.fitted_line([a, b], X, y)
    (line,) = [s for s in _layers(chart.to_dict()) if s["mark"]["type"] == "line"]
    dash = line["encoding"]["strokeDash"]["scale"]
    assert dash["domain"][:2] == ["gd", "gd (2)"]
    assert dash["range"][0] != dash["range"][1]
    color = line["encoding"]["color"]["scale"]
    assert color["range"][0] != color["range"][1]
    res = gp.residuals([a, b], X, y)
    (pts,) = [s for s in _layers(res.to_dict()) if s["mark"]["type"] == "point"]
    assert pts["mark"]["filled"] is False  # hollow: overlaps never blend colours
    shapes = pts["encoding"]["shape"]["scale"]["range"]
    assert shapes[0] != shapes[1]


def test_residuals_are_actual_minus_fitted(blog, fits):
    X, y = blog
    rows = _rows(gp.residuals(fits, X, y), "fit", "fitted", "residual")
    assert {r["fit"] for r in rows} == {"gd", "momentum", "auto"}  # exact only as reference
    x, t = X["x"].to_numpy(), y.to_numpy()
    for r in rows:
        m = fits[r["fit"]]
        fitted = m.coef_[0] * x[r["row"]] + m.intercept_
        assert r["fitted"] == pytest.approx(fitted, rel=1e-12)
        assert r["residual"] == pytest.approx(t[r["row"]] - fitted, rel=1e-9, abs=1e-9)
    (pts,) = [s for s in _layers(gp.residuals(fits, X, y).to_dict())
              if s["mark"]["type"] == "point"]
    assert pts["encoding"]["y"]["axis"]["format"] == "~r"  # 200, not 2e+2


def test_loss_curve_draws_the_gap_to_the_least_squares_optimum(blog, fits):
    X, y = blog
    chart = gp.loss_curve(fits, X, y)
    w, b = _lstsq(X, y)
    fstar = float(np.mean((y.to_numpy() - X["x"].to_numpy() * w[0] - b) ** 2))
    rows = _rows(chart, "fit", "epoch", "objective", "shown")
    gd = [r for r in rows if r["fit"] == "gd"]
    h = fits["gd"].history_
    assert [r["epoch"] for r in gd] == list(h.epoch)
    for r in gd:
        assert r["shown"] == pytest.approx(r["objective"] - fstar, rel=1e-6)
    (line,) = [s for s in _layers(chart.to_dict()) if s["mark"]["type"] == "line"]
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    # the tutorial's rate: 99.9% of the fall in the first 10 epochs -> log iteration axis
    assert line["encoding"]["x"]["scale"]["type"] == "symlog"
    assert "F* = 110.2573835" in str(chart.to_dict()["title"])


def test_loss_curve_needs_no_data(fits):
    chart = gp.loss_curve(fits["gd"])
    rows = _rows(chart, "objective", "shown")
    np.testing.assert_allclose([r["shown"] for r in rows], fits["gd"].history_.objective)
    assert "no exact optimum" in str(chart.to_dict()["title"])


def test_descent_path_holds_each_history(blog, fits):
    X, y = blog
    rows = _rows(gp.descent_path(fits, X, y), "fit", "k", "p", "q")
    for name in ("gd", "momentum"):
        h = fits[name].history_
        drawn = sorted((r["k"], r["p"], r["q"]) for r in rows if r["fit"] == name)
        np.testing.assert_allclose([p for _, p, _ in drawn], h.coef[:, 0])
        np.testing.assert_allclose([q for _, _, q in drawn], h.intercept)


@pytest.fixture(scope="module")
def five():
    rng = np.random.default_rng(3)
    scale = np.array([1.0, 10.0, 0.1, 3.0, 1.0])
    X = pd.DataFrame(rng.normal(size=(300, 5)) * scale, columns=[f"f{j}" for j in range(5)])
    y = pd.Series(X.to_numpy() @ [0.5, 0.2, 30.0, -1.0, 0.1] + rng.normal(size=300), name="t")
    return X, y, _fit(X, y, solver="gd", max_iter=200)


def test_descent_path_with_five_features_picks_the_largest_standardized(five):
    X, y, m = five
    w, _ = _lstsq(X, y)
    effect = np.abs(w * X.to_numpy().std(axis=0))
    top = np.argsort(-effect)[:2]  # here f2 (30 x 0.1 = 3) and f3 (1 x 3), then f1 (2)
    assert list(top) == [3, 2] or list(top) == [2, 3]
    chart = gp.descent_path(m, X, y)
    spec = chart.to_dict()
    rows = _rows(chart, "fit", "k", "p", "q")
    h = m.history_
    np.testing.assert_allclose([r["p"] for r in rows if r["fit"] != "exact"], h.coef[:, top[0]])
    np.testing.assert_allclose([r["q"] for r in rows if r["fit"] != "exact"], h.coef[:, top[1]])
    sub = spec["title"]["subtitle"]
    assert f"f{top[0]} and f{top[1]}, the largest standardized of 5" in sub
    named = gp.descent_path(m, X, y, coords=("f0", "intercept"))
    rows = _rows(named, "fit", "k", "p", "q")
    np.testing.assert_allclose([r["p"] for r in rows], h.coef[:, 0])
    np.testing.assert_allclose([r["q"] for r in rows], h.intercept)
    assert "f0 and intercept" in named.to_dict()["title"]["subtitle"]
    with pytest.raises(ValueError, match=r"'f9' is not a parameter .*'f0', 'f1'"):
        gp.descent_path(m, X, y, coords=("f9", "f1"))
    with pytest.raises(ValueError, match="two"):
        gp.descent_path(m, X, y, coords="f1")


def test_explore_links_the_four_charts_with_a_slider(blog, fits, five):
    X, y = blog
    chart = gp.explore({"gd": fits["gd"], "momentum": fits["momentum"]}, X, y)
    spec = chart.to_dict()
    (param,) = [p for p in spec["params"] if p["name"] == "iteration"]
    assert param["bind"]["input"] == "range"  # the others: zoom / pan of two charts
    marks = _marks(chart)
    assert marks.count("image") == 1 and "rule" in marks and "text" in marks
    frame = [r for r in _rows(chart, "key", "v", "c0", "b") if r["fit"] == "gd"]
    last = max(frame, key=lambda r: r["v"])
    assert last["c0"] == pytest.approx(fits["gd"].coef_[0], rel=1e-12)
    assert last["b"] == pytest.approx(fits["gd"].intercept_, rel=1e-12)
    X5, y5, m5 = five  # the slider's path marker uses the same two coordinates
    spec5 = gp.explore(m5, X5, y5, coords=("f1", "f4")).to_dict()
    assert "f1 and f4" in str(spec5)


# ------------------------------------------------------------------ inputs
def test_every_kind_of_model_plots(blog):
    X, y = blog
    m = _fit(X, y, **TUTORIAL)
    lr = LinearRegression().fit(X, y)
    sgd = SGDRegressor(random_state=0, max_iter=5, tol=None).fit((X - 50) / 10, y)
    res = gradfit.fit(X.to_numpy(), y.to_numpy(), solver="cg")
    chart = gp.fitted_line({"gradfit": m, "result": res, "sklearn": lr}, X, y)
    names = {r["fit"] for r in _rows(chart, "fit", "yhat")}
    assert names == {"gradfit", "result", "sklearn", "exact"}
    rows = {r["fit"]: r for r in _rows(chart, "fit", "slope")}
    assert rows["sklearn"]["slope"] == pytest.approx(lr.coef_[0])
    assert rows["result"]["slope"] == pytest.approx(res.coef[0])
    # a list is named after the solvers; another library's estimator after its class
    names = {r["fit"] for r in _rows(gp.residuals([m, lr, sgd], X, y), "fit")}
    assert names == {"gd", "LinearRegression", "SGDRegressor"}
    # partial_fit leaves no FitResult: the model still draws, its loss curve says why not
    pf = GDRegressor(solver="gd").partial_fit(X, y)
    assert len(_rows(gp.fitted_line(pf, X, y), "yhat")) == 4
    assert "no iterations recorded" in str(gp.loss_curve(pf).to_dict())


def test_the_estimator_accessor_draws_the_same_charts(blog, fits):
    X, y = blog
    m = fits["gd"]
    assert m.plot.fitted_line(X, y).to_dict() == gp.fitted_line(m, X, y).to_dict()
    assert m.plot.loss_curve().to_dict() == gp.loss_curve(m).to_dict()
    both = m.plot.descent_path(X, y, others={"momentum": fits["momentum"]})
    assert {r["fit"] for r in _rows(both, "fit", "k")} == {"gd", "momentum"}
    assert "fitted_line" in repr(m.plot)
    assert gradfit.plot is gp


def test_bad_arguments_get_clear_errors(blog):
    X, y = blog
    m = _fit(X, y, **TUTORIAL)
    with pytest.raises(ValueError, match="not fitted yet: call .fit"):
        gp.fitted_line(GDRegressor(), X, y)
    with pytest.raises(TypeError, match=r"cannot plot 'x' \(a str, entry 'str'\): pass a fitted"):
        gp.fitted_line("x", X, y)
    with pytest.raises(TypeError, match=r"needs the data .*descent_path\(model, X, y\)"):
        gp.descent_path(m, None, None)
    with pytest.raises(ValueError, match="1 coefficient.* X has 2 column"):
        gp.fitted_line(m, np.column_stack([X, X]), y)
    with pytest.raises(ValueError, match="X has 100 rows but y has 99"):
        gp.residuals(m, X, y[:99])
    two = _fit(X, np.column_stack([y, 2 * y]), solver="exact")
    with pytest.raises(ValueError, match="2 outputs"):
        gp.fitted_line(two, X, y)
    with pytest.raises(InputError, match="column 'x' is not numeric: row 0"):
        gp.fitted_line(m, X.astype(str).replace({X["x"].astype(str)[0]: "abc"}), y)
    with pytest.raises(ValueError, match="no models"):
        gp.loss_curve([])


# ------------------------------------------------------------------ saving
@pytest.mark.parametrize("ext", ["png", "svg", "html"])
def test_save_writes_a_real_file(blog, fits, tmp_path, ext):
    X, y = blog
    path = tmp_path / f"chart.{ext}"
    charts = [gp.fitted_line(fits, X, y), gp.explore(fits, X, y)]
    for chart in charts:
        if ext == "html":
            chart.save(str(path), inline=True)
            text = path.read_text()
            assert "vegaEmbed" in text and len(text) > 100_000  # the JavaScript is inlined
            assert not re.search(r"""<script[^>]+src=["']?https?:""", text)
        else:
            chart.save(str(path))
            data = path.read_bytes()
            if ext == "png":
                _png_ok(data)
            else:
                assert data.lstrip().startswith(b"<svg") and data.count(b"<path") > 5
                from xml.dom import minidom

                minidom.parse(io.BytesIO(data))  # well-formed XML


def test_partial_results_keep_their_own_names():
    X = np.arange(10.0)[:, None]
    y = 2 * X[:, 0] + 1
    r = FitResult(coef=np.array([2.0]), intercept=1.0, n_iter=1, converged=True,
                  stop_reason="", objective=0.0, solver="exact")
    v = gp.view(r, X, y)
    assert v.exact_name == "exact" and v.feature_names == ["x1"] and v.target_name == "y"
