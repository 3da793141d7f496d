"""Benchmark: parse and check a generated 20,000-line campaign, against Lark's LALR parser alone on the same text.

Prints our lines/s (parse + check, and parse alone), Lark alone measured in the same run, and the ratio
(target: parse + check at least 0.8 of Lark alone). Timings are CPU seconds, best of several interleaved
runs, since the machine may be shared.

Run: .venv/bin/python bench/dsl_check.py [--lines N] [--runs N] [--profile] [--no-write]
Writes bench/results/dsl_check.json with the core count and load average.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import json
import os
import platform
import pstats
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lark  # noqa: E402

from dsl.campaign import Campaign, load_campaign  # noqa: E402
from dsl.diagnostics import Severity  # noqa: E402
from dsl.parser import GRAMMAR, collector_paused, parse_source, read_source  # noqa: E402
from dsl.source import SourceFile  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "dsl_check.json"
#: parse + check as a share of Lark's LALR parser alone on the same text
TARGET_RATIO = 0.8
LINES_PER_FILE = 1_000  # a large team's journey file; a campaign is many of them

INDUSTRIES = ["Software", "E-commerce", "Financial Services", "Healthcare", "Manufacturing", "Education"]
COUNTRIES = ["US", "CA", "GB", "IE", "DE", "AT", "CH", "NL", "FR", "ES"]
PAGES = ["/pricing", "/docs", "/blog", "/integrations", "/security", "/customers", "/careers"]

# ===== the generated campaign ==================================================================


def days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def declarations(events: int) -> list[str]:
    """Settings, attributes and events every other file relies on."""
    lines = [
        "# Shared declarations",
        "settings {",
        '  sender name "Maya Chen at Acme Analytics"',
        '  sender address "maya@acme-analytics.example"',
        '  reply to "hello@acme-analytics.example"',
        '  sales address "sales@acme-analytics.example"',
        '  default timezone "America/New_York"',
        "  quiet hours 20:00 to 08:00",
        "  max 1 email per day",
        "  max 3 emails per week",
        "}",
        "",
        "attributes {",
        "  first_name: text",
        "  job_title: text",
        "  company_size: number = 0  # employees",
        "  industry: text",
        "  country: text",
        "  timezone: timezone",
        '  lead_source: text = "website"',
        "  interests: list of text = []",
        '  nurture_status: text = "active"',
        "  signed_up: date",
        "  trial_days: number = 0",
        "}",
        "",
        "events {",
        "  page.viewed { url: text }",
        "  content.downloaded { asset: text }",
        "  form.submitted { form: text }",
        "  webinar.attended { webinar: text, minutes: number }",
        "  demo.requested",
        "  trial.started { plan: text }",
    ]
    lines += [f"  product.feature_{i}.used {{ count: number, plan: text }}" for i in range(events)]
    return lines + ["}"]


def score(rnd: random.Random, index: int, events: int) -> list[str]:
    lines = [f"# Score {index}: fit and behaviour for one product line", f'score s{index} "Score {index}" {{']
    lines += [
        r"  +20 if job_title matches /\b(VP|Vice President|Director|Head of|Chief)\b/i",
        "  -10 if job_title matches /\\b(Student|Intern)\\b/i",
        f"  +{rnd.randrange(1, 20)} if company_size >= 200 and company_size <= 5000",
        f'  +10 if industry in ["{rnd.choice(INDUSTRIES)}", "{rnd.choice(INDUSTRIES)}"]',
        f'  +5 if country in ["{rnd.choice(COUNTRIES)}", "{rnd.choice(COUNTRIES)}", "US"]',
        '  -15 if email ends with "@gmail.com"',
        f"  +{rnd.randrange(1, 5)} per email.opened where prefetched = false max 10 per 7 days",
        "  +5 per email.clicked max 20 per 7 days",
    ]
    for page in rnd.sample(PAGES, 4):
        lines.append(f'  +{rnd.randrange(1, 20)} per page.viewed where url contains "{page}" '
                     f"max {rnd.randrange(20, 60)} per {days(rnd.randrange(1, 30))}")
    for feature in rnd.sample(range(events), 6):
        lines.append(f'  +{rnd.randrange(1, 10)} per product.feature_{feature}.used where plan = "pro"')
    lines += [
        "  +25 per webinar.attended where minutes >= 30",
        "  +40 per trial.started",
        "  +60 per demo.requested",
        "  -30 per email.unsubscribed",
        "  decay 50% every 30 days" if index % 2 else "  decay half-life 2 weeks",
        "  floor 0",
        "}",
    ]
    return lines


def stages(count: int) -> list[str]:
    """A ladder: each stage promotes from the one below and can fall back to it."""
    lines = ["# The lifecycle ladder"]
    previous = "lead"
    for i in range(count):
        name = f"tier{i}"
        lines += [
            f'stage {name} "Tier {i}" {{',
            f"  when s{i} >= {20 + i} and s{(i + 1) % count} >= {10 + i}",
            f"  when demo.requested within {days(i + 1)} or form.submitted where form = \"contact_{i}\"",
            f"  back to {previous} when s{i} < {5 + i}",
            '  notify sales "sales@acme-analytics.example" with "sql_alert"',
            '  assign owner round robin ["ana@acme-analytics.example", "bo@acme-analytics.example"]',
            '  assign owner "enterprise@acme-analytics.example" when company_size >= 1000',
            "}",
            "",
        ]
        previous = name
    return lines


def journey(rnd: random.Random, index: int, stage_count: int, score_count: int, events: int) -> list[str]:
    tier = f"tier{index % stage_count}"
    feature = rnd.randrange(events)
    page = rnd.choice(PAGES)
    lines = [
        f"# Journey {index}: nurture leads who reach {tier}",
        f'journey j{index} "Nurture {index}" {{',
        f"  enter when stage becomes {tier}",
        "  reentry after 90 days" if index % 3 else "  reentry never",
        f"  exit when stage becomes tier{(index + 1) % stage_count}",
        "  exit when email.unsubscribed",
        "  goal demo.requested",
        "",
        "  # Day 0: hello",
        '  intro: send "welcome"',
        "  wait 2 days",
        "  proof: if email.clicked since intro {",
        '    send "case_study" at 10:00 on weekdays',
        "  } else {",
        '    send "getting_started" at 10:00 on weekdays',
        "  }",
        f'  wait up to 5 days for page.viewed where url contains "{page}"',
        f"  offer: if s{score_count - 1} >= 40 or page.viewed where url contains \"{page}\" since proof {{",
        '    send "demo_invite" at 09:30 on tue, wed, thu',
        f"  }} else if product.feature_{feature}.used at least 3 times within 14 days {{",
        '    send "trial_invite" at 09:30 on tue, wed, thu',
        '  } else if not (industry in ["Education"] or country is missing) {',
        '    set nurture_status = "nurtured"',
        "  } else {",
        '    send "reminder"',
        "  }",
        "  wait until 09:00 on mon, wed, fri",
        f"  check_in: if stage is tier0 and company_size > 500 or s{index % score_count} > 80 {{",
        '    notify owner with "owner_alert"',
        "  }",
        "  wait 1 week",
        f"  if webinar.attended where minutes >= {rnd.randrange(10, 60)} since intro {{",
        '    send "webinar_followup"',
        "  }",
        '  set nurture_status = "done"',
        "}",
        "",
    ]
    return lines


def campaign_files(total_lines: int, seed: int = 7) -> Iterator[tuple[str, list[str]]]:
    """(file name, lines) of a campaign of about ``total_lines`` lines, in files of LINES_PER_FILE."""
    rnd = random.Random(seed)
    events, stage_count = 40, 20
    head = declarations(events) + [""] + stages(stage_count)
    yield "campaign.nurture", head
    written = len(head)
    chunk: list[str] = []
    scores = journeys = 0
    while written < total_lines:
        # A new score every four journeys; the next journey uses it, so none is left unused.
        if scores < stage_count or journeys > scores * 4:
            block = score(rnd, scores, events) + [""]
            scores += 1
        else:
            block = []
        block += journey(rnd, journeys, stage_count, scores, events)
        journeys += 1
        chunk += block
        written += len(block)
        if len(chunk) >= LINES_PER_FILE:
            yield f"part{written:06d}.nurture", chunk
            chunk = []
            written -= 1  # the file's last blank line is not written
    if chunk:
        yield f"part{written:06d}.nurture", chunk


TEMPLATE_NAMES = ["welcome", "case_study", "getting_started", "demo_invite", "trial_invite", "reminder",
                  "webinar_followup", "sql_alert", "owner_alert"]


def write_campaign(root: Path, total_lines: int) -> tuple[Path, Path, int]:
    journeys, templates = root / "journeys", root / "templates"
    journeys.mkdir()
    templates.mkdir()
    lines = 0
    for name, text in campaign_files(total_lines):
        body = "\n".join(text).rstrip("\n") + "\n"
        (journeys / name).write_text(body, encoding="utf-8")
        lines += body.count("\n")
    for name in TEMPLATE_NAMES:
        (templates / f"{name}.html").write_text(
            f"{{% block subject %}}{name}{{% endblock %}}\n<p>Hi {{{{ lead.first_name or 'there' }}}},</p>\n"
            f'<p><a href="{{{{ unsubscribe_url }}}}">unsubscribe</a></p>\n', encoding="utf-8")
        (templates / f"{name}.txt").write_text(f"Hi {{{{ lead.first_name or 'there' }}}},\n{name}\n"
                                               f"Unsubscribe: {{{{ unsubscribe_url }}}}\n", encoding="utf-8")
    return journeys, templates, lines


# ===== measuring ===============================================================================


def cpu_seconds(work: Callable[[], object]) -> float:
    """CPU seconds of one call (the machine is shared: CPU time moves less with other load than wall time)."""
    gc.collect()
    start = time.process_time()
    work()
    return time.process_time() - start


def lark_alone(lark_parser: lark.Lark, texts: list[str]) -> int:
    """The baseline: Lark's LALR parser alone on the same text (its parse tree, no positions, no AST)."""
    for text in texts:
        lark_parser.parse(text)
    return len(texts)


def parse_only(sources: list[SourceFile]) -> int:
    """Our parse: text to the typed AST with spans and comments (the per-process cache cleared first), with
    the cyclic collector paused for all the files, as `load_campaign` pauses it, so parse and check split the
    same total."""
    parse_source.cache_clear()
    with collector_paused():
        for source in sources:
            parse_source(source)
    return len(sources)


def parse_and_check(journeys: Path, templates: Path) -> Campaign:
    """`nurture check`: read, parse and check every file."""
    parse_source.cache_clear()
    return load_campaign([journeys], templates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each, interleaved; the best is kept")
    parser.add_argument("--profile", action="store_true", help="print the top functions of one load")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/dsl_check.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        journeys, templates, lines = write_campaign(Path(tmp), args.lines)
        paths = sorted(journeys.glob("*.nurture"))
        sources = [source for source in (read_source(path)[0] for path in paths) if source is not None]
        size = sum(p.stat().st_size for p in paths)
        baseline = lark.Lark.open(str(GRAMMAR), parser="lalr")
        parse_only(sources[:1])  # build both parsers once, as a long-running process would
        lark_alone(baseline, [sources[0].text])

        texts = [source.text for source in sources]
        best: dict[str, float] = {"lark": float("inf"), "parse": float("inf"), "total": float("inf")}
        for _ in range(args.runs):  # interleaved, so each sees the same load on a shared machine
            best["lark"] = min(best["lark"], cpu_seconds(lambda: lark_alone(baseline, texts)))
            best["parse"] = min(best["parse"], cpu_seconds(lambda: parse_only(sources)))
            best["total"] = min(best["total"], cpu_seconds(lambda: parse_and_check(journeys, templates)))
        campaign = parse_and_check(journeys, templates)

        tracemalloc.start()
        parse_and_check(journeys, templates)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(parse_and_check, journeys, templates)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    diags = campaign.diagnostics
    errors = sum(d.severity is Severity.ERROR for d in diags)
    total, parse, alone = best["total"], best["parse"], best["lark"]
    ratio = alone / total
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "lines": lines,
        "files": len(paths),
        "bytes": size,
        "runs": args.runs,
        "timing": "best of the runs, CPU seconds of this process, the three measured interleaved",
        "cpu_seconds_parse_and_check": round(total, 4),
        "cpu_seconds_parse": round(parse, 4),
        "cpu_seconds_check": round(max(total - parse, 0.0), 4),
        "cpu_seconds_lark_alone": round(alone, 4),
        "lines_per_second": round(lines / total),
        "parse_lines_per_second": round(lines / parse),
        "lark_alone_lines_per_second": round(lines / alone),
        "ratio_to_lark_alone": round(ratio, 3),
        "parse_ratio_to_lark_alone": round(alone / parse, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "peak_traced_mib": round(peak / 2**20, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "errors": errors,
        "warnings": len(diags) - errors,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "lark": lark.__version__,
        "machine": platform.machine(),
    }
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{lines:,} lines in {len(paths)} files ({size / 1024:.0f} KiB); best of {args.runs}, CPU seconds")
    print(f"parse + check:    {total:.3f} s  ({result['lines_per_second']:,} lines/s)")
    print(f"  parse only:     {parse:.3f} s  ({result['parse_lines_per_second']:,} lines/s)")
    print(f"  check:          {result['cpu_seconds_check']:.3f} s")
    print(f"Lark LALR alone:  {alone:.3f} s  ({result['lark_alone_lines_per_second']:,} lines/s), same run")
    print(f"ratio parse + check / Lark alone: {ratio:.2f} (target {TARGET_RATIO}: "
          f"{'met' if result['meets_target'] else 'NOT met'}); parse alone: {result['parse_ratio_to_lark_alone']:.2f}")
    print(f"peak traced memory {result['peak_traced_mib']} MiB, max RSS {result['max_rss_mib']} MiB; "
          f"{result['cpus']} cores, load average {result['load_average']}")
    print(f"diagnostics: {errors} errors, {result['warnings']} warnings")
    if not args.no_write:
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
