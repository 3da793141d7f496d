"""Health, metrics, errors, and the `nurture serve` / `nurture run` processes serving the API."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from engine.daemon.build import daemon_for, router_for
from engine.delivery.memory import MemoryTransport

from ..engine.helpers import CAMPAIGN
from .live import ROOT, TOKENS, Live, event

AT = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def test_health_without_a_daemon_is_still_ok(live: Live) -> None:
    response = live.anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "ok", "scheduler_lag_seconds": None, "daemons": []}


def test_health_reports_the_daemons_heartbeat_lag(live: Live) -> None:
    daemon = daemon_for(live.nurture, worker="worker-1")
    daemon.register()
    try:
        live.clock.advance(dt.timedelta(seconds=42))
        body = live.anonymous.get("/healthz").json()
        assert body["scheduler_lag_seconds"] == 42.0
        assert [d["name"] for d in body["daemons"]] == ["worker-1"]
        daemon.heartbeat()
        assert live.anonymous.get("/healthz").json()["scheduler_lag_seconds"] == 0.0
    finally:
        daemon.unregister()


def test_health_is_503_when_the_store_is_unreachable(serve: Callable[..., Live], sqlite_url: str,
                                                     tmp_path: Path) -> None:
    live = serve(sqlite_url)
    # no request has been served yet: the store is opened on first use, as in a fresh process
    live.reconfigure(database_url=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    response = live.anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "unreachable" in response.json()["store"]
    assert "missing" not in response.text  # no paths or URLs from the driver's message
    metrics = live.anonymous.get("/metrics")
    assert metrics.status_code == 200 and "nurture_store_up 0" in metrics.text


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_intake_and_the_store(live: Live) -> None:
    live.client.post("/v1/events", json=[event("ann@acme.example", "page.viewed", AT, url="/"),
                                         event("ann@acme.example", "nope", AT)])
    live.client.post("/v1/events", json=event("ann@acme.example", "page.viewed", AT, url="/"))
    response = live.anonymous.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _metric(text, "nurture_http_events_accepted_total") == 1
    assert _metric(text, "nurture_http_events_duplicate_total") == 1
    assert _metric(text, "nurture_http_events_rejected_total") == 1
    assert _metric(text, "nurture_events_stored_total") == 1
    assert _metric(text, "nurture_events_quarantined_total") == 1
    assert _metric(text, "nurture_outbox_queue_depth") == 0
    assert _metric(text, "nurture_emails_sent_total") == 0
    assert _metric(text, "nurture_emails_deferred_total") == 0
    assert 'nurture_http_requests_total{method="POST",route="/v1/events",status="422"} 1' in text
    assert "nurture_scheduler_lag_seconds NaN" in text
    assert "# TYPE nurture_emails_failed_total counter" in text


BACKLOG = ("nurture_oldest_signal_age_seconds", "nurture_oldest_due_step_age_seconds",
           "nurture_oldest_due_email_age_seconds")


def _backlog(live: Live) -> tuple[float, float, float]:
    text = live.anonymous.get("/metrics").text
    for name in BACKLOG:
        assert f"# TYPE {name} gauge" in text
    return tuple(_metric(text, name) for name in BACKLOG)  # type: ignore[return-value]


def test_metrics_show_how_far_behind_the_daemons_are(serve: Callable[..., Live], db_url: str) -> None:
    live = serve(db_url)
    assert _backlog(live) == (0, 0, 0)  # nothing waits
    start = live.clock.now()
    live.client.post("/v1/events", json=event("ann@acme.example", "newsletter.subscribed", start))
    live.clock.advance(dt.timedelta(seconds=30))
    assert _backlog(live) == (30, 0, 0)  # a lead changed 30 s ago and no daemon has reacted

    daemon = daemon_for(live.nurture, router_for(live.config, MemoryTransport()))
    live.nurture.rules()  # as a tick begins: the campaign read before the phases' transactions
    daemon.journeys.react(live.clock.now())  # enters the journey: its first step is due now
    live.clock.advance(dt.timedelta(seconds=20))
    assert _backlog(live) == (0, 20, 0)
    daemon.journeys.run_steps(live.clock.now())  # the step queues its email, due now; the next step in a day
    live.clock.advance(dt.timedelta(seconds=45))
    assert _backlog(live) == (0, 0, 45)
    live.clock.advance(dt.timedelta(days=1, seconds=100))  # the second step fell due a day after the first ran
    assert _backlog(live) == (0, 145, 86400 + 145)


def test_unknown_paths_and_methods_answer_json(live: Live) -> None:
    missing = live.anonymous.get("/nowhere")
    assert missing.status_code == 404 and "see /docs" in missing.json()["error"]
    wrong = live.client.get("/v1/events")
    assert wrong.status_code == 405 and wrong.json()["error"]


def test_an_unexpected_error_is_a_json_500_without_a_traceback(live: Live,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("secret detail")

    live.app.state.ctx.writer.submit = broken
    response = live.client.post("/v1/events", json=event("ann@acme.example", "page.viewed", AT, url="/"))
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; it has been logged. Try again, or report it with the time "
                                        "of the request"}
    assert "secret detail" not in response.text and "Traceback" not in response.text
    assert any(r.getMessage() == "request failed" and r.exc_info for r in caplog.records)


def test_the_openapi_document_describes_every_endpoint(live: Live) -> None:
    schema = live.anonymous.get("/openapi.json").json()
    paths = schema["paths"]
    for path, method in [("/v1/events", "post"), ("/v1/leads", "post"), ("/v1/leads/{email}", "get"),
                         ("/v1/leads/{email}/feedback", "post"), ("/t/o/{token}", "get"), ("/t/c/{token}", "get"),
                         ("/u/{token}", "get"), ("/u/{token}", "post"), ("/u/{token}/resubscribe", "post"),
                         ("/healthz", "get"), ("/metrics", "get")]:
        operation = paths[path][method]
        assert operation["summary"] and operation["description"], (path, method)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    for path, method in [("/v1/events", "post"), ("/v1/leads", "post")]:  # intake checks its token itself
        assert paths[path][method]["security"] == [{"HTTPBearer": []}], path
    assert live.anonymous.get("/docs").status_code == 200


# ----- the real processes ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], tmp_path: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
           "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"), "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates"),
           "NURTURE_API_TOKEN": TOKENS[0], "NURTURE_SMTP_PORT": "1"}
    process = subprocess.Popen([sys.executable, "-m", "engine", *args, "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"{args} did not start: {process.communicate()[1]}")


def _stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_nurture_serve_takes_events_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    process = _start(["serve"], tmp_path, port)
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/v1/events", headers={"Authorization": f"Bearer {TOKENS[0]}"},
                              json=event("ann@acme.example", "page.viewed", AT, url="/pricing"))
        assert response.status_code == 200 and response.json()["accepted"] == 1
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["daemons"] == []
    finally:
        code, err = _stop(process)
    assert code == 0, err
    assert "POST /v1/events 200" in err  # the access log, on stderr


def test_nurture_run_serves_http_next_to_the_daemon(tmp_path: Path) -> None:
    port = _free_port()
    process = _start(["run", "--tick", "0.2"], tmp_path, port)
    try:
        deadline = time.monotonic() + 30
        while not (health := httpx.get(f"http://127.0.0.1:{port}/healthz").json())["daemons"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert health["scheduler_lag_seconds"] is not None
    finally:
        code, err = _stop(process)
    assert code == 0, err
    assert "daemon stopped" in err


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
               "NURTURE_CAMPAIGN_DIR": str(CAMPAIGN / "journeys"), "NURTURE_TEMPLATE_DIR": str(CAMPAIGN / "templates")}
        result = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_limits_come_from_the_environment() -> None:
    from engine.errors import ConfigError
    from engine.http import Limits

    assert Limits.from_env({}) == Limits(1 << 20, 1000)
    assert Limits.from_env({"NURTURE_HTTP_MAX_BODY_BYTES": "5000", "NURTURE_HTTP_MAX_BATCH": "10"}) == Limits(5000, 10)
    with pytest.raises(ConfigError):
        Limits.from_env({"NURTURE_HTTP_MAX_BATCH": "lots"})
