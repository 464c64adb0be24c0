"""The report's text follows the fit it shows: turns, restarts and the epoch that reaches a
relative gap of 1e-6, each recomputed here from the history by hand."""

from __future__ import annotations

import re

import numpy as np

from gradfit.charts import FitView
from gradfit.model.result import FitResult
from gradfit.report import report_html
from gradfit.report.story import path_facts, story_html
from test_charts import descend, exact, one_feature_view


def _line(x, y):
    X = x[:, None]
    L = float(np.linalg.eigvalsh(2 * np.array([[np.mean(x * x), np.mean(x)],
                                               [np.mean(x), 1.0]])).max())
    return X, y, L


def _turns(h):
    th = np.column_stack([h.coef.reshape(len(h), -1), h.intercept])
    s = np.diff(th, axis=0)
    s = s[np.linalg.norm(s, axis=1) > 0]
    return int(np.sum(np.einsum("ij,ij->i", s[:-1], s[1:]) < 0)), len(s)


def _first_epoch_within(h, fstar, rel=1e-6):
    ok = (h.objective - fstar) <= rel * abs(fstar)
    return int(h.epoch[np.argmax(ok)]) if ok.any() else None


def test_a_zig_zag_and_an_overshoot_are_told_with_their_counts():
    view = one_feature_view()  # gd at 1.8/L, heavy ball at 0.5/L with beta 0.8
    text = story_html(view)
    fstar = view.results["exact"].objective
    for name in ("gradient descent", "momentum"):
        h = view.results[name].history
        turns, steps = _turns(h)
        f = path_facts(view, name)
        assert (f.turns, f.steps) == (turns, steps)
        assert f.epoch_to_gap == _first_epoch_within(h, fstar)
    gd = re.search(r"<li><b>gradient descent</b>.*?</li>", text, flags=re.S).group(0)
    t, s = _turns(view.results["gradient descent"].history)
    assert t >= 10  # above 1/L: it turns back while the steep direction dominates
    assert "zig-zagged" in gd and f"{t} of {s} recorded steps" in gd
    mom = re.search(r"<li><b>momentum</b>.*?</li>", text, flags=re.S).group(0)
    t, s = _turns(view.results["momentum"].history)
    assert 0 < t < 0.5 * s and f"turned back {t} times in {s} recorded steps" in mom


def test_a_straight_path_is_not_called_a_zig_zag():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 4, 40)
    X, y, L = _line(x, 1 + 2 * x + rng.normal(0, 0.5, 40))
    slow = descend(X, y, 0.5 / L, 80)  # below 1/L: every direction decays monotonically
    view = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"slow": slow, "exact": exact(X, y)})
    text = story_html(view)
    assert _turns(slow.history)[0] == 0
    assert "went straight downhill" in text and "zig-zag" not in text
    assert path_facts(view, "slow").turns == 0
    fstar = view.results["exact"].objective
    expected = _first_epoch_within(slow.history, fstar)
    if expected is None:
        gap = (slow.objective - fstar) / fstar
        assert f"final relative gap is {gap:.2g}" in text
    else:
        assert f"at epoch {expected}" in text


def test_restarts_epochs_and_an_exact_only_view():
    x = np.linspace(0, 3, 30)
    X, y, L = _line(x, 1.0 - 0.5 * x)
    r = descend(X, y, 1.0 / L, 50, solver="nesterov")
    r.info = {"restarts": 3}
    view = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"accelerated": r, "exact": exact(X, y)})
    text = story_html(view)
    assert "restarted 3 times" in text and "(nesterov, learning rate" in text
    assert "50 epochs, did not converge" in text
    only = FitView(X=X, y=y, feature_names=["x"], target_name="y",
                   results={"exact": exact(X, y)})
    assert "No iterative fit is shown" in story_html(only)
    assert "What the paths did" not in story_html(only)


def test_the_report_carries_the_story_of_its_fits(tmp_path):
    view = one_feature_view()
    page = report_html(view)
    assert "zig-zagged" in page and "How the fit was found" in page
    assert f"{view.results['exact'].objective:.10g}" in page
    res = FitResult(coef=np.array([1.0]), intercept=0.0, n_iter=1, converged=True,
                    stop_reason="", objective=0.0, solver="exact")
    assert res.solver == "exact"
