"""Start-up cost: `nurture --help`, `nurture check journeys` and `nurture --version` as whole processes, each
next to `python -c pass` started in the same run, and the parser built with and without its cache.

Every round starts the baseline and then each command once, in turn, so a machine that speeds up or slows
down during the run moves both alike. Prints the median wall time of each, and each command's ratio to the
baseline (the median of the round-by-round ratios); writes bench/results/startup.json.

    python bench/startup.py [--runs 30] [--before DIR]

--before DIR also times another checkout of the project (e.g. `git worktree add DIR main`) in the same
rounds, through the same installed `nurture` script with DIR first on PYTHONPATH. The parser tables are
kept beside each checkout's grammar, as in daily use: they are warm after the first round (warm-up rounds
are not counted). A checkout from before `nurture --version` existed is timed until it refuses the option,
its whole command line loaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMMANDS = {"--help": ["--help"], "check journeys": ["check", "journeys"], "--version": ["--version"]}


def _nurture() -> list[str]:
    script = Path(sys.executable).with_name("nurture")
    return [str(script)] if script.exists() else [sys.executable, "-m", "engine"]


def _shown(argv: list[str]) -> str:
    """The command as a reader of the results can run it: paths inside the project relative to it."""
    return " ".join(os.path.relpath(word, ROOT) if word.startswith(str(ROOT)) else Path(word).name
                    if os.path.isabs(word) else word for word in argv)


def _commit(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _wall(argv: list[str], cwd: Path, env: dict[str, str], allowed: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode not in allowed:
        raise SystemExit(f"{' '.join(argv)} in {cwd} exited {done.returncode}:\n{done.stderr.decode()}")
    return seconds


def _parser_build(runs: int) -> dict[str, float]:
    """Milliseconds to construct the Lark parser in this process: from the grammar, and from the cache file."""
    from dsl import parser

    cache = parser.cache_file()
    parser.build_parser(cache)  # the cache file exists from here on

    def median_ms(where: str | None) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            parser.build_parser(where)
            times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1000, 1)

    built, loaded = median_ms(None), median_ms(cache)
    return {"without_cache_ms": built, "with_cache_ms": loaded, "ratio": round(built / loaded, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--before", type=Path, help="another checkout of the project to time in the same rounds")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    nurture = _nurture()
    trees = {"now": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    envs = {name: {**os.environ, "PYTHONPATH": str(tree)} for name, tree in trees.items()}
    baseline = [sys.executable, "-c", "pass"]
    walls: dict[str, list[float]] = {"python -c pass": []}
    ratios: dict[str, list[float]] = {}
    for round_ in range(args.warmup + args.runs):
        base = _wall(baseline, ROOT, envs["now"])
        # a checkout from before `--version` existed answers it with a usage error (2) once its command line is loaded
        timed = {f"{tree} {label}": _wall(nurture + argv, trees[tree], envs[tree], (0, 2) if tree == "before" else (0,))
                 for label, argv in COMMANDS.items() for tree in trees}
        if round_ < args.warmup:
            continue
        walls["python -c pass"].append(base)
        for key, seconds in timed.items():
            walls.setdefault(key, []).append(seconds)
            ratios.setdefault(key, []).append(seconds / base)
    medians = {key: round(statistics.median(times) * 1000, 1) for key, times in walls.items()}
    results = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "what": "whole processes, wall time from start to exit, started from this script one after another; "
                f"`nurture` is {_shown(nurture)}; the parser tables beside the grammar, warm",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
        "runs": args.runs,
        "median_ms": medians,
        "ratio_to_python_c_pass": {key: round(statistics.median(r), 1) for key, r in ratios.items()},
        "parser_construction": _parser_build(max(5, args.runs // 3)),
    }
    if args.before:
        results["before"] = f"the project at commit {_commit(args.before)}, through the same script"
        results["speed_up"] = {label: round(medians[f"before {label}"] / medians[f"now {label}"], 1)
                               for label in COMMANDS}
    print(f"{'python -c pass':<34} {medians['python -c pass']:>8.1f} ms")
    for label in COMMANDS:
        for tree in trees:
            key = f"{tree} {label}"
            print(f"{'nurture ' + label + ('' if tree == 'now' else ' (before)'):<34} {medians[key]:>8.1f} ms  "
                  f"x{results['ratio_to_python_c_pass'][key]} python -c pass")
        if args.before:
            print(f"{'':<34} {results['speed_up'][label]}x faster than before")
    build = results["parser_construction"]
    if build:
        print(f"parser construction: {build['without_cache_ms']} ms from the grammar, {build['with_cache_ms']} ms "
              f"from the cache (x{build['ratio']})")
    out = ROOT / "bench" / "results" / "startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
