"""`nurture lsp`: the language server editors talk to over stdio, built on pygls.

It is a thin adapter, like `cli/` and `http/`: the language's answers come from `dsl` (checking, navigation,
completion, formatting); this package keeps the editor's open texts and speaks the protocol.

Modules: `analysis.py` (the campaign an open file belongs to, read with the editor's unsaved texts),
`convert.py` (spans and diagnostics as the protocol writes them), `hover.py` (what a keyword or a name means),
`complete.py` (completion items), `server.py` (the protocol's handlers and checking on change).
"""
