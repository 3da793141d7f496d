"""Language server response times: `nurture lsp` over stdio on the example campaign, per kind of request.

Starts `nurture lsp` as a subprocess on a copy of journeys/ and templates/ and opens every campaign file.
Then, for every file, each round:
  diagnostics  an edit (a comment appended) until the diagnostics for that version arrive
  hover        on every name the file writes (events, attributes, scores, stages, steps, templates)
  definition   on the same names
  completion   just after every event name, where the campaign's event names are offered
  formatting   the whole file
  hover_while_checking  a hover sent right after another edit, answered while the server checks it
The baseline is the same check in this process on the same edited text (what `nurture check` does, reading
the edited file from memory), timed in the same run; the ratio says what the protocol and the server add.
Prints p50/p95 per kind; writes bench/results/lsp.json with the machine's core count and load average.

    python bench/lsp.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl.campaign import discover  # noqa: E402
from dsl.navigation import Kind, Reference, references  # noqa: E402
from dsl.parser import parse_source  # noqa: E402
from dsl.source import SourceFile  # noqa: E402
from dsl.workspace import load_edited  # noqa: E402
from tests.lsp.stdio import LspClient, uri  # noqa: E402


def _figures(seconds: list[float]) -> dict[str, float | int]:
    ordered = sorted(seconds)
    return {"requests": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def _timed(call: Callable[[], object], into: list[float]) -> object:
    started = time.perf_counter()
    result = call()
    into.append(time.perf_counter() - started)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nurture-lsp-"))
    shutil.copytree(ROOT / "journeys", work / "journeys")
    shutil.copytree(ROOT / "templates", work / "templates")
    root = work / "journeys"
    files = discover([root])
    texts = {path: path.read_text(encoding="utf-8") for path in files}
    times: dict[str, list[float]] = {k: [] for k in ("diagnostics", "hover", "definition", "completion",
                                                      "formatting", "hover_while_checking")}
    names_of: dict[Path, list[Reference]] = {}
    baseline: list[float] = []
    client = LspClient()
    try:
        client.initialize(work)
        for path in files:
            client.open(path, texts[path], version=1)
            client.diagnostics(path, 1)
        version = 1
        for round_ in range(args.rounds):
            for path in files:
                version += 1
                edited = texts[path] + f"# edit {round_}\n"
                started = time.perf_counter()
                client.change(path, edited, version)
                client.diagnostics(path, version)
                times["diagnostics"].append(time.perf_counter() - started)
                _timed(partial(load_edited, root, {path: edited}), baseline)
                names_of[path] = references(parse_source(SourceFile(str(path), edited)))
                for ref in names_of[path]:
                    line, character = ref.span.line - 1, ref.span.column - 1
                    _timed(partial(client.at, "textDocument/hover", path, line, character), times["hover"])
                    _timed(partial(client.at, "textDocument/definition", path, line, character),
                           times["definition"])
                    if ref.kind is Kind.EVENT and not ref.declaration:
                        _timed(partial(client.at, "textDocument/completion", path, ref.span.end_line - 1,
                                       ref.span.end_column - 1), times["completion"])
                _timed(partial(client.request, "textDocument/formatting", {
                    "textDocument": {"uri": uri(path)}, "options": {"tabSize": 2, "insertSpaces": True}}),
                       times["formatting"])
                # a hover sent right after an edit, answered while the server checks that edit
                version += 1
                client.change(path, texts[path] + f"# edit {round_}b\n", version)
                for first in names_of[path][:1]:  # a file may name nothing (a `topics` block alone)
                    _timed(partial(client.at, "textDocument/hover", path, first.span.line - 1,
                                   first.span.column - 1), times["hover_while_checking"])
                client.diagnostics(path, version)
    finally:
        code = client.close()
        shutil.rmtree(work, ignore_errors=True)
    if code != 0:
        raise SystemExit(f"nurture lsp exited with {code}:\n{client.stderr()}")
    kinds = {kind: _figures(found) for kind, found in times.items() if found}
    check = _figures(baseline)
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "server": "nurture lsp over stdio (framed JSON-RPC), a client in the benchmark process, one request at "
                  "a time; the example campaign copied to a temp dir, every file open in the server",
        "campaign": {"files": len(files), "lines": sum(t.count("\n") for t in texts.values()),
                     "rounds": args.rounds},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2)},
        "requests": kinds,
        "baseline_check_in_process": {**check, "what": "dsl.workspace.load_edited on the same edited text: the "
                                      "work of `nurture check` on the campaign, without starting a process"},
        "ratio_diagnostics_to_check_p50": round(kinds["diagnostics"]["p50_ms"] / check["p50_ms"], 2),
        "ratio_diagnostics_to_check_p95": round(kinds["diagnostics"]["p95_ms"] / check["p95_ms"], 2),
    }
    out = ROOT / "bench" / "results" / "lsp.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for kind, figures in kinds.items():
        print(f"{kind:12} {figures['requests']:5} requests  p50 {figures['p50_ms']:7.2f} ms  "
              f"p95 {figures['p95_ms']:7.2f} ms")
    print(f"{'check':12} {check['requests']:5} in-process  p50 {check['p50_ms']:7.2f} ms  "
          f"p95 {check['p95_ms']:7.2f} ms")
    print(f"diagnostics / check: p50 x{result['ratio_diagnostics_to_check_p50']}, "
          f"p95 x{result['ratio_diagnostics_to_check_p95']}  -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
