"""`nurture tune` on a generated history with planted weights: what it recovers, and the AUC before and after.

Generates the history of tests/engine/planted.py (a small campaign, leads whose conversions follow planted
log-odds on its rules, two of them planted so their marginal lift misleads), runs `nurture tune --json` on
it as a user would (its own process) and prints, per rule, the planted weight, the fitted weight, the
suggested points and the marginal lift; then the cross-validated AUC of the hand-written and the suggested
points. Writes bench/results/tune.json.

    python bench/tune.py [--leads 1500] [--seed 11]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine.planted import PLANTED, write_planted  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11, help="seed of the generated history")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/tune.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nurture-bench-tune-") as folder:
        history = write_planted(Path(folder), leads=args.leads, seed=args.seed)
        env = {**os.environ, "NURTURE_CAMPAIGN_DIR": str(history.campaign),
               "NURTURE_TEMPLATE_DIR": str(history.campaign.parent / "templates")}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "engine", "tune", "--events", str(history.events), "--leads",
                               str(history.leads), "--outcomes", str(history.outcomes), "--json"], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr)
    data = json.loads(done.stdout)
    rules = {r["rule"]: r for r in data["rules"]}
    planted_order = sorted(PLANTED, key=PLANTED.__getitem__)
    fitted_order = sorted(PLANTED, key=lambda rule: rules[rule]["weight"])
    rows = [{"rule": rule, "planted_log_odds": PLANTED[rule], "points": rules[rule]["points"],
             "fitted_points": rules[rule]["weight"], "suggested": rules[rule]["suggested"],
             "lift": rules[rule]["lift"], "disagree": rules[rule]["disagree"]} for rule in PLANTED]
    print(f"{data['leads']:,} leads, {data['converted']:,} converted, {data['events']:,} events; {seconds:.1f} s")
    print(f"{'rule':68} {'planted':>8} {'points':>6} {'fitted':>7} {'suggest':>7} {'lift':>5}")
    for row in rows:
        print(f"{row['rule']:68} {row['planted_log_odds']:+8.1f} {row['points']:+6d} {row['fitted_points']:+7.1f} "
              f"{row['suggested']:+7d} {row['lift']:5.2f}{'  (disagree)' if row['disagree'] else ''}")
    figures = data["auc"]
    print(f"cross-validated AUC: current {figures['current']:.3f}, suggested {figures['suggested']:.3f} "
          f"(fitted before rounding {figures['fitted']:.3f})")
    signs = all((rules[rule]["weight"] > 0) == (PLANTED[rule] > 0) for rule in PLANTED)
    print(f"order recovered: {fitted_order == planted_order}; signs recovered: {signs}")
    if not args.no_write:
        out = ROOT / "bench" / "results" / "tune.json"
        out.write_text(json.dumps({
            "leads": data["leads"], "converted": data["converted"], "events": data["events"], "seed": args.seed,
            "seconds": round(seconds, 2), "auc": {k: figures[k] for k in ("current", "suggested", "fitted")},
            "order_recovered": fitted_order == planted_order, "signs_recovered": signs, "rules": rows,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}, indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
