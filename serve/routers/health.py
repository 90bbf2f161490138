"""Liveness and dependencies: ``GET /health`` (503 when a dependency is down), ``/metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from db.bus_stats import stream_stats

from ..deps import State
from ..schemas import Health, HealthChecks

router = APIRouter(tags=["core"])


async def _check(probe: Awaitable[object], limit_s: float = 2.0) -> str:
    try:
        await asyncio.wait_for(probe, limit_s)
    except Exception as exc:  # noqa: BLE001 — any failure of a dependency is "down", with its reason
        return f"down: {type(exc).__name__}"
    return "ok"


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: State) -> JSONResponse:
    async def pg() -> None:
        async with state.pool.acquire() as conn:
            await conn.fetchval("select 1")

    async def ray() -> None:
        if state.relay_probe is None:
            raise RuntimeError("no Ray runtime attached (plain ASGI mode)")
        report = await state.relay_probe()
        if not report.get("ok"):
            raise RuntimeError("relay not running")

    postgres, redis_ = await asyncio.gather(_check(pg()), _check(state.redis.ping()))
    # Without a relay probe (plain ASGI: serve.asgi, the webhook listener) Ray is not asked.
    ray_ = await _check(ray()) if state.relay_probe is not None else "not attached"
    checks = {"postgres": postgres, "redis": redis_, "ray": ray_}
    required = ["postgres", "redis"] + (["ray"] if state.relay_probe is not None else [])
    ok = all(checks[name] == "ok" for name in required)
    body = Health(ok=ok, ts=datetime.now(UTC), checks=HealthChecks(**checks))
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    m = state.metrics
    pool = state.pool
    m.pool_size.set(pool.get_size())
    m.pool_idle.set(pool.get_idle_size())
    m.pool_max.set(pool.get_max_size())
    if state.relay_probe is not None:
        try:
            report = await asyncio.wait_for(state.relay_probe(), 2.0)
            m.outbox_lag.set(float(report.get("lag_s", 0.0)))
            m.outbox_published.set(float(report.get("published", 0)))
        except Exception:  # noqa: BLE001 — metrics must render even when the relay is away
            pass
    try:
        groups = await asyncio.wait_for(stream_stats(state.redis, state.settings.events_stream), 2.0)
    except Exception:  # noqa: BLE001 — same: a Redis outage shows in /health, not as a broken scrape
        groups = []
    for g in groups:
        m.stream_lag.labels(g.stream, g.group).set(g.lag_s)
        m.stream_pending.labels(g.stream, g.group).set(g.pending)
        m.dead_letters.labels(g.stream, g.group).set(g.dead_letters)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
