"""Issue 11, item 1 (last part): ``summary()`` and the CLI show the significant digits the
optimality certificate supports, never more.

- The closed form's certificate (``solvers.exact.error_bound``) bounds its real error, against
  long-double least squares (tests/references.py), in each of its arithmetics.
- An exact fit's summary shows statsmodels' own cells (nothing is cut); an early-stopped fit's
  shows no digit beyond the certificate's, and what it shows is that close to the optimum
  (numpy.linalg.lstsq).
- ``gradfit fit`` prints the coefficients to the certified digits (10 at most), and its JSON
  carries the per-coefficient counts.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import references
from cli_helpers import cli
from gradfit import GDRegressor
from gradfit.solvers.exact import solve_exact


def _collinear(n, cond, seed=0):
    """(X, y) whose two first columns are collinear to about 1/cond, with large means."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 1] = X[:, 0] + X[:, 1] / cond
    X += [50.0, -20.0, 3.0, 0.0]
    y = X @ [1.5, -2.0, 0.25, 3.0] + 7.0 + rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("arithmetic", ["float64", "longdouble", "exact"])
@pytest.mark.parametrize("cond", [1e1, 1e4, 1e7])
def test_the_closed_form_error_bound_holds(arithmetic, cond):
    X, y = _collinear(400, cond)
    coef, icpt, info = solve_exact(X, y, arithmetic=arithmetic)
    ref = references.squared_optimum(X, y)
    slack = 10.0 ** -ref.trust
    err = np.abs(coef - ref.coef)
    assert np.all(err <= info["coef_error"].ravel() + slack * np.abs(ref.coef)), (
        err, info["coef_error"].ravel())
    assert abs(icpt - ref.intercept) <= float(info["intercept_error"][0]) + slack * abs(
        ref.intercept)
    # and not vacuous: well-conditioned data are certified to (nearly) full precision
    if cond == 1e1:
        assert np.all(info["coef_error"].ravel() <= 1e-12 * np.abs(coef))


def test_an_exact_fit_is_certified_and_its_digits_are_right():
    X, y = _collinear(300, 1e5, seed=1)
    model = GDRegressor(solver="exact").fit(X, y)
    cert = model.certificate_
    ref = references.squared_optimum(X, y)
    correct = -np.log10(np.abs(model.coef_ - ref.coef) / np.abs(ref.coef) + 1e-300)
    assert cert["digits"] >= 8
    claimed = np.minimum(cert["coef_digits"], ref.trust)  # the reference's own accuracy
    assert np.all(np.minimum(correct, 15) >= claimed - 0.5), (correct, cert["coef_digits"],
                                                             ref.trust)


def _coef_cells(text):
    """{parameter name: (coef cell, ci low cell, ci high cell)} of a summary's text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("coef"))
    cells = {}
    for line in lines[start + 2:]:
        if line.startswith("="):
            break
        parts = line.split()
        cells[parts[0]] = (parts[1], parts[5], parts[6])
    return cells


def _significant(cell: str) -> int:
    """Significant digits written in a cell ('~' and the sign aside; an integer's trailing
    zeros are place holders)."""
    mantissa = cell.lstrip("~-").split("e")[0]
    if "." not in mantissa:
        mantissa = mantissa.rstrip("0") or "0"
    return len(mantissa.replace(".", "").lstrip("0"))


def test_an_exact_summary_shows_what_statsmodels_shows():
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.longley.load_pandas()
    model = GDRegressor(solver="exact").fit(data.exog, data.endog)
    ours = _coef_cells(model.summary().as_text())
    theirs = sm.OLS(data.endog, sm.add_constant(data.exog)).fit().summary().tables[1].data
    for row in theirs[1:]:
        name = "intercept" if row[0].strip() == "const" else row[0].strip()
        assert ours[name][0] == row[1].strip(), (name, ours[name], row)


def test_an_early_stopped_summary_shows_only_the_certified_digits():
    X, y = _collinear(200, 100.0, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GDRegressor(solver="adam", max_iter=100).fit(X, y)
    assert not model.converged_
    digits = model.certificate_["coef_digits"]
    assert digits.min() < 4  # the case this test is about: the table's 4 decimals get cut
    res = model.summary()
    text = res.as_text()
    cells = _coef_cells(text)
    opt, *_ = np.linalg.lstsq(np.c_[np.ones(len(X)), X], y, rcond=None)
    names = ["intercept"] + [f"x{j}" for j in range(1, 5)]
    shown_digits = np.r_[model.certificate_["intercept_digits"], digits]
    for name, best, certified in zip(names, opt, shown_digits):
        cell = cells[name][0]
        assert _significant(cell) <= max(int(certified), 1), (name, cell, certified)
        value = float(cell.lstrip("~"))
        if certified < 1:
            assert cell.startswith("~")
        # what is shown is as close to the optimum as the digits say (one unit of the last
        # place shown, and a half for the rounding)
        place = 10.0 ** (np.floor(np.log10(abs(value))) - max(int(certified), 1) + 1)
        assert abs(value - best) <= 1.5 * place, (name, cell, best)
    assert f"Certified digits:{model.certificate_['digits']:>{78 // 2 - 18}d}" in text or \
        re.search(rf"Certified digits:\s+{model.certificate_['digits']}\b", text)
    assert any("significant digits the optimality certificate supports" in n
               for n in res.notes)
    # the HTML table shows the same cells
    html = res.as_html()
    for name in names:
        assert f"<td>{cells[name][0]}</td>" in html, name


def test_summarize_without_a_certificate_cuts_nothing():
    from gradfit.stats.results import summarize

    X, y = _collinear(200, 100.0, seed=3)
    res = summarize(X, y, np.array([1.0, 2.0, 3.0, 4.0]), 5.0)
    assert res.digits is None
    assert _coef_cells(res.as_text())["x1"][0] == "1.0000"


DEMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "blog" / "demo.csv"


def _demo(tmp_path):
    if DEMO.exists():
        return DEMO
    rng = np.random.default_rng(0)
    x = rng.uniform(20, 80, 100)
    path = tmp_path / "demo.csv"
    path.write_text("x,y\n" + "\n".join(f"{a!r},{1.3 * a + 8 + rng.normal() * 10!r}"
                                        for a in x) + "\n")
    return path


def _table_value(out: str, label: str) -> str:
    for line in out.splitlines():
        if label in line:
            return line.split(label, 1)[1].strip(" │┃|").split()[0]
    raise AssertionError(f"{label!r} not in\n{out}")


def test_the_cli_prints_the_certified_digits(capsys, tmp_path):
    data = _demo(tmp_path)
    table = np.loadtxt(data, delimiter=",", skiprows=1)
    opt, *_ = np.linalg.lstsq(np.c_[np.ones(len(table)), table[:, :1]], table[:, 1],
                              rcond=None)
    # the tutorial's fit: 1000 steps at 1e-4, far from the optimum
    code, out, err = cli(capsys, "fit", data, "-t", "y", "--solver", "gd", "--learning-rate",
                         "0.0001", "--max-iter", "1000", "-q")
    assert code == 0, err
    code, js, err = cli(capsys, "fit", data, "-t", "y", "--solver", "gd", "--learning-rate",
                        "0.0001", "--max-iter", "1000", "-q", "--json")
    record = json.loads(js)
    slope = _table_value(out, "│ x ")
    assert _significant(slope) <= max(record["coef_digits"][0], 1)
    assert slope.startswith("~") == (record["coef_digits"][0] < 1)
    low = min(record["coef_digits"] + [record["intercept_digits"]])
    assert re.search(rf"certified\s+{low}( to \d+)? significant digits", out), out
    # the exact fit: ten digits, all of them right
    code, out, err = cli(capsys, "fit", data, "-t", "y", "--solver", "exact", "-q")
    assert code == 0, err
    slope = _table_value(out, "│ x ")
    assert _significant(slope) == 10
    assert abs(float(slope) - opt[1]) <= 1e-9 * abs(opt[1])
    code, js, err = cli(capsys, "fit", data, "-t", "y", "--solver", "exact", "-q", "--json")
    record = json.loads(js)
    assert record["coef_digits"][0] >= 13 and record["intercept_digits"] >= 13


@pytest.mark.parametrize("solver", ["rmsprop", "adagrad"])
def test_divergence_under_a_per_coordinate_automatic_rate_says_what_to_do(solver):
    """The automatic rate of RMSProp and AdaGrad is a share of the targets' spread: on raw
    features 1e4 apart in scale it can diverge, and the error must not advise the
    learning_rate='auto' that was used, nor the 2/L that bounds only plain steps."""
    import gradfit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2)) * [1.0, 1e4]
    y = X @ [1.0, 1e-3] * 1000 + rng.normal(size=100) * 1000
    with pytest.raises(gradfit.DivergenceError) as info:
        gradfit.fit(X, y, solver=solver, standardize=False, max_iter=200)
    text = str(info.value)
    assert "use learning_rate='auto'" not in text and "2/L" not in text, text
    assert "standardize" in text and "smaller learning_rate (e.g. learning_rate=" in text
    suggested = float(re.search(r"e\.g\. learning_rate=([0-9.e+-]+)\)", text).group(1))
    assert suggested < info.value.learning_rate
    # the fit the message points to (a standardized one) does not diverge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it need not converge in 200 epochs
        res = gradfit.fit(X, y, solver=solver, max_iter=200)
    assert np.all(np.isfinite(res.coef))
