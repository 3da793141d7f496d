"""`nurture fmt`: rewrite campaign files in the canonical layout."""

from __future__ import annotations
