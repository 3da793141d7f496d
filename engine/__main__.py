"""`python -m engine` runs the `nurture` command line."""

from __future__ import annotations

from engine.cli import main

main()
