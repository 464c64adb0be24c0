"""All four charts at once, and static PNG / SVG files rendered offline by vl-convert."""

from __future__ import annotations

from pathlib import Path

import altair as alt

from gradfit.charts.fit import fitted_line_chart, residuals_chart
from gradfit.charts.loss import loss_curve_chart
from gradfit.charts.path import descent_path_chart
from gradfit.charts.view import FitView

__all__ = ["build_charts", "write_pngs", "write_svgs", "vl_version", "render_png",
           "render_svg"]


def build_charts(view: FitView) -> dict[str, alt.TopLevelMixin]:
    """The four charts of a fit, keyed "fit", "loss", "path", "residuals".

    Parameters
    ----------
    view : FitView
        The data and the fits.

    Returns
    -------
    dict of str to altair chart
    """
    return {"fit": fitted_line_chart(view), "loss": loss_curve_chart(view),
            "path": descent_path_chart(view), "residuals": residuals_chart(view)}


def vl_version() -> str:
    """vl-convert's name for the Vega-Lite version Altair writes (e.g. ``"v6_4"``)."""
    return "_".join(alt.SCHEMA_VERSION.split(".")[:2])


def render_png(chart: alt.TopLevelMixin, scale: float = 2) -> bytes:
    """PNG bytes of `chart`, rendered offline."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), vl_version=vl_version(), scale=scale)


def render_svg(chart: alt.TopLevelMixin) -> str:
    """SVG text of `chart`, rendered offline."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict(), vl_version=vl_version())


def _write(view: FitView, folder, ext: str) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for key, chart in build_charts(view).items():
        path = folder / f"{key}.{ext}"
        if ext == "png":
            path.write_bytes(render_png(chart, scale=2))
        else:
            path.write_text(render_svg(chart), encoding="utf-8")
        out.append(path)
    return out


def write_pngs(view: FitView, folder) -> list[Path]:
    """Write fit.png, loss.png, path.png, residuals.png (scale 2) into `folder`.

    Parameters
    ----------
    view : FitView
        The data and the fits.
    folder : str or Path
        Created if missing.

    Returns
    -------
    list of Path
        The four files, in the order of :func:`build_charts`.
    """
    return _write(view, folder, "png")


def write_svgs(view: FitView, folder) -> list[Path]:
    """Write fit.svg, loss.svg, path.svg, residuals.svg into `folder`.

    Parameters
    ----------
    view : FitView
        The data and the fits.
    folder : str or Path
        Created if missing.

    Returns
    -------
    list of Path
    """
    return _write(view, folder, "svg")
