"""Peak memory of a process, for the benchmarks that report it."""

from __future__ import annotations

import re
from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's own peak resident memory in MB (``VmHWM``), or None where /proc does not say.

    Not ``ru_maxrss``: on Linux it survives fork and exec, so a measuring child would report its parent's
    peak; ``VmHWM`` starts anew at exec."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return round(int(found.group(1)) / 1024, 1) if found else None
