"""Self-contained HTML reports with inline SVG charts: one file, no scripts, nothing fetched."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ["#3566c8", "#e07b39", "#3a9d5d", "#c0392b", "#8e5ac8", "#2aa1b3", "#b8a21f", "#7f7f7f", "#d45594",
           "#5b7d2b"]
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 16, 34

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; margin: 2rem auto;
       max-width: 980px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #5a6478; } .warn { color: #b03a2e; font-weight: 600; } .ok { color: #2e7d4f; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e3e6ec; text-align: right; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { background: #f4f6f9; font-weight: 600; }
svg { display: block; margin: .5rem 0; } svg text { font: 11px system-ui, sans-serif; fill: #333; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"meta\">{esc(subtitle)}</p>"
            + "".join(sections) + "</body></html>\n")


def section(heading: str, *parts: str) -> str:
    return f"<section><h2>{esc(heading)}</h2>{''.join(parts)}</section>"


def paragraph(text: str, css: str = "") -> str:
    return f"<p class=\"{css}\">{esc(text)}</p>" if css else f"<p>{esc(text)}</p>"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: int = 1) -> str:
    head = "".join(f"<th class=\"text\">{esc(h)}</th>" if i < text_columns else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td class=\"text\">{esc(fmt(c))}</td>" if i < text_columns
                                    else f"<td>{esc(fmt(c))}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _frame(top: float, x_labels: Sequence[str], title: str) -> list[str]:
    """Axes, horizontal grid lines with values, and about ten x labels."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" "
             f"viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{esc(title)}\">"]
    for k in range(5):
        y = TOP + plot_h - plot_h * k / 4
        parts.append(f"<line x1=\"{LEFT}\" y1=\"{y:.1f}\" x2=\"{LEFT + plot_w}\" y2=\"{y:.1f}\" stroke=\"#e3e6ec\"/>")
        parts.append(f"<text x=\"{LEFT - 6}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{fmt(top * k / 4, 0)}</text>")
    n = len(x_labels)
    every = max(1, n // 10)
    for i, label in enumerate(x_labels):
        if i % every == 0 or (i == n - 1 and i % every >= every / 2):
            x = LEFT + plot_w * (i + 0.5) / n
            parts.append(f"<text x=\"{x:.1f}\" y=\"{HEIGHT - BOTTOM + 16}\" text-anchor=\"middle\">{esc(label)}</text>")
    parts.append(f"<line x1=\"{LEFT}\" y1=\"{TOP + plot_h}\" x2=\"{LEFT + plot_w}\" y2=\"{TOP + plot_h}\" "
                 "stroke=\"#888\"/>")
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    x = WIDTH - RIGHT + 14
    return [f"<rect x=\"{x}\" y=\"{TOP + 4 + 18 * i}\" width=\"10\" height=\"10\" "
            f"fill=\"{PALETTE[i % len(PALETTE)]}\"/><text x=\"{x + 16}\" y=\"{TOP + 13 + 18 * i}\">"
            f"{esc(name[:20])}</text>" for i, name in enumerate(names)]


def line_chart(series: Mapping[str, Sequence[float]], x_labels: Sequence[str], title: str) -> str:
    """One line per series over shared x positions."""
    top = _nice_max(max((max(v, default=0) for v in series.values()), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(x_labels))
    parts = _frame(top, x_labels, title)
    for i, values in enumerate(series.values()):
        points = " ".join(f"{LEFT + plot_w * (k + 0.5) / n:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
                          for k, v in enumerate(values))
        parts.append(f"<polyline fill=\"none\" stroke=\"{PALETTE[i % len(PALETTE)]}\" stroke-width=\"2\" "
                     f"points=\"{points}\"/>")
    parts += _legend(list(series))
    return "".join(parts) + "</svg>"


def stacked_bars(series: Mapping[str, Sequence[float]], x_labels: Sequence[str], title: str) -> str:
    """Bars per x position, one stacked segment per series."""
    n = max(1, len(x_labels))
    totals = [sum(values[k] for values in series.values()) for k in range(len(x_labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar = plot_w / n
    parts = _frame(top, x_labels, title)
    base = [0.0] * len(x_labels)
    for i, (name, values) in enumerate(series.items()):
        for k, v in enumerate(values):
            if not v:
                continue
            h = plot_h * v / top
            y = TOP + plot_h - plot_h * base[k] / top - h
            parts.append(f"<rect x=\"{LEFT + bar * k + bar * 0.1:.1f}\" y=\"{y:.1f}\" width=\"{bar * 0.8:.1f}\" "
                         f"height=\"{h:.1f}\" fill=\"{PALETTE[i % len(PALETTE)]}\"><title>{esc(name)} "
                         f"{esc(x_labels[k])}: {fmt(v)}</title></rect>")
            base[k] += v
    parts += _legend(list(series))
    return "".join(parts) + "</svg>"


def grouped_hbars(labels: Sequence[str], groups: dict[str, Sequence[float | None]], title: str,
                  reference: float | None = None) -> str:
    """Horizontal bars, one row per label and one bar per group (e.g. current vs. other campaign)."""
    label_w, bar_h, gap = 330, 12, 8
    row_h = bar_h * len(groups) + gap
    height = TOP + row_h * len(labels) + 30
    values = [v for vs in groups.values() for v in vs if v is not None]
    top = _nice_max(max(values + ([reference] if reference else []), default=0))
    plot_w = WIDTH - label_w - 60
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" "
             f"viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{esc(title)}\">"]
    for r, label in enumerate(labels):
        y0 = TOP + r * row_h
        parts.append(f"<text x=\"{label_w - 8}\" y=\"{y0 + bar_h * len(groups) / 2 + 4:.1f}\" "
                     f"text-anchor=\"end\">{esc(_short(label, 50))}</text>")
        for g, vs in enumerate(groups.values()):
            v = vs[r]
            if v is None:
                continue
            w = plot_w * v / top
            parts.append(f"<rect x=\"{label_w}\" y=\"{y0 + g * bar_h}\" width=\"{w:.1f}\" height=\"{bar_h - 2}\" "
                         f"fill=\"{PALETTE[g % len(PALETTE)]}\"/><text x=\"{label_w + w + 4:.1f}\" "
                         f"y=\"{y0 + g * bar_h + bar_h - 3}\">{fmt(v)}</text>")
    if reference is not None:
        x = label_w + plot_w * reference / top
        parts.append(f"<line x1=\"{x:.1f}\" y1=\"{TOP - 4}\" x2=\"{x:.1f}\" y2=\"{height - 24}\" stroke=\"#888\" "
                     f"stroke-dasharray=\"4 3\"/><text x=\"{x:.1f}\" y=\"{height - 10}\" "
                     f"text-anchor=\"middle\">{fmt(reference)}</text>")
    if len(groups) > 1:
        for g, name in enumerate(groups):
            x = label_w + 160 * g
            parts.append(f"<rect x=\"{x}\" y=\"{height - 18}\" width=\"10\" height=\"10\" "
                         f"fill=\"{PALETTE[g % len(PALETTE)]}\"/><text x=\"{x + 14}\" y=\"{height - 9}\">"
                         f"{esc(_short(name, 52))}</text>")
    return "".join(parts) + "</svg>"


def roc_chart(curves: dict[str, Sequence[tuple[float, float]]], title: str) -> str:
    """ROC curves on a square plot with the diagonal of a model that knows nothing."""
    size, pad = 300, 40
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size + pad + 360}\" height=\"{size + 2 * pad}\" "
             f"role=\"img\" aria-label=\"{esc(title)}\">",
             f"<rect x=\"{pad}\" y=\"{pad // 2}\" width=\"{size}\" height=\"{size}\" fill=\"none\" stroke=\"#888\"/>",
             f"<line x1=\"{pad}\" y1=\"{pad // 2 + size}\" x2=\"{pad + size}\" y2=\"{pad // 2}\" stroke=\"#bbb\" "
             "stroke-dasharray=\"4 3\"/>",
             f"<text x=\"{pad + size / 2}\" y=\"{size + pad + 10}\" text-anchor=\"middle\">false positive rate</text>",
             f"<text x=\"12\" y=\"{pad // 2 + size / 2}\" transform=\"rotate(-90 12 {pad // 2 + size / 2})\" "
             "text-anchor=\"middle\">true positive rate</text>"]
    for i, (name, points) in enumerate(curves.items()):
        coords = " ".join(f"{pad + size * x:.1f},{pad // 2 + size - size * y:.1f}" for x, y in points)
        color = PALETTE[i % len(PALETTE)]
        parts.append(f"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{coords}\"/>")
        parts.append(f"<rect x=\"{pad + size + 16}\" y=\"{pad // 2 + 18 * i}\" width=\"10\" height=\"10\" "
                     f"fill=\"{color}\"/><text x=\"{pad + size + 32}\" y=\"{pad // 2 + 9 + 18 * i}\">"
                     f"{esc(_short(name, 52))}</text>")
    return "".join(parts) + "</svg>"


def _weekly(values: Sequence[int], width: int) -> list[int]:
    return [sum(values[i:i + width]) for i in range(0, len(values), width)]


def simulation_page(data: dict[str, Any]) -> str:
    """The report of `nurture simulate` (its JSON), as one HTML page."""
    days = data["funnel_by_day"]
    labels = [row["date"][5:] for row in days]
    funnel = {stage: [row.get(stage, 0) for row in days] for stage in data["stages"]}
    width = 1 if data["days"] <= 60 else 7
    unit = "day" if width == 1 else "week"
    by_journey: dict[str, list[int]] = {}
    for step in data["sends_by_step"]:
        sums = by_journey.setdefault(step["journey"], [0] * data["days"])
        for i, n in enumerate(step["per_day"]):
            sums[i] += n
    send_labels = labels[::width]
    sends = {journey: _weekly(values, width) for journey, values in by_journey.items()}
    mailing = data["mailing"]
    over = mailing["lead_days_over"]
    verdict = (paragraph(f"{over:,} lead-days with more than {mailing['allowed_per_day']} marketing emails; the most "
                         f"was {mailing['peak_per_lead_day']} in a day.", "warn") if over else
               paragraph(f"No over-mailing: at most {mailing['peak_per_lead_day']} marketing email(s) per lead per "
                         "day.", "ok"))
    steps = table(["journey", "step", "template", "total"],
                  [(s["journey"], s["step"], s["template"], s["total"]) for s in data["sends_by_step"]], 3)
    stuck = paragraph(f"No enrolment waited more than {data['stuck_days']} days.", "ok")
    if data["stuck"]:
        stuck = table(["journey", "step", "waiting", "enrolments", "longest (days)"],
                      [(g["journey"], g["step"], g["kind"], g["enrollments"], g["longest_days"])
                       for g in data["stuck"]], 3)
    return page(
        "Nurture simulation",
        f"{data['leads']:,} synthetic leads over {data['days']} days from {data['start'][:10]}, seed {data['seed']}; "
        f"{data['events']:,} events, {data['sent']['marketing']:,} marketing emails, "
        f"{data['sent']['sales']:,} sales alerts. " + " ".join(f"Note: {n}." for n in data["notes"]),
        [section("Funnel over time", paragraph("Leads in each stage at the end of each day."),
                 line_chart(funnel, labels, "leads per stage per day"),
                 paragraph("The same without the first stage, whose size hides the others."),
                 line_chart(dict(list(funnel.items())[1:]), labels, "leads per later stage per day"),
                 table(["stage", "ever entered"], list(data["entered"].items()))),
         section(f"Emails sent per {unit}", stacked_bars(sends, send_labels, f"emails per {unit} by journey"),
                 steps),
         section("Over-mailing", verdict,
                 table(["lead", "day", "emails", "templates"],
                       [(w["lead"], w["day"], w["sends"], ", ".join(w["templates"])) for w in mailing["worst"]], 2)),
         section(f"Stuck in a wait for more than {data['stuck_days']} days", stuck)])


def backtest_page(data: dict[str, Any]) -> str:
    """The report of `nurture backtest` (its JSON), as one HTML page."""
    versions = data["versions"]
    names = ["current"] + [f"against {v['label']}" for v in versions[1:]]
    stages = versions[0]["stages"][1:]
    entered = grouped_hbars([f"entered {s}" for s in stages],
                            {n: [v["entered"].get(s, 0) for s in stages] for n, v in zip(names, versions, strict=True)},
                            "leads that entered each stage")
    steps: dict[tuple[str, str], list[int]] = {}
    for i, version in enumerate(versions):
        for step in version["sends_by_step"]:
            steps.setdefault((step["journey"], step["step"]), [0] * len(versions))[i] += step["sent"]
    keys = sorted(steps)
    sends = grouped_hbars([f"{j} / {s}" for j, s in keys],
                          {n: [steps[k][i] for k in keys] for i, n in enumerate(names)}, "emails per journey step")
    summary = table(["", *names], [("leads", *(v["leads"] for v in versions)),
                                   *((f"entered {s}", *(v["entered"].get(s, 0) for v in versions)) for s in stages),
                                   ("marketing emails", *(v["sent"]["marketing"] for v in versions)),
                                   ("sales alerts", *(v["sent"]["sales"] for v in versions))])
    parts = [section("What each version produces", summary, entered)]
    if len(versions) > 1:
        moves = table(["from (current)", f"to ({versions[1]['label']})", "leads"],
                      [(t["from"], t["to"], t["leads"]) for t in data["transitions"]], 2)
        examples = table(["lead", "current", versions[1]["label"]],
                         [(e["lead"], e["current"], e["against"]) for e in data["changed_examples"]], 3)
        parts.append(section(f"{data['final_stage_changed']:,} leads end in another stage", moves, examples))
    parts.append(section("Emails that would have been sent", sends))
    evidence = [v["evidence"] for v in versions]
    if evidence[0] is not None:
        first = evidence[0]
        rules = [r for r in first["rules"] if r["lift"] is not None][:25]
        lift_chart = grouped_hbars([f"{r['score']}: {r['rule']}" for r in rules],
                                   {"lift": [r["lift"] for r in rules]}, "lift per rule", reference=1.0)
        rule_table = table(["score", "rule", "kind", "fired for", "converted", "lift"],
                           [(r["score"], r["rule"], r["kind"], r["fired"], r["converted"], r["lift"])
                            for r in first["rules"]], 3)
        stage_rows = []
        for i, ev in enumerate(evidence):
            for s in ev["stages"]:
                stage_rows.append((s["stage"], names[i], s["reached"], s["converted"], s["precision"], s["recall"]))
        curves = {f"{m['score']} ({names[i]}, AUC {fmt(m['auc'], 3)})": m["roc"]
                  for i, ev in enumerate(evidence) for m in ev["models"] if m["roc"]}
        parts.append(section(
            "Against the outcomes",
            paragraph(f"{first['converted']:,} of {first['leads']:,} leads converted (base rate "
                      f"{fmt(first['base_rate'], 3)}); judged at {first['judged_at']}."),
            paragraph("Lift: the conversion rate of the leads a rule fired for, over the base rate (dashed line: "
                      "1, no information). Rules of the current campaign."), lift_chart, rule_table,
            paragraph("Stages: precision is the share of leads reaching the stage that converted; recall the "
                      "share of converted leads that reached it."),
            table(["stage", "version", "reached", "converted", "precision", "recall"], stage_rows, 2),
            paragraph("Score models: ROC curves and AUC (0.5 knows nothing, 1.0 ranks every converter first)."),
            roc_chart(curves, "ROC curves")))
    return page("Nurture backtest",
                f"{data['events']:,} events from {data['first_event'][:10]} to {data['last_event'][:10]}. "
                + " ".join(f"Note: {n}." for n in data["notes"]), parts)
