"""A real uvicorn server on loopback in a background thread, over a store of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from engine.config import Config
from engine.core.clock import VirtualClock
from engine.daemon.build import daemon_for, router_for
from engine.delivery.smtp import SmtpMailer
from engine.http import Limits, create_app
from engine.ingest.sns import Fetch
from engine.lab.capture import CaptureServer
from engine.service import Nurture

from ..engine.helpers import CAMPAIGN

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT  # journeys/ and templates/ of the example campaign
TOKENS = ("token-one", "token-two")
SECRET = "http-test-secret"


def refuse_to_fetch(url: str) -> bytes:
    raise AssertionError(f"a test server tried to fetch {url} from the network")


class Live:
    """The app served on 127.0.0.1 (a port of its own); ``client`` sends the first API token."""

    def __init__(self, url: str, clock: VirtualClock, campaign: Path = CAMPAIGN, limits: Limits | None = None,
                 api_token: str | None = ",".join(TOKENS), sns_fetch: Fetch | None = None,
                 **settings: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.clock = clock
        self.config = Config(database_url=url, campaign_dir=campaign / "journeys",
                             template_dir=campaign / "templates", base_url=self.base, secret_key=SECRET,
                             api_token=api_token, batch_size=500, **settings)
        self.nurture = Nurture(self.config, clock)  # the test's own view of the store
        self.nurture.apply()
        self.app = create_app(Nurture(self.config, clock), limits, sns_fetch=sns_fetch or refuse_to_fetch)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKENS[0]}"},
                                   timeout=30)
        self.anonymous = httpx.Client(base_url=self.base, timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.anonymous.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def reconfigure(self, **changes: Any) -> None:
        """Change the served engine's configuration in place (as a restart with new settings would)."""
        served = self.app.state.ctx.nurture
        served.config = dataclasses.replace(served.config, **changes)

    def scalar(self, statement) -> Any:
        with self.nurture.store.engine.connect() as conn:
            return conn.execute(statement).scalar()

    def rows(self, statement) -> list[Any]:
        with self.nurture.store.engine.connect() as conn:
            return conn.execute(statement).all()

    def count(self, table: sa.Table, *where) -> int:
        return self.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the store at ``url``: equal snapshots mean nothing was written."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {name: [tuple(row) for row in conn.execute(sa.text(f'SELECT * FROM "{name}" ORDER BY 1'))]
                    for name in sorted(sa.inspect(conn).get_table_names())}
    finally:
        engine.dispose()


def event(lead: str, etype: str, at: dt.datetime, event_id: str | None = None, **props: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"lead": lead, "type": etype, "at": at.isoformat().replace("+00:00", "Z")}
    if event_id:
        data["id"] = event_id
    if props:
        data["props"] = props
    return data


def tick(live: Live, capture: CaptureServer) -> None:
    """One daemon tick over the live server's store, delivering to ``capture`` over SMTP."""

    async def run() -> None:
        async with SmtpMailer("127.0.0.1", capture.port, timeout=5) as mailer:
            await daemon_for(live.nurture, router_for(live.config, mailer), worker="test", seed=1).tick()

    asyncio.run(run())
