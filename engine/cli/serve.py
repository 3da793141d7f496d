"""`nurture serve`: the HTTP side alone (intake, leads, tracking, unsubscribe, health, metrics)."""

from __future__ import annotations

import logging

import typer

from engine.cli.app import service
from engine.cli.run import LogFormat
from engine.logs import setup_logging

log = logging.getLogger("nurture.http")

HOST = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)")
PORT = typer.Option(8000, "--port", help="Port to listen on")


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    ctx: typer.Context,
    host: str = HOST,
    port: int = PORT,
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format", help="text, or json: one object a line"),
    max_body: int = typer.Option(1 << 20, "--max-body-bytes", envvar="NURTURE_HTTP_MAX_BODY_BYTES",
                                 help="Refuse request bodies larger than this (413)"),
    max_batch: int = typer.Option(1000, "--max-batch", envvar="NURTURE_HTTP_MAX_BATCH",
                                  help="Refuse more events or leads than this in one request (413)"),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request (tokens redacted)"),
) -> None:
    """Serve the HTTP API without the daemon: one process of many behind a load balancer, all sharing the store.

    `nurture run` serves the same API next to the daemon. Set NURTURE_API_TOKEN to enable /v1/ endpoints.
    """
    import asyncio

    from engine.http import Limits, create_app
    from engine.http.server import listen, serve_until_stopped, server_for
    from engine.ingest.collection import freeze_startup_heap

    setup_logging(log_format.value)
    nurture = service(ctx)
    nurture.rules()  # apply the campaign on first start; fail early on a broken one
    sock = listen(host, port)
    server = server_for(create_app(nurture, Limits(max_body, max_batch), access_log=access_log), sock)
    log.info("serving", extra={"fields": {"url": f"http://{host}:{port}", "docs": f"http://{host}:{port}/docs"}})
    freeze_startup_heap()
    with nurture.store.checkpoints_in_background():
        asyncio.run(serve_until_stopped(server, sock))
    log.info("stopped serving")
