"""`nurture run`: the unattended daemon; `nurture outbox list`: what it sent, queued or failed."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
import typer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from rich.markup import escape
from rich.table import Table

from engine.cli.app import console, print_json, service
from engine.daemon.worker import Daemon
from engine.delivery.smtp import SmtpMailer
from engine.logs import setup_logging
from engine.store.tables import OUTBOX

if TYPE_CHECKING:  # the HTTP side is imported only when it is served
    import socket

    import uvicorn

log = logging.getLogger("nurture.daemon")
outbox_app = typer.Typer(help="Inspect outgoing email.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.add_typer(outbox_app, name="outbox")


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def mailer_for(config) -> SmtpMailer:
    return SmtpMailer(config.smtp_host, config.smtp_port, tls=config.smtp_tls, username=config.smtp_username,
                      password=config.smtp_password, concurrency=config.smtp_concurrency,
                      rate_per_second=config.smtp_rate or None)


async def _serve(daemon: Daemon, tick_seconds: float, once: bool, stopped_early: threading.Event,
                 web: uvicorn.Server | None = None, sock: socket.socket | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stopped_early.is_set():  # asked to stop while starting up: nothing was claimed yet
        stop.set()
    running = asyncio.Lock()

    async def tick() -> None:
        async with running:  # a slow tick delays the next one; two never overlap
            try:
                stats = await daemon.tick()
                daemon.heartbeat()
            except Exception:  # a failing tick is logged and retried on the next one, never fatal
                log.exception("tick failed")
                return
            if any(stats.as_dict().values()):
                log.info("tick", extra={"fields": stats.as_dict()})

    if once:
        await tick()
        await daemon.mailer.close()
        return
    scheduler = AsyncIOScheduler()
    scheduler.add_job(tick, "interval", seconds=tick_seconds, max_instances=1, coalesce=True,
                      next_run_time=daemon.nurture.clock.now())
    scheduler.start()
    log.info("daemon started", extra={"fields": {"worker": daemon.worker, "tick_seconds": tick_seconds}})
    # the HTTP side shares this loop; should it stop on its own (it cannot serve), the daemon stops with it
    serving = asyncio.create_task(web.serve(sockets=[sock] if sock else None)) if web is not None else None
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([t for t in (serving, stopped) if t is not None], return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping: finishing in-flight sends")
    daemon.stopping = True  # stop claiming; the tick under way finishes its sends
    scheduler.shutdown(wait=False)
    if serving is not None and web is not None:
        web.should_exit = True  # uvicorn finishes the requests under way, then returns
        await asyncio.gather(serving, return_exceptions=True)
    stopped.cancel()
    async with running:
        pass
    await daemon.mailer.close()  # in the loop its connections belong to


def run(
    ctx: typer.Context,
    tick: float = typer.Option(None, "--tick", help="Seconds between ticks (default: tick_seconds, 1)"),
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format", help="text, or json: one object a line"),
    once: bool = typer.Option(False, "--once", help="Run one tick and exit (for cron or a quick check)"),
    http: bool = typer.Option(True, "--http/--no-http", help="Serve the HTTP API in the same process"),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address to listen on"),
    port: int = typer.Option(8000, "--port", help="HTTP port to listen on"),
) -> None:
    """Run the daemon: stage changes, journeys, drip emails and sales notifications, and the HTTP API (tracking,
    unsubscribe, intake) unless --no-http. Stops on SIGTERM/SIGINT."""
    setup_logging(log_format.value)
    stopped_early = threading.Event()  # a SIGTERM during start-up still means a clean exit 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped_early.set())
    nurture = service(ctx)
    daemon = Daemon(nurture, mailer_for(nurture.config))
    nurture.rules()  # apply the campaign on first start; fail early on a broken one
    web = sock = None
    if http and not once:
        from engine.http import Limits, create_app
        from engine.http.server import listen, server_for

        sock = listen(host, port)  # a taken port fails here, before the daemon registers
        web = server_for(create_app(nurture, Limits.from_env()), sock)
        log.info("serving", extra={"fields": {"url": f"http://{host}:{port}"}})
    daemon.register()
    try:
        asyncio.run(_serve(daemon, tick or nurture.config.tick_seconds, once, stopped_early, web, sock))
    finally:
        daemon.unregister()
        if sock is not None:
            sock.close()
    log.info("daemon stopped")


@outbox_app.command("list")
def outbox_list(ctx: typer.Context, failed: bool = typer.Option(False, "--failed", help="Only failed messages"),
                limit: int = typer.Option(50, help="Show at most this many"),
                json: bool = typer.Option(False, "--json", help="Machine-readable output")) -> None:
    """Messages in the outbox, newest first: status, attempts and the server's last reply."""
    nurture = service(ctx)
    columns = [OUTBOX.c.id, OUTBOX.c.to_address, OUTBOX.c.kind, OUTBOX.c.journey, OUTBOX.c.step, OUTBOX.c.template,
               OUTBOX.c.status, OUTBOX.c.due_at, OUTBOX.c.sent_at, OUTBOX.c.attempts, OUTBOX.c.deferrals,
               OUTBOX.c.last_error, OUTBOX.c.message_id]
    query = sa.select(*columns).order_by(OUTBOX.c.id.desc()).limit(limit)
    if failed:
        query = query.where(OUTBOX.c.status == "failed")
    with nurture.db.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if json:
        print_json(rows)
        return
    table = Table("id", "to", "journey / step", "template", "status", "due / sent", "tries", "last reply")
    for r in rows:
        when = r["sent_at"] or r["due_at"]
        table.add_row(str(r["id"]), escape(r["to_address"]), escape(f"{r['journey'] or r['kind']} / {r['step']}"),
                      escape(r["template"]), r["status"], f"{when:%Y-%m-%d %H:%M}", str(r["attempts"]),
                      escape(r["last_error"] or ""))
    console.print(table)
