"""The Nurture language: parse, check and format `.nurture` campaign files. It knows nothing of the engine."""
