"""GET /healthz for load balancers and GET /metrics for Prometheus."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from engine.http.context import AppContext
from engine.http.errors import JsonResponse
from engine.http.metrics import figures_of, render
from engine.http.schemas import Health

log = logging.getLogger("nurture.http")
router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Health",
    description="200 while the store answers, with the daemons' heartbeats and the scheduler lag (seconds since "
                "the newest heartbeat). A node that only serves HTTP reports no daemon and is still healthy; "
                "503 when the store cannot be reached.",
    response_model=Health,
    responses={503: {"model": Health, "description": "The store cannot be reached"}},
)
def healthz(request: Request) -> Any:
    ctx: AppContext = request.app.state.ctx
    now = ctx.clock.now()
    try:
        with ctx.store.transaction() as tx:
            beats = tx.figures.heartbeats()
    except Exception as err:  # the reason's type only: a driver message may carry the database URL
        log.warning("health check: store unreachable", extra={"fields": {"error": type(err).__name__}})
        return JsonResponse({"status": "unavailable", "store": f"unreachable ({type(err).__name__})",
                             "scheduler_lag_seconds": None, "daemons": []}, status_code=503)
    daemons = [{"name": b.name, "started_at": b.started_at.isoformat(), "heartbeat_at": b.heartbeat_at.isoformat(),
                "seconds_since_heartbeat": round(max(0.0, (now - b.heartbeat_at).total_seconds()), 3)}
               for b in beats]
    lag = daemons[0]["seconds_since_heartbeat"] if daemons else None
    return JsonResponse({"status": "ok", "store": "ok", "scheduler_lag_seconds": lag, "daemons": daemons})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Text exposition format: this process's request and intake counters, and totals from the store "
                "(events, quarantine, emails sent, failed, suppressed and deferred, queue depth, scheduler lag), "
                "and how far behind the daemons are: the age of the oldest unreacted lead change, due journey "
                "step and due email.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Metrics"}},
)
def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    try:
        now = ctx.clock.now()
        with ctx.store.transaction() as tx:
            figures = figures_of(tx.figures.totals(), now, tx.figures.backlog(now),
                                 tx.mailroom.failures_since(now - dt.timedelta(hours=1)))
            breached, overdue = tx.sla.counts(now)  # follow-up SLAs
            figures |= {"sla_breached": breached, "sla_open_overdue": overdue}
    except Exception as err:
        log.warning("metrics: store unreachable", extra={"fields": {"error": type(err).__name__}})
        figures = None
    return Response(render(ctx.counters, figures), media_type="text/plain; version=0.0.4; charset=utf-8")
