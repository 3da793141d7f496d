"""A funnel report as one standalone HTML file (no scripts, no external assets), for sharing by email or CI."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Funnel{% if r.by or r.cohort %} by {{ [r.by, r.cohort]|select|join(" and ") }}{% endif %}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1rem auto;max-width:1100px;padding:0 1rem;color:#1d2433}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{padding:.3rem .6rem;border-bottom:1px solid #dfe3ea;
text-align:right}th:first-child,td:first-child{text-align:left}.muted{color:#5b6478}</style></head><body>
<h1>Funnel</h1>
<p class="muted">Entered: leads recorded entering the stage. Skipped: leads that reached a later stage without entering
this one. Rate: of those that entered a stage, the share that entered the next.</p>
{% macro funnel(f) %}<table><tr><th>stage</th><th>entered</th><th>skipped</th><th>next</th><th>converted</th>
<th>rate</th></tr>{% for s in f.stages %}{% set c = f.conversion[loop.index0] if loop.index0 < f.conversion|length
else none %}<tr><td>{{ s.stage }}</td><td>{{ s.entered }}</td><td>{{ s.skipped if loop.index0 else "" }}</td>
<td>{{ c.to if c else "" }}</td><td>{{ c.converted if c else "" }}</td><td>{{ pct(c.rate) if c else "" }}</td></tr>
{% endfor %}</table>{% endmacro %}
{% if r.overall %}<h2>All {{ r.overall.leads }} leads</h2>{{ funnel(r.overall) }}{% endif %}
<h2>Time between stages</h2><table><tr><th>from</th><th>to</th><th>leads</th><th>median days</th><th>mean days</th></tr>
{% for d in r.durations %}<tr><td>{{ d.from }}</td><td>{{ d.to }}</td><td>{{ d.leads }}</td>
<td>{{ d.median_days if d.median_days is not none else "-" }}</td>
<td>{{ d.mean_days if d.mean_days is not none else "-" }}</td>
</tr>{% endfor %}</table>
{% for g in r.groups %}<h2>{{ g.label }} ({{ g.leads }} leads)</h2>{{ funnel(g) }}{% endfor %}
</body></html>
"""


def funnel_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=select_autoescape(default_for_string=True), keep_trailing_newline=True)
    return env.from_string(_PAGE).render(r=report, pct=lambda v: "-" if v is None else f"{v:.1%}")
