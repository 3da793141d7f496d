"""Sales notifications as a signed JSON POST to a real HTTP server on loopback, retried like email."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import EngineError
from engine.lab.capture import CaptureServer

from .daemon_helpers import T0, Harness

SECRET = "crm-shared-secret"


class Receiver(BaseHTTPRequestHandler):
    """Answers 503 to the first POST (the CRM is restarting), then 204, keeping what it got."""

    received: list[tuple[dict, bytes]] = []
    failures = 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        data = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), data))
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def receiver():
    Receiver.received, Receiver.failures = [], 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/nurture"
    server.shutdown()


def test_sql_notification_is_posted_signed_and_retried(sqlite_url, receiver):
    async def scenario(port: int):
        h = Harness(sqlite_url, port, sales_webhook_url=receiver, webhook_secret=SECRET)
        h.leads({"email": "ann@acme.example", "first_name": "Ann"})
        h.events(("ann@acme.example", "demo.requested", T0, {}))
        await h.tick()
        [failed] = [r for r in h.outbox() if r.kind == "webhook"]
        assert failed.status == "queued" and failed.attempts == 1 and failed.last_error.startswith("503")
        await h.tick(failed.due_at)  # the retry, after the backoff
        [sent] = [r for r in h.outbox() if r.kind == "webhook"]
        assert sent.status == "sent" and sent.attempts == 2
        await h.tick(failed.due_at + dt.timedelta(hours=1))
        await h.mailer.close()

    with CaptureServer() as capture:
        asyncio.run(scenario(capture.port))
        assert len(capture.messages) == 1  # the sales email went as well
    assert len(Receiver.received) == 2  # one refusal, one delivery, nothing more
    (first_headers, first), (headers, data) = Receiver.received
    assert data == first and headers["X-Nurture-Delivery"] == first_headers["X-Nurture-Delivery"]
    expected = "sha256=" + hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Nurture-Signature"], expected)
    payload = json.loads(data)
    assert (payload["event"], payload["stage"]) == ("stage.entered", "sql")
    assert payload["lead"]["email"] == "ann@acme.example"
    assert payload["reasons"] == [{"rule": "+50 per demo.requested", "points": 50}]


def test_a_webhook_without_a_secret_stops_the_daemon_at_start(sqlite_url, receiver):
    h = Harness(sqlite_url, 9, sales_webhook_url=receiver)
    with pytest.raises(EngineError, match="NURTURE_WEBHOOK_SECRET"):
        h.daemon.register()


@pytest.mark.parametrize("url", ["http://[::1", "ftp://crm.example/hooks"], ids=["unparsable", "not-http"])
def test_a_webhook_url_that_cannot_be_posted_to_is_a_permanent_failure(url):
    from engine.delivery.transport import Message
    from engine.delivery.webhook import WebhookTransport

    result = asyncio.run(WebhookTransport(SECRET).send(Message("webhook", "k", "", (url,), b"{}")))
    assert result.status == "permanent" and not result.about_recipient
    assert result.reply.startswith(f"the webhook URL {url!r} cannot be posted to: ")
    assert "sales_webhook_url" in result.reply
