"""The report's HTML page: layout, style and the embedding script (the story of the fit is
written by :mod:`gradfit.report.story`).

Placeholders ``@@NAME@@`` are filled in one pass by :func:`fill`, so no filled-in value
is ever scanned for placeholders again.  Every value but the JavaScript bundle and the
JSON spec must already be HTML-escaped.
"""

from __future__ import annotations

import re

__all__ = ["PAGE", "fill"]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@@TITLE@@</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
         margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { font-size: 1.2rem; margin-top: 1.6rem; }
  .tables { display: flex; flex-wrap: wrap; gap: 2rem; }
  table { border-collapse: collapse; font-size: .92rem; }
  th, td { text-align: left; padding: .25rem .8rem .25rem 0; border-bottom: 1px solid #e4e4e4;
           vertical-align: top; }
  th { color: #555; font-weight: 600; }
  td.num { font-variant-numeric: tabular-nums; }
  .story li { margin-bottom: .45rem; line-height: 1.45; }
  #gradfit-slider { margin: .8rem 0; font-size: 1rem; }
  #gradfit-slider input[type=range] { width: 420px; vertical-align: middle; }
  #gradfit-error { color: #b00020; white-space: pre-wrap; }
  .note { color: #666; font-size: .88rem; }
</style>
</head>
<body>
<h1>@@TITLE@@</h1>
<p class="note">A self-contained report by gradfit @@VERSION@@: everything needed to draw it
is inside this one file.  Hover for values; scroll to zoom and drag to pan the data and path
charts (double-click resets).</p>
<div class="tables">
  <div><h2>Summary</h2>@@SUMMARY@@</div>
  <div><h2>Settings</h2>@@SETTINGS@@</div>
</div>
@@STORY@@
@@INFERENCE@@
<h2>Charts</h2>
<div id="gradfit-slider"></div>
<div id="gradfit-charts"></div>
<div id="gradfit-error"></div>
<noscript>The charts need JavaScript.</noscript>
<script type="application/json" id="gradfit-spec">@@SPEC@@</script>
<script>@@BUNDLE@@</script>
<script>
(function () {
  var spec = JSON.parse(document.getElementById("gradfit-spec").textContent);
  window.gradfit = { spec: spec, view: null, ready: false };
  vegaEmbed("#gradfit-charts", spec, {
    renderer: "svg",
    bind: "#gradfit-slider",
    actions: { export: true, source: false, compiled: false, editor: false }
  }).then(function (result) {
    window.gradfit.view = result.view;
    return result.view.runAsync();
  }).then(function () {
    window.gradfit.ready = true;
    document.body.setAttribute("data-rendered", "yes");
  }).catch(function (err) {
    document.getElementById("gradfit-error").textContent = "The charts failed: " + err;
    document.body.setAttribute("data-rendered", "error");
    console.error(err);
  });
})();
</script>
</body>
</html>
"""


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each ``@@NAME@@`` in `template` by ``values[NAME]`` in a single pass."""
    return re.sub(r"@@([A-Z]+)@@", lambda m: values[m.group(1)], template)
