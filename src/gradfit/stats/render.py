"""Text rendering of a summary, laid out like statsmodels' ``summary()``."""

from __future__ import annotations

import math
import textwrap

import numpy as np

__all__ = ["html_escape", "render_html", "render_text", "title"]


_WIDTH = 78


def html_escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def resolution(x: float, digits) -> float | None:
    """The place value :math:`10^k` of the last of ``digits`` significant digits of ``x``
    (after rounding to them; at least one digit), or None when nothing limits the digits
    (``digits`` None or NaN, ``x`` zero or not finite)."""
    if digits is None or not np.isfinite(digits) or not np.isfinite(x) or x == 0:
        return None
    sig = max(int(digits), 1)
    rounded = float(f"{x:.{sig}g}")
    return 10.0 ** (math.floor(math.log10(abs(rounded))) - sig + 1)


def _forg(x: float, prec: int = 3, res: float | None = None) -> str:
    """statsmodels' number format: fixed decimals, or %g for very large/small values; with a
    resolution ``res`` (see :func:`resolution`), no digit below it is shown."""
    if not np.isfinite(x):
        return f"{x!s:>9}"
    k = None if res is None else round(math.log10(res))
    if abs(x) >= 1e4 or (abs(x) < 1e-4 and x != 0):
        if k is not None:
            prec = max(1, min(prec, math.floor(math.log10(abs(x))) - k + 1))
        return f"{x:9.{prec}g}"
    if k is not None and -k < prec:
        if k > 0:
            return f"{round(x, -k):9.0f}"
        prec = -k
    return f"{x:9.{prec}f}"


def _coef_cells(s, name, row, inference: bool, pfmt: str) -> list[str]:
    """The cells of one parameter's row: the coefficient and its interval shown to no more
    digits than the optimality certificate supports (``s.digits``), ~ marking a coefficient
    it supports no digit of."""
    digits = None if s.digits is None else s.digits.get(name)
    res = resolution(row["coef"], digits)
    coef = _forg(row["coef"], 4, res)
    if digits is not None and np.isfinite(digits) and digits < 1:
        coef = f"~{coef.strip()}".rjust(9)
    if not inference:
        return [coef]
    return [coef, _forg(row["std_err"]), _forg(row["t"]), f"{row['p_value']:{pfmt}}",
            _forg(row["ci_low"], 3, res), _forg(row["ci_high"], 3, res)]


def _two_columns(left: list, right: list, width: int) -> list[str]:
    """Pairs of (label, value) side by side, like statsmodels' header tables."""
    half = (width - 3) // 2
    rows = []
    for i in range(max(len(left), len(right))):
        lab_l, val_l = left[i] if i < len(left) else ("", "")
        lab_r, val_r = right[i] if i < len(right) else ("", "")
        lpart = f"{lab_l:<{half - len(val_l)}}{val_l}" if lab_l else " " * half
        rpart = f"{lab_r:<{width - half - 3 - len(val_r)}}{val_r}" if lab_r else ""
        rows.append((lpart + "   " + rpart).rstrip())
    return rows


def _header_block(s, width: int) -> list[str]:
    return _two_columns(*_header_pairs(s), width)


def _coef_block(s) -> tuple[list[str], int]:
    tab = s.coefficients
    namew = max([len(str(i)) for i in tab.index] + [9])
    penal = bool(s.model.get("penalized_reason"))
    stat = "t" if s.model.get("use_t", True) else "z"
    lo, hi = f"[{s.alpha / 2:.3g}", f"{1 - s.alpha / 2:.3g}]"
    heads = ["coef"] if penal else ["coef", "std err", stat, f"P>|{stat}|", lo, hi]
    lines = [" " * namew + "".join(f"{h:>11}" for h in heads)]
    for name, row in tab.iterrows():
        cells = _coef_cells(s, name, row, not penal, "9.3f")
        lines.append(f"{str(name):<{namew}}" + "".join(f"{c:>11}" for c in cells))
    return lines, max(len(line) for line in lines)


def _diag_pairs(s):
    m = s.model
    left = [("Omnibus:", f"{m['omnibus']:#6.3f}"),
            ("Prob(Omnibus):", f"{m['omnibus_pvalue']:#6.3f}"),
            ("Skew:", f"{m['skew']:#6.3f}"), ("Kurtosis:", f"{m['kurtosis']:#6.3f}")]
    right = [("Durbin-Watson:", f"{m['durbin_watson']:#8.3f}"),
             ("Jarque-Bera (JB):", f"{m['jarque_bera']:#8.3f}"),
             ("Prob(JB):", f"{m['jb_pvalue']:#8.3g}"),
             ("Cond. No.", f"{m['condition_number']:#8.3g}")]
    return left, right


def _optimality_pairs(s):
    m = s.model
    left = [("Resid. Std. Err.:", f"{m['resid_std_err']:#8.5g}"),
            ("Objective F(θ):", f"{m['objective']:#9.4g}")]
    if s.digits is not None:
        known = s.digits.dropna()
        left.append(("Certified digits:", f"{int(known.min()):d}" if len(known) else "none"))
    right = [("Gradient norm:", f"{m['grad_norm']:#9.3g}"),
             ("Objective gap:", f"{m['objective_gap']:#9.3g}"),
             ("||θ-θ*||/||θ*||:", f"{m['coef_rel_distance']:#9.3g}")]
    return left, right


def title(s) -> str:
    """'OLS Regression Results (gradfit)', 'Penalized WLS ...', 'Huber ...'."""
    return (("Penalized " if s.model.get("penalized") else "") + f"{s.model['model']} "
            "Regression Results (gradfit)")


def render_text(s) -> str:
    """The summary as text, laid out like statsmodels' ``summary().as_text()``."""
    coef_lines, coef_w = _coef_block(s)
    width = max(_WIDTH, coef_w)
    out = [title(s).center(width).rstrip(), "=" * width, *_header_block(s, width), "=" * width,
           coef_lines[0], "-" * width, *coef_lines[1:], "=" * width,
           *_two_columns(*_diag_pairs(s), width), "=" * width,
           *_two_columns(*_optimality_pairs(s), width), "=" * width]
    if s.notes:
        out += ["", "Notes:"] + [textwrap.fill(f"[{i}] {note}", width)
                                 for i, note in enumerate(s.notes, 1)]
    return "\n".join(out)


def _html_pairs(left: list, right: list) -> list[str]:
    rows = []
    for i in range(max(len(left), len(right))):
        cells = []
        for side in (left, right):
            lab, val = side[i] if i < len(side) else ("", "")
            cells.append(f"<th>{html_escape(lab)}</th><td>{html_escape(val.strip())}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


def _header_pairs(s):
    """The (label, value) pairs of the header block, shared by text and HTML."""
    m = s.model
    rtype = "" if m["centered_r_squared"] else " (uncentered)"
    left = [("Dep. Variable:", s.target_name), ("Model:", m["model"]),
            ("Method:", m.get("method", "Least Squares")), ("No. Observations:", f"{m['n']:d}"),
            ("Df Residuals:", f"{m['df_resid']:.0f}"), ("Df Model:", f"{m['df_model']:.0f}"),
            ("Covariance Type:", m["cov_type"] if not m.get("penalized_reason") else "none")]
    right = [("R-squared" + rtype + ":", f"{m['r_squared']:#8.3f}"),
             ("Adj. R-squared" + rtype + ":", f"{m['adj_r_squared']:#8.3f}"),
             ("F-statistic:", f"{m['f_statistic']:#8.4g}"),
             ("Prob (F-statistic):", f"{m['f_pvalue']:#6.3g}"),
             ("Log-Likelihood:", f"{m['log_likelihood']:#8.5g}"),
             ("AIC:", f"{m['aic']:#8.4g}"), ("BIC:", f"{m['bic']:#8.4g}")]
    return left, right


def _html_coef_table(s) -> str:
    tab = s.coefficients
    inference = not s.model.get("penalized_reason")
    stat = "t" if s.model.get("use_t", True) else "z"
    heads = ["coef"] + (["std err", stat, f"P>|{stat}|", f"[{s.alpha / 2:.3g}",
                         f"{1 - s.alpha / 2:.3g}]"] if inference else [])
    out = ['<table class="gradfit-params">', "<thead><tr><th></th>"
           + "".join(f"<th>{html_escape(h)}</th>" for h in heads) + "</tr></thead>", "<tbody>"]
    for name, row in tab.iterrows():
        cells = _coef_cells(s, name, row, inference, ".3f")
        out.append(f"<tr><th>{html_escape(str(name))}</th>"
                   + "".join(f"<td>{html_escape(c.strip())}</td>" for c in cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def render_html(s) -> str:
    """The summary as HTML tables (notebooks' ``_repr_html_``): a header table of model
    numbers with the title as caption, the parameter table (one ``<tr>`` per parameter),
    the diagnostics and optimality tables, and the notes as a list."""
    out = ['<div class="gradfit-summary">',
           f'<table class="gradfit-model"><caption>{html_escape(title(s))}</caption>',
           *_html_pairs(*_header_pairs(s)), "</table>", _html_coef_table(s),
           '<table class="gradfit-diagnostics">', *_html_pairs(*_diag_pairs(s)), "</table>",
           '<table class="gradfit-optimality">', *_html_pairs(*_optimality_pairs(s)), "</table>"]
    if s.notes:
        out += ["<p>Notes:</p>", "<ol>"] + [f"<li>{html_escape(n)}</li>" for n in s.notes]
        out.append("</ol>")
    out.append("</div>")
    return "\n".join(out)
