"""`python -m engine` runs the `nurture` command line."""

from __future__ import annotations

from engine.daemon.startup import main

main()
