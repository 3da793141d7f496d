"""The daemon process: ticks on an interval, the HTTP API on the same loop, and a clean stop on a signal.

SIGTERM or SIGINT stops claiming; the tick under way finishes the sends it started and records their
outcomes, the HTTP server finishes its requests, and the process exits 0. Nothing is cancelled half-way,
so no message the server accepted is left queued under a lease to be sent again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import threading
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.daemon.build import daemon_for
from engine.daemon.signals import STOP_SIGNALS, hold_stop_signals, release_stop_signals
from engine.daemon.tick import Daemon
from engine.ingest.collection import freeze_startup_heap
from engine.service import Nurture

if TYPE_CHECKING:  # the HTTP side is imported only when it is served
    import uvicorn

log = logging.getLogger("nurture.daemon")


def run_process(nurture: Nurture, *, tick_seconds: float, once: bool = False, http: bool = True,
                host: str = "127.0.0.1", port: int = 8000) -> None:
    """`nurture run`: register, tick (and serve HTTP) until a stop signal, unregister."""
    stop_requested = hold_stop_signals()  # a signal from here on (or since start-up) is a clean stop
    try:
        daemon = daemon_for(nurture)
        nurture.rules()  # apply the campaign on first start; fail early on a broken one
        web = sock = None
        if http and not once:
            from engine.http import Limits, create_app
            from engine.http.server import listen, server_for

            sock = listen(host, port)  # a taken port fails here, before the daemon registers
            web = server_for(create_app(nurture, Limits.from_env()), sock)
            log.info("serving", extra={"fields": {"url": f"http://{host}:{port}"}})
        daemon.register()
        freeze_startup_heap()
        try:
            with nurture.store.checkpoints_in_background():
                asyncio.run(run_ticks(daemon, tick_seconds, once=once, stop_requested=stop_requested, web=web,
                                      sock=sock))
        finally:
            daemon.unregister()
            if sock is not None:
                sock.close()
        log.info("daemon stopped")
    finally:
        release_stop_signals()


async def run_ticks(daemon: Daemon, tick_seconds: float, *, once: bool = False,
                    stop_requested: threading.Event | None = None, web: uvicorn.Server | None = None,
                    sock: socket.socket | None = None) -> None:
    """Tick every ``tick_seconds`` (once with ``once``) until a stop signal; serve ``web`` meanwhile."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        daemon.stop()  # claim nothing more, from this instant (a tick under way checks before each batch)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    try:
        if stop_requested is not None and stop_requested.is_set():  # asked to stop while starting up
            log.info("stopped while starting up: nothing was claimed")
            return
        if once:
            await _tick(daemon)
            return
        scheduler, ticking = _schedule(daemon, tick_seconds)
        # the HTTP side shares this loop; should it stop on its own (it cannot serve), the daemon stops with it
        serving = asyncio.create_task(web.serve(sockets=[sock] if sock else None)) if web is not None else None
        stopped = asyncio.create_task(stop.wait())
        log.info("daemon started", extra={"fields": {"worker": daemon.worker, "tick_seconds": tick_seconds}})
        await asyncio.wait([t for t in (serving, stopped) if t is not None],
                           return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping: finishing in-flight sends")
        daemon.stop()  # claim nothing more
        stop.set()
        scheduler.pause()  # no new tick starts
        async with ticking:  # the tick under way ends by itself, its sends recorded; nothing is cancelled
            scheduler.shutdown(wait=False)  # nothing is running now, so nothing is cancelled
        if serving is not None and web is not None:
            web.should_exit = True  # uvicorn finishes the requests under way, then returns
            await asyncio.gather(serving, return_exceptions=True)
        await stopped
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        hold_stop_signals()  # until the process exits, a further signal is no reason to die half-way
        await daemon.close()


def _schedule(daemon: Daemon, seconds: float) -> tuple[AsyncIOScheduler, asyncio.Lock]:
    """APScheduler runs a tick every ``seconds`` on this loop; the lock is held while one runs.

    A slow tick delays the next one (coalesced, never two at once). The lock lets a stop wait for
    the tick under way instead of letting the scheduler's shutdown cancel it half-way.
    """
    ticking = asyncio.Lock()

    async def tick() -> None:
        async with ticking:
            await _tick(daemon)

    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
    scheduler.add_job(tick, "interval", seconds=seconds, max_instances=1, coalesce=True,
                      next_run_time=dt.datetime.now(dt.UTC), misfire_grace_time=None)
    scheduler.start()
    return scheduler, ticking


async def _tick(daemon: Daemon) -> None:
    try:
        stats = await daemon.tick()
        await daemon.beat()
    except Exception:  # a failing tick is logged and retried on the next one, never fatal
        log.exception("tick failed")
        return
    if any(stats.as_dict().values()):
        log.info("tick", extra={"fields": stats.as_dict()})
