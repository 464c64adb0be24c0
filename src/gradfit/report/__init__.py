"""One self-contained HTML report of a fit: works offline, no network requests at all.

The page inlines the Vega, Vega-Lite and Vega-Embed JavaScript (vl-convert's bundle), the
run's summary table and settings, a text telling how the fits shown were found (what each
path did: :mod:`gradfit.report.story`), and the four
charts as one interactive Vega-Lite spec with an iteration slider
(:mod:`gradfit.report.interactive`).  Every user string is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from gradfit.charts.export import vl_version
from gradfit.charts.view import FitView
from gradfit.report.interactive import SLIDER, report_chart, slider_frame
from gradfit.report.story import story_html
from gradfit.report.template import PAGE, fill

__all__ = ["write_report", "report_html", "SLIDER", "slider_frame"]


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _table(rows, empty: str) -> str:
    if not rows:
        return f'<p class="note">{_esc(empty)}</p>'
    body = "".join(f'<tr><th scope="row">{_esc(k)}</th><td class="num">{_esc(v)}</td></tr>'
                   for k, v in rows)
    return f"<table>{body}</table>"


def _json_for_script(obj) -> str:
    """JSON text safe inside a <script> element (no '<', '>' or '&' left unescaped)."""
    text = json.dumps(obj, allow_nan=False, default=_json_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def _scrub(obj):
    """Replace NaN / infinities (not JSON) by None, recursively."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def report_html(view: FitView) -> str:
    """The report's HTML text (see :func:`write_report`).

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    str
    """
    import vl_convert as vlc

    from gradfit import __version__

    spec = _scrub(report_chart(view).to_dict())
    settings = [(k, v) for k, v in view.settings.items()]
    return fill(PAGE, {
        "TITLE": _esc(view.title),
        "VERSION": _esc(__version__),
        "SUMMARY": _table(view.summary_rows, "no summary given"),
        "SETTINGS": _table(settings, "no settings given"),
        "STORY": story_html(view),
        "INFERENCE": _inference_section(view.inference_text),
        "SPEC": _json_for_script(spec),
        "BUNDLE": vlc.javascript_bundle(vl_version=vl_version()),
    })


def _inference_section(text: str | None) -> str:
    """The statistical summary (statsmodels' layout) as a preformatted, escaped block."""
    if not text:
        return ""
    return ('<h2>Statistical summary</h2>\n<pre class="inference">' + _esc(text) + "</pre>")


def write_report(view: FitView, path) -> Path:
    """Write the fit's self-contained HTML report to `path`.

    Parameters
    ----------
    view : FitView
        The data, fits, settings and summary rows to show.
    path : str or Path
        The HTML file to write (its folder is created if missing).

    Returns
    -------
    Path
        The file written.  It loads nothing from the network: the charting JavaScript is
        inlined, and the charts share an iteration slider that moves the fitted line over
        the data and the marker along the descent path together.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(view), encoding="utf-8")
    return path
