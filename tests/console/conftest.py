"""The console's fixtures: one store with a known history per module, served over a real socket, with users
of each role; and a capture SMTP server that test sends go to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from engine.console.passwords import hash_password
from engine.lab.capture import CaptureServer

from ..http.live import Live
from .world import CAMPAIGN, World

PASSWORD = "a long enough password"
USERS = {"viewer": "viv@console.example", "sales": "sam@console.example", "admin": "ada@console.example"}


@pytest.fixture(scope="module")
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, capture: CaptureServer) -> World:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'nurture.db'}"
    world = World(url, capture)
    with world.nurture.store.transaction() as tx:
        for role, email in USERS.items():
            tx.users.save(email, role, hash_password(PASSWORD), world.clock.now())
    return world


@pytest.fixture(scope="module")
def console(world: World, capture: CaptureServer) -> Iterator[Live]:
    live = Live(world.url, world.clock, campaign=CAMPAIGN, smtp_host="127.0.0.1", smtp_port=capture.port)
    yield live
    live.stop()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(base: str, email: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"email": email, "password": password, "csrf": token, "next": "/"})
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(scope="module")
def as_role(console: Live) -> Iterator[Callable[[str], httpx.Client]]:
    clients: dict[str, httpx.Client] = {}

    def client(role: str) -> httpx.Client:
        if role not in clients:
            clients[role] = sign_in(console.base, USERS[role])
        return clients[role]

    yield client
    for c in clients.values():
        c.close()


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
