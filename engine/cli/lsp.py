"""`nurture lsp`: the language server for editors, over stdio."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command()(lsp)


def lsp(
    stdio: bool = typer.Option(True, "--stdio", help="Talk over standard input and output (the only transport; "
                               "accepted because editors pass it)"),
) -> None:
    """Run the language server for `.nurture` files: diagnostics as you type, hover, completion, go to
    definition and formatting. Editors start it; see docs/editors.md."""
    from engine.lsp.server import build_server  # pygls only when the server runs

    build_server().start_io()
